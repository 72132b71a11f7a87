/* Which cuDNN algorithm a convolution entry runs: the legacy algorithm measured once with
 * cudnnFind*AlgorithmEx on the first call (algorithms that do not support the dtype or
 * layout report so there and are skipped), then, on the first call with beta 0, the graph
 * API's engine configurations (cuda_conv_engine.c, as PyTorch does), whose fastest plan is
 * kept where it beats the legacy algorithm measured the same way. */
#include <string.h>

#include "cuda_conv_impl.h"

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

/* A search call (cudnnGet*_v7, cudnnFind*Ex): NOT_SUPPORTED means no algorithm takes the
 * descriptors (n = 0, which conv_choose_algo reports); any other failure is a fault. */
#define SEARCH(call, n)                                                                  \
    do {                                                                                 \
        cudnnStatus_t cnn_ss_ = (call);                                                  \
        if (cnn_ss_ == CUDNN_STATUS_NOT_SUPPORTED)                                       \
            (n) = 0;                                                                     \
        else if (cnn_ss_ != CUDNN_STATUS_SUCCESS)                                        \
            cnn_fatal("%s failed: %s", #call, cudnnGetErrorString(cnn_ss_));             \
    } while (0)

/* Measures on the caller's inputs, writing a scratch output so that out (beta!) is intact. */
bool conv_choose_algo(backend *be, conv_entry *en, const void *in0, const void *in1)
{
    cuda_state *st = cuda_of(be);
    cudnnHandle_t h = st->cudnn;
    const conv_key *k = &en->key;
    const int64_t *o = k->op == CONV_FWD ? k->y : k->op == CONV_BWD_DATA ? k->x : k->w;
    size_t out_bytes = (size_t)(o[0] * o[1] * o[2] * o[3]) * conv_esize(k);
    if (k->op == CONV_BWD_DATA && en->padded)
        out_bytes = (size_t)(k->x[0] * k->x[1] * en->th * en->tw) * conv_esize(k);
    void *scratch_out, *ws;
    cnn_err e = {0};
    if (be->ops->alloc(be, out_bytes, &scratch_out, &e) < 0)
        cnn_fatal("convolution algorithm search: %s", e.msg);
    size_t want = 0, ws_bytes;
    int n = 0;
    if (k->op == CONV_FWD) {
        cudnnConvolutionFwdAlgoPerf_t p[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        SEARCH(cudnnGetConvolutionForwardAlgorithm_v7(h, en->xd, en->wd, en->cd, en->yd,
                                                      CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, p),
               n);
        WS_WANT(p, n, want);
        ws_bytes = cuda_workspace(be, want, &ws);
        SEARCH(cudnnFindConvolutionForwardAlgorithmEx(h, en->xd, in0, en->wd, in1, en->cd,
                                                      en->yd, scratch_out,
                                                      CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, p,
                                                      ws, ws_bytes),
               n);
        PICK(p, n, ws_bytes, en);
    } else if (k->op == CONV_BWD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t p[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        SEARCH(cudnnGetConvolutionBackwardDataAlgorithm_v7(
               h, en->wd, en->yd, en->cd, en->xd, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, p),
               n);
        WS_WANT(p, n, want);
        ws_bytes = cuda_workspace(be, want, &ws);
        SEARCH(cudnnFindConvolutionBackwardDataAlgorithmEx(
               h, en->wd, in1, en->yd, in0, en->cd, en->xd, scratch_out,
               CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, p, ws, ws_bytes),
               n);
        PICK(p, n, ws_bytes, en);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t p[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        SEARCH(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
               h, en->xd, en->yd, en->cd, en->wd, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, p),
               n);
        WS_WANT(p, n, want);
        ws_bytes = cuda_workspace(be, want, &ws);
        SEARCH(cudnnFindConvolutionBackwardFilterAlgorithmEx(
               h, en->xd, in0, en->yd, in1, en->cd, en->wd, scratch_out,
               CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, p, ws, ws_bytes),
               n);
        PICK(p, n, ws_bytes, en);
    }
    be->ops->free(be, scratch_out); /* back to the pool; stream order keeps reuse safe */
    /* 16-bit data run with the math type they were measured with (as PyTorch does; the
     * descriptor's initial type only opens the search); fp32 stays FMA (no TF32). */
    if (en->algo >= 0 && k->dt != DTYPE_F32)
        CNN_CUDNN(cudnnSetConvolutionMathType(en->cd, en->math));
    return en->algo >= 0;
}

void conv_run_legacy(backend *be, const conv_entry *en, const void *in0, const void *in1,
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

void conv_plan_ptrs(const conv_key *k, const void *in0, const void *in1, void *dst, void *p[3])
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
    conv_run_legacy(be, en, in0, in1, dst, 0.0f);
    CNN_CUDA(cudaEventRecord(ev[0], st->stream));
    for (int i = 0; i < 3; i++)
        conv_run_legacy(be, en, in0, in1, dst, 0.0f);
    CNN_CUDA(cudaEventRecord(ev[1], st->stream));
    CNN_CUDA(cudaEventSynchronize(ev[1]));
    float ms;
    CNN_CUDA(cudaEventElapsedTime(&ms, ev[0], ev[1]));
    CNN_CUDA(cudaEventDestroy(ev[0]));
    CNN_CUDA(cudaEventDestroy(ev[1]));
    return ms / 3;
}

void conv_choose_plan(backend *be, conv_entry *en, const void *in0, const void *in1, void *dst)
{
    const conv_key *k = &en->key;
    en->plan_tried = true;
    if (k->d.groups != 1)
        return;
    conv_plan_spec sp = {.op = (int)k->op,
                         .dt = (int)conv_cudnn_type(k->dt),
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
    conv_plan_ptrs(k, in0, in1, dst, p);
    en->plan = conv_plan_find(be, &sp, p[0], p[1], p[2], cuda_of(be)->workspace_limit,
                              &plan_ms, &plan_ws);
    if (en->plan && !(plan_ms < 0.97f * legacy_ms)) {
        conv_plan_free(en->plan);
        en->plan = NULL;
    }
}
