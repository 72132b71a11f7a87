/* PNG decoding with libpng into 8-bit gray or RGB as Pillow's convert("RGB") sees it:
 * palette expanded to RGB, 1/2/4-bit gray scaled to 8 bits, alpha (and tRNS) dropped
 * without compositing, 16-bit samples reduced to their high byte (png_set_strip_16; Pillow
 * reads 16-bit RGB the same way, "RGB;16B"). Segmentation masks (decode_png_ids) keep
 * palette indices as values, as PIL's "P" mode does for VOC-style masks. Errors longjmp
 * back through png_jmpbuf with libpng's message; reads past the end are "truncated". */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "decode_impl.h"

typedef struct pjob {
    const uint8_t *bytes;
    size_t len, pos;
    char msg[256];
    png_bytep *rows; /* (h) */
} pjob;

static void on_error(png_structp p, png_const_charp msg)
{
    pjob *j = png_get_error_ptr(p);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    png_longjmp(p, 1);
}

static void on_warning(png_structp p, png_const_charp msg)
{
    (void)p; /* e.g. "iCCP: known incorrect sRGB profile": harmless, as for Pillow */
    (void)msg;
}

static void on_read(png_structp p, png_bytep dst, png_size_t n)
{
    pjob *j = png_get_io_ptr(p);
    if (j->len - j->pos < n) {
        snprintf(j->msg, sizeof j->msg, "truncated PNG data: the file ends after %zu bytes",
                 j->len);
        png_longjmp(p, 1);
    }
    memcpy(dst, j->bytes + j->pos, n);
    j->pos += n;
}

/* ids: 1-channel class ids (palette index or gray value); RGB is refused. */
static int set_ids(png_structp p, int type, int depth, cnn_err *e)
{
    if (type != PNG_COLOR_TYPE_PALETTE && type != PNG_COLOR_TYPE_GRAY &&
        type != PNG_COLOR_TYPE_GRAY_ALPHA)
        return CNN_ERR(e, CNN_EINVAL, "mask PNG is color type %d (RGB); a mask must be a gray "
                       "or palette PNG whose values are class ids", type);
    if (depth == 16)
        return CNN_ERR(e, CNN_EINVAL, "mask PNG has 16-bit samples; class ids must be 8-bit");
    if (depth < 8)
        png_set_packing(p); /* 1, 2, 4-bit ids to one byte each, unscaled */
    return CNN_OK;
}

static void set_rgb(png_structp p, int type, int depth)
{
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(p);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(p);
    if (depth == 16)
        png_set_strip_16(p);
}

static int read_pixels(png_structp p, png_infop info, pjob *j, bool ids, image *out, cnn_err *e)
{
    png_read_info(p, info);
    png_uint_32 w = png_get_image_width(p, info), h = png_get_image_height(p, info);
    int type = png_get_color_type(p, info), depth = png_get_bit_depth(p, info);
    if ((int64_t)w * h > DECODE_MAX_PIXELS)
        return CNN_ERR(e, CNN_EINVAL, "PNG of %ux%u pixels is above the limit of %lld pixels "
                       "(DECODE_MAX_PIXELS, decompression bomb guard); shrink it first", w, h,
                       (long long)DECODE_MAX_PIXELS);
    if (ids)
        CNN_TRY(e, set_ids(p, type, depth, e));
    else
        set_rgb(p, type, depth);
    png_set_strip_alpha(p);
    png_set_interlace_handling(p);
    png_read_update_info(p, info);
    int c = png_get_channels(p, info);
    if ((c != 1 && (ids || c != 3)) || png_get_rowbytes(p, info) != (size_t)w * c)
        return CNN_ERR(e, CNN_EINVAL, "PNG color type %d, depth %d gave %d channels after "
                       "conversion; expected gray or RGB", type, depth, c);
    CNN_TRY(e, decode_alloc(out, h, w, c, "PNG", e));
    if (!(j->rows = malloc(sizeof *j->rows * h)))
        return CNN_ERR(e, CNN_ENOMEM, "out of memory for %u PNG row pointers", h);
    for (png_uint_32 y = 0; y < h; y++)
        j->rows[y] = out->data + (size_t)y * w * c;
    png_read_image(p, j->rows);
    return CNN_OK;
}

static int decode(const uint8_t *bytes, size_t len, bool ids, image *out, cnn_err *e)
{
    pjob j = {.bytes = bytes, .len = len};
    *out = (image){0};
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, on_error, on_warning);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!info) {
        png_destroy_read_struct(&p, NULL, NULL);
        return CNN_ERR(e, CNN_ENOMEM, "out of memory for a PNG decoder");
    }
    int rc;
    if (setjmp(png_jmpbuf(p))) {
        rc = CNN_ERR(e, CNN_EINVAL, "not a readable PNG: %s", j.msg);
    } else {
        png_set_read_fn(p, &j, on_read);
        rc = read_pixels(p, info, &j, ids, out, e);
    }
    png_destroy_read_struct(&p, &info, NULL);
    free(j.rows);
    if (rc != CNN_OK) {
        free(out->data);
        *out = (image){0};
    }
    return rc;
}

int decode_png(const uint8_t *bytes, size_t len, image *out, cnn_err *e)
{
    return decode(bytes, len, false, out, e);
}

int decode_png_ids(const uint8_t *bytes, size_t len, image *out, cnn_err *e)
{
    static const uint8_t magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    *out = (image){0};
    if (len < 8 || memcmp(bytes, magic, 8) != 0)
        return CNN_ERR(e, CNN_EINVAL, "not a PNG file (%zu bytes); masks must be PNGs of class "
                       "ids", len);
    return decode(bytes, len, true, out, e);
}
