/* CUDA convolutions on cuDNN 9's legacy convolution API (cross-correlation, groups on the
 * descriptor, CUDNN_FMA_MATH so fp32 stays IEEE fp32, no TF32; f16/bf16 data are cuDNN's
 * PSEUDO_HALF/PSEUDO_BFLOAT16 configurations: f32 compute type, tensor-op math allowed, and
 * whichever algorithms cuDNN supports for them are found by measuring). Everything that
 * defines a call (op, dtype, shapes, geometry) keys one cache entry holding its descriptors
 * and the algorithm measured once with cudnnFind*AlgorithmEx on the first call (algorithms
 * that do not support the dtype report so there and are skipped); later calls only launch.
 * beta is cuDNN's own (out = result + beta * out). Geometry follows the CPU backend
 * (cpu_conv.c): when the x side's shape is not what symmetric padding gives (a transposed
 * convolution's output_pad reaching a stride or more, possible only with dilation > stride),
 * the entry works on a zero-padded copy of the x side (padding 0 in cuDNN) and copies back
 * the rows the windows reach; the rest of dx receives no gradient (dx = beta * dx).
 * On the first call with beta 0 the entry also searches the graph API's engine
 * configurations (cuda_conv_engine.c, as PyTorch does) and keeps the fastest plan where it
 * beats the legacy algorithm measured the same way; calls with beta != 0 (gradient
 * accumulation) and buffers less aligned than the plan's keep the legacy algorithm.
 * Channels-last (backend.h): x and y are described to cuDNN by their NHWC strides and the
 * filter as CUDNN_TENSOR_NHWC (KRSC), which is what its tensor-core kernels read without
 * a transpose (PyTorch's channels_last convolutions do the same); the layout is part of the
 * cache key, so each layout measures its own algorithm. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_conv_engine.h"
#include "cuda_impl.h"

typedef enum conv_op { CONV_FWD, CONV_BWD_DATA, CONV_BWD_FILTER } conv_op;
static const char *const op_names[] = {"conv_fwd", "conv_bwd_data", "conv_bwd_filter"};

/* Compared with memcmp: no implicit padding (the static assert), zeroed before filled. */
typedef struct conv_key {
    int32_t op;
    int32_t dt;  /* float dtype of all three tensors */
    conv_desc d;
    int32_t lay; /* the layout of all three tensors (filter KRSC when NHWC) */
    int64_t x[4]; /* x or dx (N, C, H, W) */
    int64_t w[4]; /* w or dw (K, C/groups, R, S) */
    int64_t y[4]; /* y or dy (N, K, P, Q) */
} conv_key;
_Static_assert(sizeof(conv_key) == 3 * sizeof(int32_t) + sizeof(conv_desc) + 12 * sizeof(int64_t),
               "conv_key must have no implicit padding");

typedef struct conv_entry {
    conv_key key;
    cudnnTensorDescriptor_t xd, yd; /* xd: the x side cuDNN sees (padded copy when padded) */
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    int algo; /* -1 until measured */
    size_t algo_ws;
    cudnnMathType_t math; /* the math type the algorithm was measured with */
    bool plan_tried;
    conv_plan *plan; /* NULL: the legacy algorithm is faster, or no plan runs */
    /* Padded mode: tmp (N, C, th, tw), stored in the key's layout, holds x at row pad_h,
     * column pad_w; the region of ch x cw rows/columns of the caller's x that the windows
     * reach is described twice: inside tmp (tmp_view) and inside the caller's tensor
     * (user_view). */
    bool padded;
    int64_t th, tw, ch, cw;
    void *tmp;
    cudnnTensorDescriptor_t tmp_view, user_view, user_full;
} conv_entry;

struct cuda_conv_cache {
    conv_entry **e;
    int n, cap;
};

static const char *key_str(const conv_key *k, char *b, size_t n)
{
    snprintf(b, n, "%s %s %s x (%lld, %lld, %lld, %lld) w (%lld, %lld, %lld, %lld) y (%lld, "
             "%lld, %lld, %lld) stride %dx%d pad %dx%d dilation %dx%d groups %d",
             op_names[k->op], dtype_name((dtype)k->dt), layout_name((layout)k->lay),
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
                  "must have < 2^31 elements): %s", key_str(k, b, sizeof b));
    }
}

/* ---- descriptors ---- */

