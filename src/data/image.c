/* Image geometry on 8-bit interleaved (H, W, C) pixels: crop, antialiased bilinear resize
 * and nearest resize. The bilinear resize reproduces torchvision's F.resize on uint8 tensors
 * with antialias=True (torch's _upsample_bilinear2d_aa, align_corners=False): a separable
 * triangle filter whose support widens with the downscale factor (as PIL's), float math,
 * result rounded half to even. Upscaling reduces to plain bilinear. Runs inside loader
 * worker threads: no OpenMP, no shared state; weight tables are built once per call. The
 * window variants compute only the pixels a crop keeps: each output pixel depends on its
 * own weight rows only, so they equal resize-then-crop exactly, without the resized image
 * (a 1x999999 PNG resized to 256 on its short side would be 196 GB; found by fuzz-image). */
#include "data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void image_free(image *im)
{
    if (!im)
        return;
    free(im->data);
    im->data = NULL;
    im->h = im->w = im->c = 0;
}

static void image_alloc(image *im, int h, int w, int c)
{
    CNN_ASSERT(h > 0 && w > 0 && (c == 1 || c == 3));
    im->h = h;
    im->w = w;
    im->c = c;
    im->data = cnn_xmalloc((size_t)h * (size_t)w * (size_t)c);
}

void image_crop(const image *src, int top, int left, int h, int w, image *dst)
{
    CNN_ASSERT(top >= 0 && left >= 0 && h > 0 && w > 0);
    CNN_ASSERT(top + h <= src->h && left + w <= src->w);
    image_alloc(dst, h, w, src->c);
    size_t row = (size_t)w * (size_t)src->c;
    for (int y = 0; y < h; y++)
        memcpy(dst->data + (size_t)y * row,
               src->data + ((size_t)(top + y) * (size_t)src->w + (size_t)left) * (size_t)src->c,
               row);
}

/* Per-output-index taps along one axis: input indices [first[i], first[i] + n[i]) with
 * normalised weights wt[i * taps + k]. */
typedef struct axis_weights {
    int taps;
    int *first, *n;
    float *wt;
} axis_weights;

