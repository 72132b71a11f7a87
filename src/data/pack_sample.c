/* One file of cnn-pack, on a worker thread: read, decode (validates the bytes: unreadable
 * files are skipped or fail --strict), then per mode: encoded keeps the file's bytes, or
 * with --resize S re-encodes (JPEG q95) after resizing the shorter side to S as
 * torchvision's Resize(S) (long side floor(S*long/short); never upscales: smaller images
 * keep their bytes); raw resizes the shorter side to S (default max(H, W)) and center-crops
 * HxW as CenterCrop (offsets rounded half to even like Python's round). Masks are decoded
 * as class ids, must match the image's size, follow its geometry (nearest), and are stored
 * as 8-bit gray PNG (encoded) or HxW bytes (raw). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decode_impl.h"
#include "pack_images_impl.h"

#define PACK_MAX_FILE ((int64_t)1 << 31)

int data_read_file(const char *path, uint8_t **buf, size_t *len, cnn_err *e)
{
    *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CNN_ERR(e, CNN_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    int rc = CNN_OK;
    if (fstat(fd, &st) != 0)
        rc = CNN_ERR(e, CNN_EIO, "cannot stat %s: %s", path, strerror(errno));
    else if (st.st_size > PACK_MAX_FILE)
        rc = CNN_ERR(e, CNN_EINVAL, "%s is %lld bytes; files above 2 GiB are not images we "
                     "pack", path, (long long)st.st_size);
    else if (!(*buf = malloc(st.st_size ? (size_t)st.st_size : 1)))
        rc = CNN_ERR(e, CNN_ENOMEM, "out of memory reading %s (%lld bytes)", path,
                     (long long)st.st_size);
    size_t got = 0;
    while (rc == CNN_OK && got < (size_t)st.st_size) {
        ssize_t r = read(fd, *buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            rc = CNN_ERR(e, CNN_EIO, "reading %s failed at byte %zu: %s", path, got,
                         r < 0 ? strerror(errno) : "file shrank while read");
        else
            got += (size_t)r;
    }
    close(fd);
    if (rc < 0) {
        free(*buf);
        *buf = NULL;
    }
    *len = got;
    return rc;
}

/* Python's round(x / 2) for x >= 0: halves go to the even neighbour. */
static int64_t half_even(int64_t x)
{
    int64_t k = x / 2;
    return (x % 2 == 0 || k % 2 == 0) ? k : k + 1;
}

/* Shorter side to s, longer floor(s * long / short) (torchvision's Resize(int)); up to
 * 65535 * 2^28: int64. */
static void resized_hw(int h, int w, int s, int64_t *rh, int64_t *rw)
{
    if (h <= w) {
        *rh = s;
        *rw = (int64_t)s * w / h;
    } else {
        *rw = s;
        *rh = (int64_t)s * h / w;
    }
}

static void add_stats(const image *im, pack_sample *s)
{
    size_t n = (size_t)im->h * im->w;
    for (size_t i = 0; i < n; i++)
        for (int ch = 0; ch < 3; ch++) {
            uint64_t v = im->data[i * im->c + (im->c == 3 ? ch : 0)];
            s->sum[ch] += v;
            s->sq[ch] += v * v;
        }
    s->px += n;
    s->stats = true;
}

static int mask_max_id(const image *m)
{
    int best = -1;
    for (size_t i = 0, n = (size_t)m->h * m->w; i < n; i++)
        if (m->data[i] != 255 && m->data[i] > best)
            best = m->data[i];
    return best;
}

/* image -> (rh, rw) bilinear [or nearest], then the center (ch, cw) crop when ch > 0: only
 * the crop is resized (image_resize_*_window), never the whole image, which an extreme
 * aspect ratio makes huge (a 1x999999 PNG raw-packed at 256 needed 196 GB; fuzz-image). */
static void geometry(image *im, int64_t rh, int64_t rw, int ch, int cw, bool nearest)
{
    image t = {0};
    bool resize = rh != im->h || rw != im->w;
    if (ch > 0) {
        CNN_ASSERT(ch <= rh && cw <= rw);
        int64_t top = half_even(rh - ch), left = half_even(rw - cw);
        if (resize)
            (nearest ? image_resize_nearest_window : image_resize_bilinear_window)(
                im, rh, rw, top, left, ch, cw, &t);
        else
            image_crop(im, (int)top, (int)left, ch, cw, &t);
    } else if (resize) { /* encoded --resize: only ever shrinks, so rh, rw fit in int */
        (nearest ? image_resize_nearest : image_resize_bilinear)(im, (int)rh, (int)rw, &t);
    } else {
        return;
    }
    image_free(im);
    *im = t;
}