static cudnnDataType_t cudnn_type(int32_t dt)
{
    return dt == DTYPE_F16 ? CUDNN_DATA_HALF : dt == DTYPE_BF16 ? CUDNN_DATA_BFLOAT16
                                                                : CUDNN_DATA_FLOAT;
}

static size_t esize(const conv_key *k) { return dtype_size((dtype)k->dt); }

/* An (n, c, h, w) window of a buffer whose planes are `row` elements wide and `plane`
 * elements large (the window may be smaller than the buffer: the padded views), NCHW or
 * channels-last (element (n, c, y, x) at (n*plane + y*row + x)*c_all + c, c_all == c). */
static cudnnTensorDescriptor_t tensor_desc(const conv_key *k, int64_t n, int64_t c, int64_t h,
                                           int64_t w, int64_t row, int64_t plane)
{
    cudnnTensorDescriptor_t t;
    bool cl = k->lay == LAYOUT_NHWC;
    CNN_CUDNN(cudnnCreateTensorDescriptor(&t));
    CNN_CUDNN(cudnnSetTensor4dDescriptorEx(t, cudnn_type(k->dt), (int)n, (int)c, (int)h,
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
    CNN_CUDNN(cudnnSetFilter4dDescriptor(en->wd, cudnn_type(k->dt), wf, (int)w[0], (int)w[1],
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

static conv_entry *cache_get(backend *be, const conv_key *k)
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
    geometry_init(en);
    descs_init(en);
    if (en->padded) {
        cnn_err e = {0};
        size_t bytes = (size_t)(k->x[0] * k->x[1] * en->th * en->tw) * esize(k);
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

/* ---- algorithm choice ---- */

/* Whether a measured algorithm's math keeps the dtype's contract: fp32 must not drop to TF32
 * (no tensor-op variant); f16/bf16 may use tensor ops (they accumulate in f32) but must not
 * convert down further. */
static bool math_ok(int32_t dt, cudnnMathType_t m)
{
    if (m == CUDNN_FMA_MATH || m == CUDNN_DEFAULT_MATH)
        return true;
    return dt != DTYPE_F32 && m == CUDNN_TENSOR_OP_MATH;
}

/* The first (fastest) measured algorithm that ran, fits the workspace, keeps math_ok and,
 * when the backend asks for it, is deterministic; -1 if none. */
#define PICK(perf, n, ws_bytes, en)                                                      \
    do {                                                                                 \
        for (int i_ = 0; i_ < (n); i_++)                                                 \
            if ((perf)[i_].status == CUDNN_STATUS_SUCCESS &&                             \
                (perf)[i_].memory <= (ws_bytes) && math_ok(k->dt, (perf)[i_].mathType) && \
                (!st->deterministic || (perf)[i_].determinism == CUDNN_DETERMINISTIC)) { \
                (en)->algo = (int)(perf)[i_].algo;                                       \
                (en)->algo_ws = (perf)[i_].memory;                                       \
                (en)->math = (perf)[i_].mathType;                                        \
                break;                                                                   \
            }                                                                            \
    } while (0)

/* The workspace to measure with: the largest any heuristic candidate asks for, capped by the
 * backend's limit (cuda_workspace caps), so small networks do not reserve the whole limit. */
#define WS_WANT(perf, n, out)                                                            \
    do {                                                                                 \
        for (int i_ = 0; i_ < (n); i_++)                                                 \
            if ((perf)[i_].status == CUDNN_STATUS_SUCCESS && (perf)[i_].memory > (out))  \
                (out) = (perf)[i_].memory;                                               \
    } while (0)

/* Measures on the caller's inputs, writing a scratch output so that out (beta!) is intact. */
static void choose_algo(backend *be, conv_entry *en, const void *in0, const void *in1)
{
    cuda_state *st = cuda_of(be);
    cudnnHandle_t h = st->cudnn;
    const conv_key *k = &en->key;
    const int64_t *o = k->op == CONV_FWD ? k->y : k->op == CONV_BWD_DATA ? k->x : k->w;
    size_t out_bytes = (size_t)(o[0] * o[1] * o[2] * o[3]) * esize(k);
    if (k->op == CONV_BWD_DATA && en->padded)
        out_bytes = (size_t)(k->x[0] * k->x[1] * en->th * en->tw) * esize(k);
    void *scratch_out, *ws;
    cnn_err e = {0};
    if (be->ops->alloc(be, out_bytes, &scratch_out, &e) < 0)
        cnn_fatal("convolution algorithm search: %s", e.msg);
    size_t want = 0, ws_bytes;
    int n = 0;
    if (k->op == CONV_FWD) {
        cudnnConvolutionFwdAlgoPerf_t p[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        CNN_CUDNN(cudnnGetConvolutionForwardAlgorithm_v7(h, en->xd, en->wd, en->cd, en->yd,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, p));
        WS_WANT(p, n, want);
        ws_bytes = cuda_workspace(be, want, &ws);
        CNN_CUDNN(cudnnFindConvolutionForwardAlgorithmEx(h, en->xd, in0, en->wd, in1, en->cd,
                                                         en->yd, scratch_out,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n,
                                                         p, ws, ws_bytes));
        PICK(p, n, ws_bytes, en);
    } else if (k->op == CONV_BWD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t p[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        CNN_CUDNN(cudnnGetConvolutionBackwardDataAlgorithm_v7(
            h, en->wd, en->yd, en->cd, en->xd, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, p));
        WS_WANT(p, n, want);
        ws_bytes = cuda_workspace(be, want, &ws);
        CNN_CUDNN(cudnnFindConvolutionBackwardDataAlgorithmEx(
            h, en->wd, in1, en->yd, in0, en->cd, en->xd, scratch_out,
            CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, p, ws, ws_bytes));
        PICK(p, n, ws_bytes, en);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t p[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        CNN_CUDNN(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
            h, en->xd, en->yd, en->cd, en->wd, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, p));
        WS_WANT(p, n, want);
        ws_bytes = cuda_workspace(be, want, &ws);
        CNN_CUDNN(cudnnFindConvolutionBackwardFilterAlgorithmEx(
            h, en->xd, in0, en->yd, in1, en->cd, en->wd, scratch_out,
            CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, p, ws, ws_bytes));
        PICK(p, n, ws_bytes, en);
    }
    be->ops->free(be, scratch_out); /* back to the pool; stream order keeps reuse safe */
    if (en->algo < 0) {
        char b[512];
        cnn_fatal("cuDNN found no %s%s algorithm within the %.1f MiB workspace limit "
                  "for %s; raise the workspace limit (cuda.workspace_mb)%s",
                  st->deterministic ? "deterministic " : "",
                  k->dt == DTYPE_F32 ? "fp32 (FMA)" : "f32-accumulating",
                  (double)st->workspace_limit / (1 << 20), key_str(k, b, sizeof b),
                  st->deterministic ? " or allow nondeterministic algorithms "
                                      "(cuda.deterministic: false)" : "");
    }
    /* 16-bit data run with the math type they were measured with (as PyTorch does; the
     * descriptor's initial type only opens the search); fp32 stays FMA (no TF32). */
    if (k->dt != DTYPE_F32)
        CNN_CUDNN(cudnnSetConvolutionMathType(en->cd, en->math));
}

/* ---- execution ---- */

/* Where tmp's reached region starts: row pad_h, column pad_w (of channel 0 in NCHW, of the
 * first pixel's channels in channels-last). */
static void *tmp_origin(const conv_entry *en)
{
    const conv_key *k = &en->key;
    int64_t px = k->d.pad_h * en->tw + k->d.pad_w, c = k->lay == LAYOUT_NHWC ? k->x[1] : 1;
    return (char *)en->tmp + (size_t)(px * c) * esize(k);
}

/* tmp = x zero-padded: the reached ch x cw region of x lands at (pad_h, pad_w). */
static void pad_in(backend *be, const conv_entry *en, const void *x)
{
    cuda_state *st = cuda_of(be);
    const conv_key *k = &en->key;
    size_t bytes = (size_t)(k->x[0] * k->x[1] * en->th * en->tw) * esize(k);
    CNN_CUDA(cudaMemsetAsync(en->tmp, 0, bytes, st->stream));
    if (!en->tmp_view)
        return;
    const float one = 1.0f, zero = 0.0f;
    CNN_CUDNN(cudnnTransformTensor(st->cudnn, &one, en->user_view, x, &zero, en->tmp_view,
                                   tmp_origin(en)));
}

/* dx = (reached region of tmp) + beta * dx; rows/columns no window reaches get beta * dx. */
static void crop_out(backend *be, const conv_entry *en, void *dx, float beta)
{
    cuda_state *st = cuda_of(be);
    const conv_key *k = &en->key;
    if (beta == 0.0f) {
        size_t bytes = (size_t)(k->x[0] * k->x[1] * k->x[2] * k->x[3]) * esize(k);
        CNN_CUDA(cudaMemsetAsync(dx, 0, bytes, st->stream));
    } else if (beta != 1.0f) {
        CNN_CUDNN(cudnnScaleTensor(st->cudnn, en->user_full, dx, &beta));
    }
    if (!en->tmp_view)
        return;
    const float one = 1.0f;
    CNN_CUDNN(cudnnTransformTensor(st->cudnn, &one, en->tmp_view, tmp_origin(en), &one,
                                   en->user_view, dx));
}

static void run_legacy(backend *be, const conv_entry *en, const void *in0, const void *in1,
                       void *dst, float b)
{
    cuda_state *st = cuda_of(be);
    const conv_key *k = &en->key;
    void *ws = NULL;
    size_t ws_bytes = cuda_workspace(be, en->algo_ws, &ws);
    const float one = 1.0f;
    if (k->op == CONV_FWD)
        CNN_CUDNN(cudnnConvolutionForward(st->cudnn, &one, en->xd, in0, en->wd, in1, en->cd,
                                          (cudnnConvolutionFwdAlgo_t)en->algo, ws, ws_bytes, &b,
                                          en->yd, dst));
    else if (k->op == CONV_BWD_DATA)
        CNN_CUDNN(cudnnConvolutionBackwardData(st->cudnn, &one, en->wd, in1, en->yd, in0,
                                               en->cd, (cudnnConvolutionBwdDataAlgo_t)en->algo,
                                               ws, ws_bytes, &b, en->xd, dst));
    else
        CNN_CUDNN(cudnnConvolutionBackwardFilter(st->cudnn, &one, en->xd, in0, en->yd, in1,
                                                 en->cd,
                                                 (cudnnConvolutionBwdFilterAlgo_t)en->algo, ws,
                                                 ws_bytes, &b, en->wd, dst));
}

/* The plan's (x, w, y) buffers in the order of conv_op. */
static void plan_ptrs(const conv_key *k, const void *in0, const void *in1, void *dst,
                      void *p[3])
{
    p[0] = k->op == CONV_BWD_DATA ? dst : (void *)in0;
    p[1] = k->op == CONV_BWD_FILTER ? dst : (void *)in1;
    p[2] = k->op == CONV_FWD ? dst : k->op == CONV_BWD_DATA ? (void *)in0 : (void *)in1;
}

/* ms per call of the legacy algorithm (beta 0 into dst, which the caller overwrites). */
static float time_legacy(backend *be, const conv_entry *en, const void *in0, const void *in1,
                         void *dst)
{
    cuda_state *st = cuda_of(be);
    cudaEvent_t ev[2];
    CNN_CUDA(cudaEventCreate(&ev[0]));
    CNN_CUDA(cudaEventCreate(&ev[1]));
    run_legacy(be, en, in0, in1, dst, 0.0f);
    CNN_CUDA(cudaEventRecord(ev[0], st->stream));
    for (int i = 0; i < 3; i++)
        run_legacy(be, en, in0, in1, dst, 0.0f);
    CNN_CUDA(cudaEventRecord(ev[1], st->stream));
    CNN_CUDA(cudaEventSynchronize(ev[1]));
    float ms;
    CNN_CUDA(cudaEventElapsedTime(&ms, ev[0], ev[1]));
    CNN_CUDA(cudaEventDestroy(ev[0]));
    CNN_CUDA(cudaEventDestroy(ev[1]));
    return ms / 3;
}

/* Keeps the graph API's fastest plan when it beats the legacy algorithm by over 3%. */
static void choose_plan(backend *be, conv_entry *en, const void *in0, const void *in1,
                        void *dst)
{
    const conv_key *k = &en->key;
    en->plan_tried = true;
    if (k->d.groups != 1)
        return;
    conv_plan_spec sp = {.op = (int)k->op,
                         .dt = (int)cudnn_type(k->dt),
                         .nhwc = k->lay == LAYOUT_NHWC,
                         .deterministic = cuda_of(be)->deterministic,
                         .pad = {en->padded ? 0 : k->d.pad_h, en->padded ? 0 : k->d.pad_w},
                         .stride = {k->d.stride_h, k->d.stride_w},
                         .dil = {k->d.dil_h, k->d.dil_w}};
    memcpy(sp.x, k->x, sizeof sp.x);
    memcpy(sp.w, k->w, sizeof sp.w);
    memcpy(sp.y, k->y, sizeof sp.y);
    if (en->padded) {
        sp.x[2] = en->th;
        sp.x[3] = en->tw;
    }
    float legacy_ms = time_legacy(be, en, in0, in1, dst), plan_ms = 0.0f;
    size_t plan_ws = 0;
    void *p[3];
    plan_ptrs(k, in0, in1, dst, p);
    en->plan = conv_plan_find(be, &sp, p[0], p[1], p[2], cuda_of(be)->workspace_limit,
                              &plan_ms, &plan_ws);
    if (en->plan && !(plan_ms < 0.97f * legacy_ms)) {
        conv_plan_free(en->plan);
        en->plan = NULL;
    }
}

/* in0/in1/out in the order of conv_op: fwd (x, w -> y), bwd_data (dy, w -> dx),
 * bwd_filter (x, dy -> dw). */
static void conv_run(backend *be, const conv_key *k, const void *in0, const void *in1,
                     void *out, float beta)
{
    conv_entry *en = cache_get(be, k);
    if (en->padded && k->op != CONV_BWD_DATA) {
        pad_in(be, en, in0);
        in0 = en->tmp;
    }
    void *dst = en->padded && k->op == CONV_BWD_DATA ? (void *)en->tmp : out;
    float b = dst == out ? beta : 0.0f;
    if (en->algo < 0)
        choose_algo(be, en, in0, in1);
    if (!en->plan_tried && b == 0.0f)
        choose_plan(be, en, in0, in1, dst);
    void *p[3];
    plan_ptrs(k, in0, in1, dst, p);
    if (en->plan && b == 0.0f && conv_plan_fits(en->plan, p[0], p[1], p[2])) {
        void *ws = NULL;
        cuda_workspace(be, conv_plan_ws(en->plan), &ws);
        conv_plan_run(be, en->plan, p[0], p[1], p[2], ws);
    } else {
        run_legacy(be, en, in0, in1, dst, b);
    }
    if (dst != out)
        crop_out(be, en, out, beta);
}

/* x, w and y (or their gradients) of one float dtype and one layout. */
static conv_key make_key(conv_op op, const conv_desc *d, const tensor *x, const tensor *w,
                         const tensor *y)
{
    CUDA_EXPECT_FLOAT(x);
    CUDA_EXPECT(w, x->dt);
    CUDA_EXPECT(y, x->dt);
    conv_key k;
    memset(&k, 0, sizeof k);
    k.op = op;
    k.dt = x->dt;
    k.d = *d;
    if (x->s.nd != 4 || w->s.nd != 4 || y->s.nd != 4)
        cnn_fatal("cuda backend: %s takes 4-d tensors, got x %dd, w %dd, y %dd", op_names[op],
                  x->s.nd, w->s.nd, y->s.nd);
    CUDA_SAME_LAYOUT(x, w);
    CUDA_SAME_LAYOUT(x, y);
    k.lay = x->lay;
    memcpy(k.x, x->s.d, sizeof k.x);
    memcpy(k.w, w->s.d, sizeof k.w);
    memcpy(k.y, y->s.d, sizeof k.y);
    return k;
}

static void cuda_conv_fwd(backend *be, const conv_desc *d, const tensor *x, const tensor *w,
                          tensor *y, float beta)
{
    conv_key k = make_key(CONV_FWD, d, x, w, y);
    conv_run(be, &k, x->data, w->data, y->data, beta);
}

static void cuda_conv_bwd_data(backend *be, const conv_desc *d, const tensor *dy,
                               const tensor *w, tensor *dx, float beta)
{
    conv_key k = make_key(CONV_BWD_DATA, d, dx, w, dy);
    conv_run(be, &k, dy->data, w->data, dx->data, beta);
}

static void cuda_conv_bwd_filter(backend *be, const conv_desc *d, const tensor *x,
                                 const tensor *dy, tensor *dw, float beta)
{
    conv_key k = make_key(CONV_BWD_FILTER, d, x, dw, dy);
    conv_run(be, &k, x->data, dy->data, dw->data, beta);
}

void cuda_install_conv(backend_ops *ops)
{
    ops->conv_fwd = cuda_conv_fwd;
    ops->conv_bwd_data = cuda_conv_bwd_data;
    ops->conv_bwd_filter = cuda_conv_bwd_filter;
}
