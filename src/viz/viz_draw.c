/* The cairo plumbing of src/viz (viz_impl.h): surfaces, text, images, and PNG files written
 * whole under a temporary name and renamed, so a reader never sees half a picture. */
#include <stdlib.h>
#include <string.h>

#include "../io/io.h"
#include "viz_impl.h"

bool viz_available(void) { return true; }

const char *viz_unavailable_reason(void) { return ""; }

cairo_surface_t *viz_surface(int w, int h, const char *path, cnn_err *e)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        CNN_ERR(e, CNN_ENOMEM, "%s: cairo_image_surface_create(%dx%d): %s", path, w, h,
                cairo_status_to_string(cairo_surface_status(s)));
        cairo_surface_destroy(s);
        return NULL;
    }
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_destroy(cr);
    return s;
}

typedef struct membuf {
    unsigned char *p;
    size_t n, cap;
} membuf;

static cairo_status_t to_memory(void *closure, const unsigned char *data, unsigned int len)
{
    membuf *b = closure;
    if (b->cap - b->n < len) {
        size_t cap = (b->cap + len) * 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p)
            return CAIRO_STATUS_NO_MEMORY;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return CAIRO_STATUS_SUCCESS;
}

int viz_finish(cairo_surface_t *s, cairo_t *cr, const char *path, cnn_err *e)
{
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    cairo_surface_flush(s);
    membuf b = {0};
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_write_to_png_stream(s, to_memory, &b);
    cairo_surface_destroy(s);
    int rc = CNN_OK;
    if (st != CAIRO_STATUS_SUCCESS) {
        rc = CNN_ERR(e, CNN_EIO, "drawing %s: cairo: %s", path, cairo_status_to_string(st));
    } else {
        char *tmp = io_tmp_name(path, "");
        rc = io_file_write(tmp, b.p, b.n, e);
        if (rc == CNN_OK)
            rc = io_file_commit(tmp, path, e);
        free(tmp);
    }
    free(b.p);
    return rc;
}

void viz_rgb(cairo_t *cr, uint32_t rgb)
{
    cairo_set_source_rgb(cr, ((rgb >> 16) & 255) / 255.0, ((rgb >> 8) & 255) / 255.0,
                         (rgb & 255) / 255.0);
}

static void font(cairo_t *cr, double size)
{
    cairo_select_font_face(cr, VIZ_FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

double viz_text_width(cairo_t *cr, double size, const char *s)
{
    cairo_text_extents_t t;
    font(cr, size);
    cairo_text_extents(cr, s, &t);
    return t.x_advance;
}

void viz_text(cairo_t *cr, double x, double y, double ax, double ay, double size,
              const char *s)
{
    cairo_font_extents_t f;
    font(cr, size);
    cairo_font_extents(cr, &f);
    double w = viz_text_width(cr, size, s);
    cairo_move_to(cr, x - ax * w, y - ay * (f.ascent + f.descent) + f.ascent);
    cairo_show_text(cr, s);
}

void viz_image(cairo_t *cr, const uint8_t *px, int h, int w, int c, double x, double y,
               double bw, double bh)
{
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        return; /* the status of cr stays clean; the tile stays empty */
    }
    cairo_surface_flush(img);
    unsigned char *d = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    for (int yy = 0; yy < h; yy++)
        for (int xx = 0; xx < w; xx++) {
            const uint8_t *p = px + ((size_t)yy * (size_t)w + (size_t)xx) * (size_t)c;
            uint32_t v = c == 3 ? (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]
                                : (uint32_t)p[0] * 0x010101u;
            memcpy(d + (size_t)yy * (size_t)stride + 4 * (size_t)xx, &v, 4);
        }
    cairo_surface_mark_dirty(img);
    double s = bw / w < bh / h ? bw / w : bh / h;
    cairo_save(cr);
    cairo_translate(cr, x + (bw - s * w) / 2, y + (bh - s * h) / 2);
    cairo_scale(cr, s, s);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr),
                             s >= 1 ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
    cairo_rectangle(cr, 0, 0, w, h);
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
}
