/* EXIF orientation: finds tag 0x0112 in the first IFD of an APP1 "Exif" block (either TIFF
 * byte order, every offset bounds-checked: the bytes come from arbitrary files) and applies
 * it as PIL's ImageOps.exif_transpose: 2 mirror, 3 rotate 180, 4 flip, 5 transpose,
 * 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise. */
#include <stdlib.h>
#include <string.h>

#include "decode_impl.h"

typedef struct tiff {
    const uint8_t *p;
    size_t n;
    bool big; /* "MM" */
} tiff;

static bool rd16(const tiff *t, size_t off, uint32_t *v)
{
    if (off > t->n || t->n - off < 2)
        return false;
    const uint8_t *b = t->p + off;
    *v = t->big ? (uint32_t)(b[0] << 8 | b[1]) : (uint32_t)(b[1] << 8 | b[0]);
    return true;
}

static bool rd32(const tiff *t, size_t off, uint32_t *v)
{
    uint32_t a, b;
    if (!rd16(t, off, &a) || !rd16(t, off + 2, &b))
        return false;
    *v = t->big ? (a << 16 | b) : (b << 16 | a);
    return true;
}

int exif_orientation(const uint8_t *app1, size_t len)
{
    if (len < 14 || memcmp(app1, "Exif\0\0", 6) != 0)
        return 1;
    tiff t = {app1 + 6, len - 6, false};
    if (memcmp(t.p, "MM", 2) == 0)
        t.big = true;
    else if (memcmp(t.p, "II", 2) != 0)
        return 1;
    uint32_t magic, ifd, count;
    if (!rd16(&t, 2, &magic) || magic != 42 || !rd32(&t, 4, &ifd) || !rd16(&t, ifd, &count))
        return 1;
    for (uint32_t i = 0; i < count; i++) {
        size_t ent = (size_t)ifd + 2 + 12 * (size_t)i;
        uint32_t tag, type, n, v;
        if (!rd16(&t, ent, &tag) || !rd16(&t, ent + 2, &type) || !rd32(&t, ent + 4, &n))
            return 1;
        if (tag != 0x0112)
            continue;
        /* SHORT as the standard says; LONG seen from some writers, accepted as PIL does. */
        bool ok = n >= 1 && ((type == 3 && rd16(&t, ent + 8, &v)) ||
                             (type == 4 && rd32(&t, ent + 8, &v)));
        return ok && v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

/* Source pixel (sy, sx) of output pixel (y, x); h, w are the source's size. */
static void exif_src(int o, int h, int w, int y, int x, int *sy, int *sx)
{
    switch (o) {
    case 2: *sy = y, *sx = w - 1 - x; break;
    case 3: *sy = h - 1 - y, *sx = w - 1 - x; break;
    case 4: *sy = h - 1 - y, *sx = x; break;
    case 5: *sy = x, *sx = y; break;
    case 6: *sy = h - 1 - x, *sx = y; break;
    case 7: *sy = h - 1 - x, *sx = w - 1 - y; break;
    case 8: *sy = x, *sx = w - 1 - y; break;
    default: *sy = y, *sx = x; break;
    }
}

int exif_apply(image *im, int o, cnn_err *e)
{
    if (o <= 1 || o > 8)
        return CNN_OK;
    int oh = o >= 5 ? im->w : im->h, ow = o >= 5 ? im->h : im->w, c = im->c;
    uint8_t *dst = malloc((size_t)oh * ow * c);
    if (!dst)
        return CNN_ERR(e, CNN_ENOMEM, "out of memory rotating a %dx%d image (EXIF orientation "
                       "%d)", im->w, im->h, o);
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sy, sx;
            exif_src(o, im->h, im->w, y, x, &sy, &sx);
            memcpy(dst + ((size_t)y * ow + x) * c, im->data + ((size_t)sy * im->w + sx) * c,
                   (size_t)c);
        }
    free(im->data);
    im->data = dst;
    im->h = oh;
    im->w = ow;
    return CNN_OK;
}
