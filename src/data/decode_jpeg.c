/* JPEG decoding with libjpeg(-turbo): baseline and progressive; gray stays gray, YCbCr
 * becomes RGB, CMYK/YCCK become RGB as Pillow does (Adobe files store inverted CMYK;
 * r = (255-k) - c*(255-k)/255); scaled decoding by 1/2, 1/4, 1/8 when min_side allows;
 * EXIF orientation applied. Errors longjmp out of the library into our handler with the
 * library's message; a premature end of data is an error (PIL: "image file is truncated"),
 * other corrupt-data warnings are tolerated as PIL tolerates them. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "decode_impl.h"

typedef struct jerr {
    struct jpeg_error_mgr pub; /* first: libjpeg passes &pub as cinfo->err */
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jerr;

static void on_error(j_common_ptr c)
{
    jerr *x = (jerr *)c->err;
    c->err->format_message(c, x->msg);
    longjmp(x->jb, 1);
}

static void on_message(j_common_ptr c, int level)
{
    if (level == -1 && c->err->msg_code == JWRN_JPEG_EOF) {
        jerr *x = (jerr *)c->err;
        snprintf(x->msg, sizeof x->msg, "truncated JPEG data (%s)",
                 "the file ends before the image data does; re-download or re-encode it");
        longjmp(x->jb, 1);
    }
    if (level == -1)
        c->err->num_warnings++;
}

/* State kept outside the setjmp frame so it is valid after a longjmp. */
typedef struct jjob {
    struct jpeg_decompress_struct ci;
    jerr err;
    uint8_t *row;   /* (w * 4) CMYK scanline */
    int orientation;
    int full_h, full_w; /* before scaling, before orientation */
} jjob;

/* Largest 1/d (d = 8, 4, 2) whose output keeps the shorter side >= min_side. */
static int pick_denom(unsigned w, unsigned h, int min_side)
{
    unsigned s = w < h ? w : h;
    if (min_side <= 0)
        return 1;
    for (unsigned d = 8; d >= 2; d /= 2)
        if ((s + d - 1) / d >= (unsigned)min_side)
            return (int)d;
    return 1;
}

static void cmyk_row(const uint8_t *in, uint8_t *out, int w, bool inverted)
{
    for (int x = 0; x < w; x++, in += 4, out += 3) {
        int k = inverted ? 255 - in[3] : in[3], nk = 255 - k;
        for (int i = 0; i < 3; i++) {
            int v = inverted ? 255 - in[i] : in[i];
            int t = v * nk + 128; /* Pillow's MULDIV255 */
            out[i] = (uint8_t)(nk - (((t >> 8) + t) >> 8));
        }
    }
}

static void find_orientation(jjob *j)
{
    for (jpeg_saved_marker_ptr m = j->ci.marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && !memcmp(m->data, "Exif\0\0", 6)) {
            j->orientation = exif_orientation(m->data, m->data_length);
            return;
        }
}

/* The pixels a JPEG of len bytes may declare (decode_impl.h says why). */
static int64_t pixel_budget(size_t len)
{
    int64_t by_size = (int64_t)len < DECODE_MAX_PIXELS / DECODE_JPEG_PIXELS_PER_BYTE
                          ? (int64_t)len * DECODE_JPEG_PIXELS_PER_BYTE
                          : DECODE_MAX_PIXELS;
    return by_size > DECODE_JPEG_FREE_PIXELS ? by_size : DECODE_JPEG_FREE_PIXELS;
}

static int read_pixels(jjob *j, size_t len, int min_side, image *out, cnn_err *e)
{
    struct jpeg_decompress_struct *ci = &j->ci;
    jpeg_read_header(ci, TRUE);
    int64_t px = (int64_t)ci->image_width * ci->image_height;
    if (px > DECODE_MAX_PIXELS)
        return CNN_ERR(e, CNN_EINVAL, "JPEG of %ux%u pixels is above the limit of %lld pixels "
                       "(DECODE_MAX_PIXELS, decompression bomb guard); shrink it first",
                       ci->image_width, ci->image_height, (long long)DECODE_MAX_PIXELS);
    if (px > pixel_budget(len))
        return CNN_ERR(e, CNN_EINVAL, "JPEG of %ux%u pixels in only %zu bytes: above the limit "
                       "of %d pixels per byte (DECODE_JPEG_PIXELS_PER_BYTE) for images above "
                       "%lld pixels; the file is corrupt or a decompression bomb (re-encode "
                       "it if it is a real image)", ci->image_width, ci->image_height, len,
                       DECODE_JPEG_PIXELS_PER_BYTE, (long long)DECODE_JPEG_FREE_PIXELS);
    find_orientation(j);
    j->full_h = (int)ci->image_height;
    j->full_w = (int)ci->image_width;
    bool cmyk = ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK;
    ci->out_color_space = cmyk ? JCS_CMYK
                          : ci->jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    ci->scale_num = 1;
    ci->scale_denom = (unsigned)pick_denom(ci->image_width, ci->image_height, min_side);
    jpeg_start_decompress(ci);
    int w = (int)ci->output_width, c = cmyk ? 3 : (int)ci->output_components;
    CNN_ASSERT(ci->output_components == (cmyk ? 4 : c) && (c == 1 || c == 3));
    CNN_TRY(e, decode_alloc(out, ci->output_height, w, c, "JPEG", e));
    if (cmyk && !(j->row = malloc((size_t)w * 4)))
        return CNN_ERR(e, CNN_ENOMEM, "out of memory for a JPEG scanline of %d pixels", w);
    while (ci->output_scanline < ci->output_height) {
        uint8_t *dst = out->data + (size_t)ci->output_scanline * w * c;
        JSAMPROW r = cmyk ? j->row : dst;
        if (jpeg_read_scanlines(ci, &r, 1) != 1)
            return CNN_ERR(e, CNN_EINVAL, "JPEG decoder returned no scanline at row %u",
                           ci->output_scanline);
        if (cmyk)
            cmyk_row(j->row, dst, w, ci->saw_Adobe_marker);
    }
    jpeg_finish_decompress(ci);
    return CNN_OK;
}

int decode_jpeg(const uint8_t *bytes, size_t len, int min_side, image *out, int full_hw[2],
                cnn_err *e)
{
    jjob *j = calloc(1, sizeof *j);
    if (!j)
        return CNN_ERR(e, CNN_ENOMEM, "out of memory for a JPEG decoder");
    *out = (image){0};
    j->orientation = 1;
    j->ci.err = jpeg_std_error(&j->err.pub);
    j->err.pub.error_exit = on_error;
    j->err.pub.emit_message = on_message;
    int rc;
    if (setjmp(j->err.jb)) {
        rc = CNN_ERR(e, CNN_EINVAL, "not a readable JPEG: %s", j->err.msg);
    } else {
        jpeg_create_decompress(&j->ci);
        jpeg_mem_src(&j->ci, bytes, (unsigned long)len);
        jpeg_save_markers(&j->ci, JPEG_APP0 + 1, 0xffff);
        rc = read_pixels(j, len, min_side, out, e);
    }
    jpeg_destroy_decompress(&j->ci);
    free(j->row);
    int o = j->orientation;
    if (full_hw) {
        full_hw[0] = o >= 5 ? j->full_w : j->full_h;
        full_hw[1] = o >= 5 ? j->full_h : j->full_w;
    }
    free(j);
    if (rc == CNN_OK)
        rc = exif_apply(out, o, e);
    if (rc != CNN_OK) {
        free(out->data);
        *out = (image){0};
    }
    return rc;
}
