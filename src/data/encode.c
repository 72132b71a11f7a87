/* Encoders for cnn-pack: JPEG (libjpeg, quality as PIL's save(quality=...), 4:2:0 for RGB,
 * as libjpeg's defaults and Pillow's) for --resize in encoded mode, and 8-bit gray or RGB
 * PNG, lossless, for MNIST's images in encoded mode, for segmentation masks (predict writes
 * its masks and pictures with it too), so the loader's
 * image_decode(want_c=1) returns the class ids as they are whatever the source mask's
 * format (palette, 1/2/4-bit). Errors longjmp into our handlers and come back as CNN_E*
 * with the library's message. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

#include "decode_impl.h"

typedef struct jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jerr;

static void jpeg_on_error(j_common_ptr c)
{
    jerr *x = (jerr *)c->err;
    c->err->format_message(c, x->msg);
    longjmp(x->jb, 1);
}

typedef struct jenc {
    struct jpeg_compress_struct ci;
    jerr err;
    unsigned char *buf;
    unsigned long len;
} jenc;

static void jpeg_run(jenc *j, const image *im, int quality)
{
    jpeg_create_compress(&j->ci);
    jpeg_mem_dest(&j->ci, &j->buf, &j->len);
    j->ci.image_width = (JDIMENSION)im->w;
    j->ci.image_height = (JDIMENSION)im->h;
    j->ci.input_components = im->c;
    j->ci.in_color_space = im->c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&j->ci);
    jpeg_set_quality(&j->ci, quality, TRUE);
    jpeg_start_compress(&j->ci, TRUE);
    while (j->ci.next_scanline < j->ci.image_height) {
        JSAMPROW r = im->data + (size_t)j->ci.next_scanline * im->w * im->c;
        jpeg_write_scanlines(&j->ci, &r, 1);
    }
    jpeg_finish_compress(&j->ci);
}

int encode_jpeg(const image *im, int quality, uint8_t **out, size_t *len, cnn_err *e)
{
    CNN_ASSERT(im->c == 1 || im->c == 3);
    jenc *j = calloc(1, sizeof *j);
    if (!j)
        return CNN_ERR(e, CNN_ENOMEM, "out of memory for a JPEG encoder");
    j->ci.err = jpeg_std_error(&j->err.pub);
    j->err.pub.error_exit = jpeg_on_error;
    int rc = CNN_OK;
    if (setjmp(j->err.jb))
        rc = CNN_ERR(e, CNN_EIO, "JPEG encoding of a %dx%d image failed: %s", im->w, im->h,
                     j->err.msg);
    else
        jpeg_run(j, im, quality);
    jpeg_destroy_compress(&j->ci);
    if (rc == CNN_OK) {
        *out = j->buf;
        *len = j->len;
    } else {
        free(j->buf);
    }
    free(j);
    return rc;
}

typedef struct penc {
    uint8_t *buf;
    size_t len, cap;
    char msg[256];
    png_bytep *rows;
} penc;

static void png_on_error(png_structp p, png_const_charp msg)
{
    penc *j = png_get_error_ptr(p);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    png_longjmp(p, 1);
}

static void png_on_warning(png_structp p, png_const_charp msg)
{
    (void)p;
    (void)msg;
}

static void png_on_write(png_structp p, png_bytep src, png_size_t n)
{
    penc *j = png_get_io_ptr(p);
    if (j->cap - j->len < n) {
        size_t cap = (j->cap + n) * 2;
        uint8_t *b = realloc(j->buf, cap);
        if (!b)
            png_error(p, "out of memory for the encoded PNG");
        j->buf = b;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, src, n);
    j->len += n;
}

static void png_on_flush(png_structp p)
{
    (void)p;
}

int image_encode_png(const image *im, uint8_t **out, size_t *len, cnn_err *e)
{
    CNN_ASSERT(im->c == 1 || im->c == 3);
    penc j = {0};
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, &j, png_on_error,
                                            png_on_warning);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!info || !(j.rows = malloc(sizeof *j.rows * (size_t)im->h))) {
        png_destroy_write_struct(&p, info ? &info : NULL);
        return CNN_ERR(e, CNN_ENOMEM, "out of memory for a PNG encoder");
    }
    int rc = CNN_OK;
    if (setjmp(png_jmpbuf(p))) {
        rc = CNN_ERR(e, CNN_EIO, "PNG encoding of a %dx%d %s image failed: %s", im->w, im->h,
                     im->c == 1 ? "gray" : "RGB", j.msg);
    } else {
        png_set_write_fn(p, &j, png_on_write, png_on_flush);
        png_set_IHDR(p, info, (png_uint_32)im->w, (png_uint_32)im->h, 8,
                     im->c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        for (int y = 0; y < im->h; y++)
            j.rows[y] = im->data + (size_t)y * im->w * im->c;
        png_set_rows(p, info, j.rows);
        png_write_png(p, info, PNG_TRANSFORM_IDENTITY, NULL);
    }
    png_destroy_write_struct(&p, &info);
    free(j.rows);
    if (rc == CNN_OK) {
        *out = j.buf;
        *len = j.len;
    } else {
        free(j.buf);
    }
    return rc;
}
