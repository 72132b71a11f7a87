/* The CUDA convolution cache (cuda_conv_impl.h): one entry per call signature, holding its
 * checked geometry and cuDNN descriptors. Geometry follows the CPU backend (cpu_conv.c):
 * when the x side's shape is not what symmetric padding gives (a transposed convolution's
 * output_pad reaching a stride or more, possible only with dilation > stride), the entry
 * works on a zero-padded copy of the x side (padding 0 in cuDNN). Channels-last x and y are
 * described by their NHWC strides and the filter as CUDNN_TENSOR_NHWC (KRSC). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_conv_impl.h"

const char *const conv_op_names[3] = {"conv_fwd", "conv_bwd_data", "conv_bwd_filter"};

struct cuda_conv_cache {
    conv_entry **e;
    int n, cap;
};

const char *conv_key_str(const conv_key *k, char *b, size_t n)
{
    snprintf(b, n, "%s %s %s x (%lld, %lld, %lld, %lld) w (%lld, %lld, %lld, %lld) y (%lld, "
             "%lld, %lld, %lld) stride %dx%d pad %dx%d dilation %dx%d groups %d",
             conv_op_names[k->op], dtype_name((dtype)k->dt), layout_name((layout)k->lay),
             (long long)k->x[0], (long long)k->x[1], (long long)k->x[2], (long long)k->x[3],
             (long long)k->w[0], (long long)k->w[1], (long long)k->w[2], (long long)k->w[3],
             (long long)k->y[0], (long long)k->y[1], (long long)k->y[2], (long long)k->y[3],
             k->d.stride_h, k->d.stride_w, k->d.pad_h, k->d.pad_w, k->d.dil_h, k->d.dil_w,
             k->d.groups);
    return b;
}

/* ---- geometry ---- */

/* One axis of the x side: whether cuDNN's symmetric padding reproduces it (the shapes agree
 * as for a forward convolution), else the padded extent t = (out - 1) * s + span (padding
 * included) and the rows c of x the windows reach. Returns false when the windows would
 * reach beyond the padding (inconsistent shapes, as the CPU backend rejects). */
static bool axis_geom(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t d,
                      bool *direct, int64_t *t, int64_t *c)
{
    int64_t span = d * (k - 1) + 1, full = in + 2 * p - span;
    *direct = full >= 0 && full / s + 1 == out;
    *t = (out - 1) * s + span;
    *c = *t - p < in ? *t - p : in;
    return out >= 1 && *t - p - in <= p;
}

static bool fits_int(const int64_t *d, int n)
{
    int64_t numel = 1;
    for (int i = 0; i < n; i++) {
        if (d[i] <= 0 || d[i] > INT_MAX)
            return false;
        numel *= d[i];
        if (numel > INT_MAX)
            return false;
    }
    return true;
}

static void geometry_init(conv_entry *en)
{
    const conv_key *k = &en->key;
    const conv_desc *d = &k->d;
    bool dir_h = false, dir_w = false, ok = d->groups >= 1 && d->stride_h >= 1 &&
        d->stride_w >= 1 && d->dil_h >= 1 && d->dil_w >= 1 && d->pad_h >= 0 && d->pad_w >= 0;
    ok = ok && fits_int(k->x, 4) && fits_int(k->w, 4) && fits_int(k->y, 4) &&
         k->x[0] == k->y[0] && k->x[1] == k->w[1] * d->groups && k->y[1] == k->w[0] &&
         k->w[0] % d->groups == 0;
    ok = ok && axis_geom(k->x[2], k->y[2], k->w[2], d->stride_h, d->pad_h, d->dil_h, &dir_h,
                         &en->th, &en->ch);
    ok = ok && axis_geom(k->x[3], k->y[3], k->w[3], d->stride_w, d->pad_w, d->dil_w, &dir_w,
                         &en->tw, &en->cw);
    en->padded = !(dir_h && dir_w);
    int64_t t[4] = {k->x[0], k->x[1], en->th, en->tw};
    ok = ok && (!en->padded || fits_int(t, 4));
    if (!ok) {
        char b[512];
        cnn_fatal("cuda backend: inconsistent or too large convolution shapes (each tensor "
                  "must have < 2^31 elements): %s", conv_key_str(k, b, sizeof b));
    }
}

/* ---- descriptors ---- */

cudnnDataType_t conv_cudnn_type(int32_t dt)
{
    return dt == DTYPE_F16 ? CUDNN_DATA_HALF : dt == DTYPE_BF16 ? CUDNN_DATA_BFLOAT16
                                                                : CUDNN_DATA_FLOAT;
}

size_t conv_esize(const conv_key *k) { return dtype_size((dtype)k->dt); }

/* An (n, c, h, w) window of a buffer whose planes are `row` elements wide and `plane`
 * elements large (the window may be smaller than the buffer: the padded views), NCHW or
 * channels-last (element (n, c, y, x) at (n*plane + y*row + x)*c_all + c, c_all == c). */
static cudnnTensorDescriptor_t tensor_desc(const conv_key *k, int64_t n, int64_t c, int64_t h,
                                           int64_t w, int64_t row, int64_t plane)
{
    cudnnTensorDescriptor_t t;
    bool cl = k->lay == LAYOUT_NHWC;
    CNN_CUDNN(cudnnCreateTensorDescriptor(&t));
    CNN_CUDNN(cudnnSetTensor4dDescriptorEx(t, conv_cudnn_type(k->dt), (int)n, (int)c, (int)h,
                                           (int)w, (int)(c * plane), cl ? 1 : (int)plane,
                                           (int)(cl ? row * c : row), cl ? (int)c : 1));
    return t;
}

