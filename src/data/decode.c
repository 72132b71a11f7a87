/* image_decode (data.h): picks the decoder from the magic bytes (never from the file
 * name: ImageFolder trees hold PNGs named .jpg), converts to the wanted channel count as
 * Pillow's convert() does (gray -> RGB replicates; RGB -> gray is ITU-R 601-2 luma with
 * Pillow's fixed-point weights), and owns the allocation that image_free releases. */
#include <stdlib.h>
#include <string.h>

#include "decode_impl.h"

int decode_alloc(image *out, int64_t h, int64_t w, int c, const char *fmt, cnn_err *e)
{
    if (h <= 0 || w <= 0 || h * w > DECODE_MAX_PIXELS)
        return CNN_ERR(e, CNN_EINVAL, "%s of %lldx%lld pixels: size must be positive and at "
                       "most %lld pixels", fmt, (long long)w, (long long)h,
                       (long long)DECODE_MAX_PIXELS);
    uint8_t *d = malloc((size_t)(h * w * c));
    if (!d)
        return CNN_ERR(e, CNN_ENOMEM, "out of memory for a %lldx%lldx%d %s image",
                       (long long)w, (long long)h, c, fmt);
    *out = (image){.h = (int)h, .w = (int)w, .c = c, .data = d};
    return CNN_OK;
}

static int convert_channels(image *im, int want_c, cnn_err *e)
{
    if (want_c == 0 || want_c == im->c)
        return CNN_OK;
    size_t n = (size_t)im->h * im->w;
    uint8_t *d = malloc(n * want_c);
    if (!d)
        return CNN_ERR(e, CNN_ENOMEM, "out of memory converting a %dx%d image to %d channels",
                       im->w, im->h, want_c);
    const uint8_t *s = im->data;
    for (size_t i = 0; i < n; i++) {
        if (want_c == 3) {
            d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = s[i];
        } else {
            uint32_t l = s[3 * i] * 19595u + s[3 * i + 1] * 38470u + s[3 * i + 2] * 7471u;
            d[i] = (uint8_t)((l + 0x8000u) >> 16);
        }
    }
    free(im->data);
    im->data = d;
    im->c = want_c;
    return CNN_OK;
}

static int not_an_image(const uint8_t *bytes, size_t len, cnn_err *e)
{
    char head[16] = "";
    int at = 0;
    for (size_t i = 0; i < len && i < 4; i++) /* only the bytes there are */
        at += snprintf(head + at, sizeof head - (size_t)at, "%s%02x", i ? " " : "", bytes[i]);
    return CNN_ERR(e, CNN_EINVAL, "not a JPEG or PNG file (%zu bytes, starting %s); convert it "
                   "to JPEG or PNG, or remove it", len, head);
}

int image_decode(const uint8_t *bytes, size_t len, int want_c, int min_side, image *out,
                 cnn_err *e)
{
    return decode_image(bytes, len, want_c, min_side, out, NULL, e);
}

int decode_image(const uint8_t *bytes, size_t len, int want_c, int min_side, image *out,
                 int full_hw[2], cnn_err *e)
{
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    *out = (image){0};
    if (want_c != 0 && want_c != 1 && want_c != 3)
        return CNN_ERR(e, CNN_EINVAL, "image_decode: want_c=%d; use 0, 1 or 3", want_c);
    if (len == 0)
        return CNN_ERR(e, CNN_EINVAL, "empty file (0 bytes): not an image");
    if (len >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
        CNN_TRY(e, decode_jpeg(bytes, len, min_side, out, full_hw, e));
    else if (len >= 8 && memcmp(bytes, png_magic, 8) == 0)
        CNN_TRY(e, decode_png(bytes, len, out, e)); /* never scaled: full size as decoded */
    else
        return not_an_image(bytes, len, e);
    if (full_hw && bytes[0] != 0xFF) {
        full_hw[0] = out->h;
        full_hw[1] = out->w;
    }
    int rc = convert_channels(out, want_c, e);
    if (rc != CNN_OK) {
        free(out->data);
        *out = (image){0};
    }
    return rc;
}