/* The mask of it, checked against the image's full size, through the same geometry. */
static int make_mask(const pack_cfg *c, const pack_item *it, const int full[2], int64_t rh,
                     int64_t rw, pack_sample *s, cnn_err *e)
{
    uint8_t *bytes;
    size_t len;
    image m;
    CNN_TRY(e, data_read_file(it->mask, &bytes, &len, e));
    int rc = decode_png_ids(bytes, len, &m, e);
    free(bytes);
    if (rc < 0) {
        cnn_err_prefix(e, "mask %s: ", it->mask);
        return rc;
    }
    if (m.h != full[0] || m.w != full[1]) {
        rc = CNN_ERR(e, CNN_EINVAL, "mask %s is %dx%d but its image is %dx%d (WxH); masks must "
                     "have their image's size", it->mask, m.w, m.h, full[1], full[0]);
        image_free(&m);
        return rc;
    }
    bool raw = c->mode == DATA_RAW;
    geometry(&m, rh, rw, raw ? c->size_h : 0, c->size_w, true);
    s->max_id = mask_max_id(&m);
    if (raw) {
        s->mask = m.data;
        s->mask_len = (size_t)m.h * m.w;
        return CNN_OK;
    }
    rc = image_encode_png(&m, &s->mask, &s->mask_len, e);
    image_free(&m);
    return rc;
}

static int make_raw(const pack_cfg *c, uint8_t *file, size_t len, pack_sample *s,
                    int full[2], int64_t *rh, int64_t *rw, cnn_err *e)
{
    int side = c->resize ? c->resize : (c->size_h > c->size_w ? c->size_h : c->size_w);
    image im;
    int rc = decode_image(file, len, 3, side, &im, full, e);
    free(file);
    CNN_TRY(e, rc);
    resized_hw(full[0], full[1], side, rh, rw);
    geometry(&im, *rh, *rw, c->size_h, c->size_w, false);
    add_stats(&im, s);
    s->img = im.data; /* ownership moves to the sample */
    s->len = (size_t)im.h * im.w * 3;
    s->h = im.h;
    s->w = im.w;
    return CNN_OK;
}

static int make_encoded(const pack_cfg *c, uint8_t *file, size_t len, bool stats_full,
                        pack_sample *s, int full[2], int64_t *rh, int64_t *rw, cnn_err *e)
{
    image im;
    /* Without --resize only validation needs the pixels: the 1/8 scaled decode still reads
     * every byte of entropy-coded data, at a fraction of the cost. */
    int min_side = c->resize ? c->resize : stats_full ? 0 : 1;
    int rc = decode_image(file, len, 0, min_side, &im, full, e);
    s->img = file;
    s->len = len;
    *rh = s->h = full[0];
    *rw = s->w = full[1];
    if (rc == CNN_OK && c->resize && (full[0] < full[1] ? full[0] : full[1]) > c->resize) {
        resized_hw(full[0], full[1], c->resize, rh, rw);
        geometry(&im, *rh, *rw, 0, 0, false);
        free(s->img);
        s->img = NULL;
        rc = encode_jpeg(&im, 95, &s->img, &s->len, e);
        s->h = (int32_t)*rh;
        s->w = (int32_t)*rw;
    }
    if (rc == CNN_OK && stats_full)
        add_stats(&im, s); /* the pixels as stored (after --resize) */
    image_free(&im);
    return rc;
}

void pack_sample_make(const pack_cfg *c, const pack_item *it, bool stats_full, pack_sample *s)
{
    *s = (pack_sample){.max_id = -1};
    cnn_err e = {0};
    uint8_t *file;
    size_t len;
    int full[2] = {0, 0};
    int64_t rh = 0, rw = 0;
    int rc = data_read_file(it->path, &file, &len, &e);
    if (rc == CNN_OK)
        rc = c->mode == DATA_RAW ? make_raw(c, file, len, s, full, &rh, &rw, &e)
                                 : make_encoded(c, file, len, stats_full, s, full, &rh, &rw, &e);
    if (rc == CNN_OK && it->mask)
        rc = make_mask(c, it, full, rh, rw, s, &e);
    if (rc < 0) {
        pack_sample_free(s);
        s->rc = rc;
        if (strstr(e.msg, it->path))
            snprintf(s->msg, sizeof s->msg, "%s", e.msg);
        else
            snprintf(s->msg, sizeof s->msg, "%s: %s", it->path, e.msg);
    }
}

void pack_sample_mask_ids(const pack_item *it, pack_sample *s)
{
    *s = (pack_sample){.max_id = -1};
    cnn_err e = {0};
    uint8_t *bytes;
    size_t len;
    image m;
    if (data_read_file(it->mask, &bytes, &len, &e) < 0)
        return; /* reported by the packing pass */
    if (decode_png_ids(bytes, len, &m, &e) == CNN_OK) {
        s->max_id = mask_max_id(&m);
        image_free(&m);
    }
    free(bytes);
}

void pack_sample_free(pack_sample *s)
{
    free(s->img);
    free(s->mask);
    s->img = s->mask = NULL;
}
