/* Images made of images (viz.h): the filters of a convolution, written pixel by pixel into
 * the surface so that each grey level is exactly the documented one (a test reads the PNG
 * back), and captioned grids of sample images. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "viz_impl.h"

static void put(unsigned char *d, int stride, int x, int y, uint8_t r, uint8_t g, uint8_t b)
{
    uint32_t v = (uint32_t)r << 16 | (uint32_t)g << 8 | b;
    memcpy(d + (size_t)y * (size_t)stride + 4 * (size_t)x, &v, 4);
}

static uint8_t level(float v, double m)
{
    double g = m > 0 ? 127.5 + 127.5 * v / m : 127.5;
    g = rint(g);
    return (uint8_t)(g < 0 ? 0 : g > 255 ? 255 : g);
}

/* Tile (tx, ty) of the grid: channels c0.. of filter k (3 as RGB, or 1 as grey). */
static void tile(unsigned char *d, int stride, const float *f, int R, int S, int c0, int n_c,
                 double m, int z, int tx, int ty)
{
    int x0 = VIZ_BORDER + tx * (S * z + VIZ_BORDER), y0 = VIZ_BORDER + ty * (R * z + VIZ_BORDER);
    for (int r = 0; r < R; r++)
        for (int s = 0; s < S; s++) {
            uint8_t px[3];
            for (int ch = 0; ch < 3; ch++)
                px[ch] = level(f[((size_t)(n_c == 3 ? ch : c0) * R + r) * S + s], m);
            for (int yy = 0; yy < z; yy++)
                for (int xx = 0; xx < z; xx++)
                    put(d, stride, x0 + s * z + xx, y0 + r * z + yy, px[0], px[1], px[2]);
        }
}

int viz_filters(const char *path, const float *w, int K, int C, int R, int S, cnn_err *e)
{
    if (K < 1 || C < 1 || R < 1 || S < 1)
        return CNN_ERR(e, CNN_EINVAL, "%s: filters of shape (%d, %d, %d, %d) cannot be drawn",
                       path, K, C, R, S);
    int z = viz_filter_zoom(R, S);
    bool joined = C == 1 || C == 3; /* one tile per filter */
    int per = joined ? 1 : (C < VIZ_FILTER_MAX_C ? C : VIZ_FILTER_MAX_C);
    int cols = joined ? (int)ceil(sqrt((double)K)) : per;
    int rows = joined ? (K + cols - 1) / cols : K;
    int W = VIZ_BORDER + cols * (S * z + VIZ_BORDER), H = VIZ_BORDER + rows * (R * z + VIZ_BORDER);
    cairo_surface_t *s = viz_surface(W, H, path, e);
    if (!s)
        return CNN_ENOMEM;
    cairo_surface_flush(s);
    unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    size_t fsize = (size_t)C * (size_t)R * (size_t)S;
    for (int k = 0; k < K; k++) {
        const float *f = w + (size_t)k * fsize;
        double m = 0;
        for (size_t i = 0; i < fsize; i++)
            m = fmax(m, fabs((double)f[i]));
        if (joined)
            tile(d, stride, f, R, S, 0, C, m, z, k % cols, k / cols);
        else
            for (int c = 0; c < per; c++)
                tile(d, stride, f, R, S, c, 1, m, z, c, k);
    }
    cairo_surface_mark_dirty(s);
    return viz_finish(s, cairo_create(s), path, e);
}

#define CAPTION_H VIZ_GRID_CAPTION
#define TITLE_H VIZ_GRID_TITLE
#define GAP VIZ_GRID_GAP

/* The colour key under the grid, from y: a palette square and a name per column, clipped
 * to the column so that a long name does not run into the next. */
static void colour_key(cairo_t *cr, const char *const *keys, int n, int cols, int cell_w,
                       double y)
{
    for (int k = 0; k < n; k++) {
        double x = GAP + (k % cols) * cell_w, ky = y + (k / cols) * CAPTION_H;
        uint8_t rgb[3];
        viz_palette(k, rgb);
        cairo_set_source_rgb(cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
        cairo_rectangle(cr, x, ky + 2, 11, 11);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, 0.5, 0.5, 0.5); /* class 0 is black: outline every square */
        cairo_set_line_width(cr, 1);
        cairo_stroke(cr);
        cairo_save(cr);
        cairo_rectangle(cr, x + 15, ky, cell_w - 15 - GAP / 2.0, CAPTION_H);
        cairo_clip(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        viz_text(cr, x + 15, ky + 2, 0, 0, 11, keys[k]);
        cairo_restore(cr);
    }
}

int viz_grid(const char *path, const viz_tile *tiles, int rows, int cols, int tile_px,
             const char *title, const char *const *keys, int n_keys, cnn_err *e)
{
    int cell_w = tile_px + GAP, cell_h = tile_px + 2 * CAPTION_H + GAP;
    cairo_surface_t *s = viz_surface(VIZ_GRID_W(cols, tile_px),
                                     VIZ_GRID_H(rows, tile_px) + VIZ_GRID_KEY_H(n_keys, cols),
                                     path, e);
    if (!s)
        return CNN_ENOMEM;
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 0, 0, 0);
    viz_text(cr, (cols * cell_w + GAP) / 2.0, 8, 0.5, 0, 14, title);
    for (int i = 0; i < rows * cols; i++) {
        const viz_tile *t = &tiles[i];
        if (!t->px)
            continue;
        double x = GAP + (i % cols) * cell_w, y = TITLE_H + (i / cols) * cell_h;
        viz_image(cr, t->px, t->h, t->w, t->c, x, y, tile_px, tile_px);
        if (t->alert) {
            cairo_set_source_rgb(cr, 0.85, 0.1, 0.1);
            cairo_set_line_width(cr, 3);
            cairo_rectangle(cr, x - 1.5, y - 1.5, tile_px + 3, tile_px + 3);
            cairo_stroke(cr);
        } else {
            cairo_set_source_rgb(cr, 0, 0, 0);
        }
        const char *lines[2] = {t->caption, t->caption2};
        for (int l = 0; l < 2; l++)
            if (lines[l])
                viz_text(cr, x + tile_px / 2.0, y + tile_px + 2 + l * CAPTION_H, 0.5, 0, 11,
                         lines[l]);
    }
    colour_key(cr, keys, n_keys, cols, cell_w, VIZ_GRID_H(rows, tile_px));
    return viz_finish(s, cr, path, e);
}
