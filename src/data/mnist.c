/* MNIST's idx files (http://yann.lecun.com/exdb/mnist/, also Fashion-MNIST): a big-endian
 * header (magic 0x00000803 images / 0x00000801 labels, then the dimensions) followed by
 * uint8 data. Read through zlib's gzopen, which reads plain and gzip'ed files alike. Every
 * count and size is checked against the file's length, so no input crashes us. Encoded
 * packing stores each image as a gray PNG (lossless, so raw and encoded sets hold the same
 * pixels). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "decode_impl.h"

#define MNIST_MAX_SIDE 4096

/* Reads exactly n bytes; 1 when the file ends first. */
static int gz_read(gzFile g, void *p, size_t n, const char *path, cnn_err *e)
{
    char *c = p;
    while (n > 0) {
        unsigned k = n > (1u << 30) ? (1u << 30) : (unsigned)n;
        int r = gzread(g, c, k);
        if (r < 0) {
            int zerr = 0;
            const char *why = gzerror(g, &zerr);
            return CNN_ERR(e, CNN_EIO, "%s: %s", path,
                           zerr == Z_ERRNO ? strerror(errno) : why);
        }
        if (r == 0)
            return 1;
        c += r;
        n -= (size_t)r;
    }
    return CNN_OK;
}

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Reads the header (magic + ndims dims) and the data of file path into *data. */
static int read_idx(const char *path, uint32_t magic, int ndims, uint32_t *dims,
                    uint8_t **data, cnn_err *e)
{
    *data = NULL;
    gzFile g = gzopen(path, "rb");
    if (!g)
        return CNN_ERR(e, CNN_EIO, "cannot open %s: %s", path,
                       errno ? strerror(errno) : "out of memory");
    uint8_t hdr[16];
    int rc = gz_read(g, hdr, 4, path, e);
    if (rc == CNN_OK && be32(hdr) != magic)
        rc = CNN_ERR(e, CNN_EINVAL, "%s: magic number 0x%08x, expected 0x%08x (an idx%d-ubyte "
                     "%s file)", path, be32(hdr), magic, ndims,
                     ndims == 3 ? "images" : "labels");
    if (rc == CNN_OK)
        rc = gz_read(g, hdr + 4, 4 * (size_t)ndims, path, e);
    if (rc > 0)
        rc = CNN_ERR(e, CNN_EINVAL, "%s: too short for an idx header", path);
    size_t total = 1;
    for (int i = 0; i < ndims && rc == CNN_OK; i++) {
        dims[i] = be32(hdr + 4 + 4 * i);
        if (dims[i] == 0 || (i > 0 && dims[i] > MNIST_MAX_SIDE))
            rc = CNN_ERR(e, CNN_EINVAL, "%s: dimension %d is %u", path, i, dims[i]);
        total *= dims[i];
    }
    if (rc == CNN_OK) {
        *data = malloc(total);
        if (!*data)
            rc = CNN_ERR(e, CNN_ENOMEM, "%s: cannot allocate %zu bytes", path, total);
    }
    if (rc == CNN_OK) {
        rc = gz_read(g, *data, total, path, e);
        if (rc > 0)
            rc = CNN_ERR(e, CNN_EINVAL, "%s: truncated: the header promises %zu bytes of data",
                         path, total);
    }
    uint8_t extra;
    if (rc == CNN_OK && gz_read(g, &extra, 1, path, e) == CNN_OK)
        rc = CNN_ERR(e, CNN_EINVAL, "%s: more data than the header's dimensions", path);
    gzclose(g);
    if (rc < 0) {
        free(*data);
        *data = NULL;
    }
    return rc;
}

int mnist_read(const char *images, const char *labels, mnist_set *out, cnn_err *e)
{
    memset(out, 0, sizeof *out);
    uint32_t di[3] = {0}, dl[1] = {0};
    CNN_TRY(e, read_idx(images, 0x00000803u, 3, di, &out->images, e));
    int rc = read_idx(labels, 0x00000801u, 1, dl, &out->labels, e);
    if (rc == CNN_OK && dl[0] != di[0])
        rc = CNN_ERR(e, CNN_EINVAL, "%s holds %u labels for the %u images of %s; pass the "
                     "matching pair", labels, dl[0], di[0], images);
    if (rc < 0) {
        mnist_free(out);
        return rc;
    }
    out->n = di[0];
    out->h = (int)di[1];
    out->w = (int)di[2];
    return CNN_OK;
}

void mnist_free(mnist_set *s)
{
    free(s->images);
    free(s->labels);
    memset(s, 0, sizeof *s);
}

int mnist_encode_png(const mnist_set *s, int64_t i, uint8_t **out, size_t *len, cnn_err *e)
{
    CNN_ASSERT(i >= 0 && i < s->n);
    size_t px = (size_t)s->h * (size_t)s->w;
    image im = {s->h, s->w, 1, s->images + (size_t)i * px};
    int rc = image_encode_png(&im, out, len, e);
    if (rc < 0)
        cnn_err_prefix(e, "MNIST image %lld: ", (long long)i);
    return rc;
}
