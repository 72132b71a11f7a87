/* cuDNN graph-API plans for one convolution: a one-operation graph (f32 compute type, data
 * f32, half or bfloat16), the engine configurations heuristics mode A and the fallback list
 * offer, minus those that would break the data type's numerics (fp32: tensor cores mean
 * TF32, down-conversion; any type: reduced-precision reduction; tensor cores are what
 * half/bfloat16 are for) and those that compile at run time, each timed on the caller's
 * buffers; the fastest is kept.
 * An engine that rejects the shape is skipped, not a fault: only descriptor calls that
 * cannot fail on valid input go through CNN_CUDNN. The graph API takes a layout as the
 * tensors' strides: channels-last x and y, and the filter KRSC, are (N, C, H, W) and
 * (K, C, R, S) with the channel stride 1. */
#include <stdint.h>
#include <stdlib.h>

#include "cuda_conv_engine.h"

typedef cudnnBackendDescriptor_t bdesc;

enum { UID_X = 1, UID_W = 2, UID_Y = 3, MAX_CFGS = 24, TIMED_RUNS = 3, N_KEEP = 6 };

struct conv_plan {
    bdesc plan;
    bdesc keep[N_KEEP]; /* tensors, convolution, operation, graph the plan was built from */
    int64_t align;
    size_t ws;
};

/* ---- descriptors with a running status: after the first failure the rest is skipped ---- */

static bdesc create(cudnnStatus_t *s, cudnnBackendDescriptorType_t t)
{
    bdesc d = NULL;
    if (*s == CUDNN_STATUS_SUCCESS)
        *s = cudnnBackendCreateDescriptor(t, &d);
    return *s == CUDNN_STATUS_SUCCESS ? d : NULL;
}

static void set(cudnnStatus_t *s, bdesc d, cudnnBackendAttributeName_t a,
                cudnnBackendAttributeType_t t, int64_t n, const void *v)
{
    if (*s == CUDNN_STATUS_SUCCESS)
        *s = cudnnBackendSetAttribute(d, a, t, n, v);
}

static void finalize(cudnnStatus_t *s, bdesc d)
{
    if (*s == CUDNN_STATUS_SUCCESS)
        *s = cudnnBackendFinalize(d);
}

static void destroy(bdesc d)
{
    if (d)
        CNN_CUDNN(cudnnBackendDestroyDescriptor(d));
}