static double triangle(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* torch's antialias weights: scale = in/out; the filter is stretched by the scale when
 * shrinking (support = scale), the window is [center - support, center + support) rounded
 * as int(x + 0.5), clipped to the input, and the weights renormalised to sum to 1. Only
 * the n outputs from `from` on get weights (a window of the resized image). */
static void axis_weights_init(axis_weights *a, int in, int64_t out, int64_t from, int n_out)
{
    double scale = (double)in / (double)out;
    double support = scale >= 1.0 ? scale : 1.0;
    double inv = scale >= 1.0 ? 1.0 / scale : 1.0;
    a->taps = (int)ceil(support) * 2 + 1;
    a->first = cnn_xmalloc(sizeof(int) * (size_t)n_out);
    a->n = cnn_xmalloc(sizeof(int) * (size_t)n_out);
    a->wt = cnn_xcalloc((size_t)n_out * (size_t)a->taps, sizeof(float));
    for (int i = 0; i < n_out; i++) {
        double center = scale * ((double)(from + i) + 0.5);
        long lo = (long)(center - support + 0.5), hi = (long)(center + support + 0.5);
        lo = lo < 0 ? 0 : lo;
        hi = hi > in ? in : hi;
        int n = (int)(hi - lo);
        CNN_ASSERT(n >= 1 && n <= a->taps);
        double total = 0;
        for (int k = 0; k < n; k++)
            total += triangle((k + lo - center + 0.5) * inv);
        for (int k = 0; k < n; k++) {
            double wk = triangle((k + lo - center + 0.5) * inv);
            a->wt[(size_t)i * (size_t)a->taps + (size_t)k] = (float)(total > 0 ? wk / total : 0);
        }
        a->first[i] = (int)lo;
        a->n[i] = n;
    }
}

static void axis_weights_free(axis_weights *a)
{
    free(a->first);
    free(a->n);
    free(a->wt);
}

/* Vertical pass first (contiguous rows, vectorises): src (in_h, row_len) uint8 into tmp
 * (out_h, row_len) floats. Float intermediates as torch; only the pass order differs, which
 * changes the sums by rounding only. */
static void pass_v(const uint8_t *src, size_t row_len, const axis_weights *ay, int out_h,
                   float *tmp)
{
    for (int y = 0; y < out_h; y++) {
        const float *w = ay->wt + (size_t)y * (size_t)ay->taps;
        const uint8_t *r0 = src + (size_t)ay->first[y] * row_len;
        float *acc = tmp + (size_t)y * row_len;
        for (size_t j = 0; j < row_len; j++)
            acc[j] = w[0] * (float)r0[j];
        for (int k = 1; k < ay->n[y]; k++) {
            const uint8_t *r = r0 + (size_t)k * row_len;
            float wk = w[k];
            for (size_t j = 0; j < row_len; j++)
                acc[j] += wk * (float)r[j];
        }
    }
}

/* torch.round (half to even) without a libm call: adding and subtracting 1.5 * 2^23 rounds
 * to an integer in the current (nearest-even) mode for |v| < 2^22. */
static inline uint8_t to_u8(float v)
{
    int r = (int)((v + 12582912.0f) - 12582912.0f);
    return (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
}

/* Horizontal pass: tmp (h, in_w, C) floats into dst (h, out_w, C) with rounding. C is a
 * compile-time constant at each call site so the channel loop unrolls. */
static inline void pass_h(const float *tmp, int h, int in_w, const axis_weights *ax,
                          int out_w, uint8_t *dst, int C)
{
    for (int y = 0; y < h; y++) {
        const float *row = tmp + (size_t)y * (size_t)in_w * (size_t)C;
        uint8_t *o = dst + (size_t)y * (size_t)out_w * (size_t)C;
        for (int x = 0; x < out_w; x++) {
            const float *w = ax->wt + (size_t)x * (size_t)ax->taps;
            const float *p = row + (size_t)ax->first[x] * (size_t)C;
            float acc[3] = {0, 0, 0};
            for (int k = 0; k < ax->n[x]; k++)
                for (int c = 0; c < C; c++)
                    acc[c] += w[k] * p[k * C + c];
            for (int c = 0; c < C; c++)
                o[x * C + c] = to_u8(acc[c]);
        }
    }
}

void image_resize_bilinear(const image *src, int h, int w, image *dst)
{
    image_resize_bilinear_window(src, h, w, 0, 0, h, w, dst);
}

void image_resize_bilinear_window(const image *src, int64_t rh, int64_t rw, int64_t top,
                                  int64_t left, int h, int w, image *dst)
{
    CNN_ASSERT(top >= 0 && left >= 0 && top + h <= rh && left + w <= rw);
    image_alloc(dst, h, w, src->c);
    axis_weights ax, ay;
    axis_weights_init(&ax, src->w, rw, left, w);
    axis_weights_init(&ay, src->h, rh, top, h);
    float *tmp = cnn_xmalloc(sizeof(float) * (size_t)h * (size_t)src->w * (size_t)src->c);
    pass_v(src->data, (size_t)src->w * (size_t)src->c, &ay, h, tmp);
    if (src->c == 3)
        pass_h(tmp, h, src->w, &ax, w, dst->data, 3);
    else
        pass_h(tmp, h, src->w, &ax, w, dst->data, 1);
    free(tmp);
    axis_weights_free(&ax);
    axis_weights_free(&ay);
}

/* torch's nearest_idx: identity and exact 2x upscaling are special-cased; otherwise
 * floorf(i * scale) with scale = (float)in / out, clipped to the last input index. */
static int nearest_idx(int64_t i, int in, int64_t out)
{
    if (in == out)
        return (int)i;
    if (out == 2 * (int64_t)in)
        return (int)(i >> 1);
    float scale = (float)in / (float)out;
    int64_t s = (int64_t)floorf((float)i * scale);
    return s < in - 1 ? (int)s : in - 1;
}

void image_resize_nearest(const image *src, int h, int w, image *dst)
{
    image_resize_nearest_window(src, h, w, 0, 0, h, w, dst);
}

void image_resize_nearest_window(const image *src, int64_t rh, int64_t rw, int64_t top,
                                 int64_t left, int h, int w, image *dst)
{
    CNN_ASSERT(top >= 0 && left >= 0 && top + h <= rh && left + w <= rw);
    image_alloc(dst, h, w, src->c);
    int c = src->c;
    int *xs = cnn_xmalloc(sizeof(int) * (size_t)w);
    for (int x = 0; x < w; x++)
        xs[x] = nearest_idx(left + x, src->w, rw);
    for (int y = 0; y < h; y++) {
        const uint8_t *row =
            src->data + (size_t)nearest_idx(top + y, src->h, rh) * (size_t)src->w * c;
        uint8_t *o = dst->data + (size_t)y * (size_t)w * c;
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                o[x * c + k] = row[xs[x] * c + k];
    }
    free(xs);
}