static void descs_init(conv_entry *en)
{
    const conv_key *k = &en->key;
    const conv_desc *d = &k->d;
    const int64_t *x = k->x, *y = k->y, *w = k->w;
    int64_t xh = en->padded ? en->th : x[2], xw = en->padded ? en->tw : x[3];
    en->xd = tensor_desc(k, x[0], x[1], xh, xw, xw, xh * xw);
    en->yd = tensor_desc(k, y[0], y[1], y[2], y[3], y[3], y[2] * y[3]);
    /* dimensions stay (K, C/groups, R, S); the format says how they are stored */
    cudnnTensorFormat_t wf = k->lay == LAYOUT_NHWC ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    CNN_CUDNN(cudnnCreateFilterDescriptor(&en->wd));
    CNN_CUDNN(cudnnSetFilter4dDescriptor(en->wd, conv_cudnn_type(k->dt), wf, (int)w[0], (int)w[1],
                                         (int)w[2], (int)w[3]));
    CNN_CUDNN(cudnnCreateConvolutionDescriptor(&en->cd));
    CNN_CUDNN(cudnnSetConvolution2dDescriptor(en->cd, en->padded ? 0 : d->pad_h,
                                              en->padded ? 0 : d->pad_w, d->stride_h,
                                              d->stride_w, d->dil_h, d->dil_w,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CNN_CUDNN(cudnnSetConvolutionGroupCount(en->cd, d->groups));
    /* f32 compute either way. fp32: FMA only (no TF32). Half: tensor ops allowed (they
     * accumulate in f32). Bfloat16: the default math, which on sm_80+ admits its tensor-core
     * kernels (what PyTorch's and Paddle's cuDNN paths set for bf16). choose_algo then sets
     * the type the chosen algorithm was measured with: running it under another one is not
     * what was timed (and gave NaN for bf16 in oneDNN's cuDNN backend, PR #1583). */
    cudnnMathType_t math = k->dt == DTYPE_F32 ? CUDNN_FMA_MATH
                           : k->dt == DTYPE_F16 ? CUDNN_TENSOR_OP_MATH : CUDNN_DEFAULT_MATH;
    CNN_CUDNN(cudnnSetConvolutionMathType(en->cd, math));
    if (en->padded) {
        en->user_full = tensor_desc(k, x[0], x[1], x[2], x[3], x[3], x[2] * x[3]);
        if (en->ch > 0 && en->cw > 0) {
            en->tmp_view = tensor_desc(k, x[0], x[1], en->ch, en->cw, en->tw, en->th * en->tw);
            en->user_view = tensor_desc(k, x[0], x[1], en->ch, en->cw, x[3], x[2] * x[3]);
        }
    }
}

static void entry_free(conv_entry *en)
{
    /* en->tmp is a block of the backend's pool, released with the pool. */
    cudnnTensorDescriptor_t td[] = {en->xd, en->yd, en->tmp_view, en->user_view, en->user_full};
    for (size_t i = 0; i < sizeof td / sizeof td[0]; i++)
        if (td[i])
            CNN_CUDNN(cudnnDestroyTensorDescriptor(td[i]));
    if (en->wd)
        CNN_CUDNN(cudnnDestroyFilterDescriptor(en->wd));
    if (en->cd)
        CNN_CUDNN(cudnnDestroyConvolutionDescriptor(en->cd));
    conv_plan_free(en->plan);
    free(en);
}

void cuda_conv_cache_destroy(cuda_conv_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        entry_free(c->e[i]);
    free(c->e);
    free(c);
}

conv_entry *conv_cache_get(backend *be, const conv_key *k)
{
    cuda_state *st = cuda_of(be);
    if (!st->conv_cache)
        st->conv_cache = cnn_xcalloc(1, sizeof *st->conv_cache);
    cuda_conv_cache *c = st->conv_cache;
    for (int i = 0; i < c->n; i++)
        if (!memcmp(&c->e[i]->key, k, sizeof *k))
            return c->e[i];
    conv_entry *en = cnn_xcalloc(1, sizeof *en);
    en->key = *k;
    en->algo = -1;
    en->via_nchw = k->lay == LAYOUT_NHWC && cuda_of(be)->conv_via_nchw;
    geometry_init(en);
    /* a forced NCHW route runs through the NCHW key's entry: no descriptors or padding here */
    if (!en->via_nchw)
        descs_init(en);
    if (en->padded && !en->via_nchw) {
        cnn_err e = {0};
        size_t bytes = (size_t)(k->x[0] * k->x[1] * en->th * en->tw) * conv_esize(k);
        if (be->ops->alloc(be, bytes, &en->tmp, &e) < 0)
            cnn_fatal("convolution padding buffer: %s", e.msg);
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        conv_entry **grown = realloc(c->e, (size_t)c->cap * sizeof *grown);
        if (!grown)
            cnn_fatal("cuda conv: out of memory growing the descriptor cache");
        c->e = grown;
    }
    c->e[c->n++] = en;
    return en;
}