static bdesc tensor_of(cudnnStatus_t *s, int64_t uid, const int64_t d[4], int64_t align,
                       int dt, bool nhwc)
{
    bdesc t = create(s, CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    int64_t strides[4] = {d[1] * d[2] * d[3], d[2] * d[3], d[3], 1};
    if (nhwc) {
        strides[1] = 1;
        strides[2] = d[3] * d[1];
        strides[3] = d[1];
    }
    cudnnDataType_t f = (cudnnDataType_t)dt;
    set(s, t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f);
    set(s, t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, d);
    set(s, t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides);
    set(s, t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    set(s, t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align);
    finalize(s, t);
    return t;
}

static bdesc conv_of(cudnnStatus_t *s, const conv_plan_spec *sp)
{
    bdesc c = create(s, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
    cudnnDataType_t f = CUDNN_DATA_FLOAT;
    cudnnConvolutionMode_t m = CUDNN_CROSS_CORRELATION;
    int64_t dims = 2;
    set(s, c, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f);
    set(s, c, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &m);
    set(s, c, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &dims);
    set(s, c, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, sp->dil);
    set(s, c, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, sp->stride);
    set(s, c, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, sp->pad);
    set(s, c, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, sp->pad);
    finalize(s, c);
    return c;
}

/* The operation of sp->op over tensors t (x, w, y) with alpha 1, beta 0. */
static bdesc op_of(cudnnStatus_t *s, int op, const bdesc t[3], bdesc conv)
{
    static const cudnnBackendDescriptorType_t type[3] = {
        CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
        CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
        CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR};
    /* x, w, y, convolution, alpha, beta */
    static const cudnnBackendAttributeName_t attr[3][6] = {
        {CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
         CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
         CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
         CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
         CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA},
        {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA},
        {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA,
         CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA}};
    bdesc o = create(s, type[op]);
    float alpha = 1.0f, beta = 0.0f;
    for (int i = 0; i < 3; i++)
        set(s, o, attr[op][i], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t[i]);
    set(s, o, attr[op][3], CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv);
    set(s, o, attr[op][4], CUDNN_TYPE_FLOAT, 1, &alpha);
    set(s, o, attr[op][5], CUDNN_TYPE_FLOAT, 1, &beta);
    finalize(s, o);
    return o;
}

static bdesc graph_of(cudnnStatus_t *s, cudnnHandle_t h, bdesc op)
{
    bdesc g = create(s, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    set(s, g, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &op);
    set(s, g, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
    finalize(s, g);
    return g;
}

/* Up to cap engine configurations of one heuristics mode into cfg; returns how many. */
static int heuristics(bdesc g, cudnnBackendHeurMode_t mode, bdesc *cfg, int cap)
{
    cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
    bdesc h = create(&s, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    set(&s, h, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g);
    set(&s, h, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
    finalize(&s, h);
    for (int i = 0; i < cap; i++)
        cfg[i] = create(&s, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    int64_t n = 0;
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnBackendGetAttribute(h, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, cap, &n, cfg);
    if (s != CUDNN_STATUS_SUCCESS || n < 0)
        n = 0;
    if (n > cap)
        n = cap;
    for (int i = (int)n; i < cap; i++) {
        destroy(cfg[i]);
        cfg[i] = NULL;
    }
    destroy(h);
    return (int)n;
}

/* Precompiled, no reduced-precision reduction, for fp32 data (f32 true) IEEE fp32: no
 * tensor-core or down-converting note, and when det is set no nondeterministic note. */
static bool allowed(bdesc cfg, bool f32, bool det)
{
    cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
    bdesc e = create(&s, CUDNN_BACKEND_ENGINE_DESCRIPTOR);
    int64_t n = 0, nn = 0, nb = 0;
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &e);
    cudnnBackendNumericalNote_t note[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                     CUDNN_TYPE_NUMERICAL_NOTE, CUDNN_NUMERICAL_NOTE_TYPE_COUNT,
                                     &nn, note);
    cudnnBackendBehaviorNote_t beh[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
    if (s == CUDNN_STATUS_SUCCESS &&
        cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                                 CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &nb,
                                 beh) != CUDNN_STATUS_SUCCESS)
        nb = 0;
    destroy(e);
    if (s != CUDNN_STATUS_SUCCESS)
        return false;
    for (int64_t i = 0; i < nn && i < CUDNN_NUMERICAL_NOTE_TYPE_COUNT; i++)
        if (note[i] == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION ||
            (det && note[i] == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC) ||
            (f32 && (note[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE ||
                     note[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS)))
            return false;
    for (int64_t i = 0; i < nb && i < CUDNN_BEHAVIOR_NOTE_TYPE_COUNT; i++)
        if (beh[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION)
            return false;
    return true;
}

static bdesc plan_of(cudnnHandle_t h, bdesc cfg, int64_t *ws)
{
    cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
    bdesc p = create(&s, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    set(&s, p, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg);
    set(&s, p, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
    finalize(&s, p);
    int64_t n = 0;
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnBackendGetAttribute(p, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                     CUDNN_TYPE_INT64, 1, &n, ws);
    if (s != CUDNN_STATUS_SUCCESS || *ws < 0) {
        destroy(p);
        return NULL;
    }
    return p;
}

static cudnnStatus_t execute(cudnnHandle_t h, bdesc plan, void *x, void *w, void *y, void *ws)
{
    cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
    bdesc vp = create(&s, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    int64_t uids[3] = {UID_X, UID_W, UID_Y};
    void *ptrs[3] = {x, w, y};
    set(&s, vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uids);
    set(&s, vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, ptrs);
    set(&s, vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws);
    finalize(&s, vp);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnBackendExecute(h, plan, vp);
    destroy(vp);
    return s;
}

/* ---- search ---- */

static int64_t align_of(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    int64_t al = 16;
    while (al > 1 && a % (uintptr_t)al)
        al /= 2;
    return al;
}

/* ms per call of plan p, or a negative value when it does not run. One untimed call first
 * (module loading); a plan whose first call already takes over twice the best is dropped. */
static float time_plan(cuda_state *st, bdesc p, void *x, void *w, void *y, void *ws,
                       float best, cudaEvent_t ev[2])
{
    CNN_CUDA(cudaEventRecord(ev[0], st->stream));
    if (execute(st->cudnn, p, x, w, y, ws) != CUDNN_STATUS_SUCCESS)
        return -1.0f;
    CNN_CUDA(cudaEventRecord(ev[1], st->stream));
    CNN_CUDA(cudaEventSynchronize(ev[1]));
    float ms;
    CNN_CUDA(cudaEventElapsedTime(&ms, ev[0], ev[1]));
    if (best > 0.0f && ms > 2.0f * best)
        return ms;
    CNN_CUDA(cudaEventRecord(ev[0], st->stream));
    for (int i = 0; i < TIMED_RUNS; i++)
        if (execute(st->cudnn, p, x, w, y, ws) != CUDNN_STATUS_SUCCESS)
            return -1.0f;
    CNN_CUDA(cudaEventRecord(ev[1], st->stream));
    CNN_CUDA(cudaEventSynchronize(ev[1]));
    CNN_CUDA(cudaEventElapsedTime(&ms, ev[0], ev[1]));
    return ms / TIMED_RUNS;
}

/* Finalized plans of the allowed configurations within ws_limit into plan/pws. */
static int make_plans(cudnnHandle_t h, bdesc g, bool f32, bool det, size_t ws_limit,
                      bdesc *plan, int64_t *pws)
{
    bdesc cfg[MAX_CFGS];
    int n = heuristics(g, CUDNN_HEUR_MODE_A, cfg, MAX_CFGS);
    n += heuristics(g, CUDNN_HEUR_MODE_FALLBACK, cfg + n, MAX_CFGS - n);
    int np = 0;
    for (int i = 0; i < n; i++) {
        bdesc p = allowed(cfg[i], f32, det) ? plan_of(h, cfg[i], &pws[np]) : NULL;
        if (p && (uint64_t)pws[np] <= ws_limit)
            plan[np++] = p;
        else
            destroy(p);
        destroy(cfg[i]);
    }
    return np;
}

conv_plan *conv_plan_find(backend *be, const conv_plan_spec *sp, void *x, void *w, void *y,
                          size_t ws_limit, float *ms, size_t *ws_bytes)
{
    cuda_state *st = cuda_of(be);
    int64_t al = align_of(x);
    al = align_of(w) < al ? align_of(w) : al;
    al = align_of(y) < al ? align_of(y) : al;
    cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
    bdesc keep[N_KEEP] = {NULL};
    keep[0] = tensor_of(&s, UID_X, sp->x, al, sp->dt, sp->nhwc);
    keep[1] = tensor_of(&s, UID_W, sp->w, al, sp->dt, sp->nhwc);
    keep[2] = tensor_of(&s, UID_Y, sp->y, al, sp->dt, sp->nhwc);
    keep[3] = conv_of(&s, sp);
    keep[4] = op_of(&s, sp->op, keep, keep[3]);
    keep[5] = graph_of(&s, st->cudnn, keep[4]);
    bdesc plan[MAX_CFGS];
    int64_t pws[MAX_CFGS], max_ws = 0;
    bool f32 = sp->dt == (int)CUDNN_DATA_FLOAT;
    int np = s == CUDNN_STATUS_SUCCESS
                 ? make_plans(st->cudnn, keep[5], f32, sp->deterministic, ws_limit, plan, pws)
                 : 0;
    for (int i = 0; i < np; i++)
        max_ws = pws[i] > max_ws ? pws[i] : max_ws;
    void *ws = NULL;
    if (np)
        cuda_workspace(be, (size_t)max_ws, &ws);
    cudaEvent_t ev[2];
    CNN_CUDA(cudaEventCreate(&ev[0]));
    CNN_CUDA(cudaEventCreate(&ev[1]));
    int best = -1;
    float best_ms = 0.0f;
    for (int i = 0; i < np; i++) {
        float t = time_plan(st, plan[i], x, w, y, ws, best_ms, ev);
        if (t > 0.0f && (best < 0 || t < best_ms)) {
            best = i;
            best_ms = t;
        }
    }
    CNN_CUDA(cudaEventDestroy(ev[0]));
    CNN_CUDA(cudaEventDestroy(ev[1]));
    for (int i = 0; i < np; i++)
        if (i != best)
            destroy(plan[i]);
    if (best < 0) {
        for (int i = 0; i < N_KEEP; i++)
            destroy(keep[i]);
        return NULL;
    }
    conv_plan *p = cnn_xcalloc(1, sizeof *p);
    p->plan = plan[best];
    for (int i = 0; i < N_KEEP; i++)
        p->keep[i] = keep[i];
    p->align = al;
    p->ws = (size_t)pws[best];
    *ms = best_ms;
    *ws_bytes = p->ws;
    return p;
}

size_t conv_plan_ws(const conv_plan *p) { return p->ws; }

bool conv_plan_fits(const conv_plan *p, const void *x, const void *w, const void *y)
{
    return align_of(x) >= p->align && align_of(w) >= p->align && align_of(y) >= p->align;
}

void conv_plan_run(backend *be, conv_plan *p, void *x, void *w, void *y, void *ws)
{
    CNN_CUDNN(execute(cuda_of(be)->cudnn, p->plan, x, w, y, ws));
}

void conv_plan_free(conv_plan *p)
{
    if (!p)
        return;
    destroy(p->plan);
    for (int i = 0; i < N_KEEP; i++)
        destroy(p->keep[i]);
    free(p);
}
