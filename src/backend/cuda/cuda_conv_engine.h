/* cuDNN graph-API plans for one convolution (cuda_conv_engine.c), the path PyTorch takes:
 * the legacy API offers one configuration per algorithm, the graph API every engine with
 * each of its knob settings, and on several shapes (1x1 convolutions above all) the fastest
 * of those beats every legacy algorithm. cuda_conv.c keeps the legacy algorithm too and
 * uses a plan only where it measured faster. */
#ifndef CNN_BACKEND_CUDA_CONV_ENGINE_H
#define CNN_BACKEND_CUDA_CONV_ENGINE_H

#include "cuda_impl.h"

typedef struct conv_plan conv_plan;

/* What one plan computes: op 0 forward (a = x, b = w, c = y), 1 backward data (a = dx,
 * b = w, c = dy), 2 backward filter (a = x, b = dw, c = dy); out = result (beta 0). */
typedef struct conv_plan_spec {
    int op;
    int dt;   /* cudnnDataType_t of x, w and y (float, half or bfloat16); compute is f32 */
    int nhwc; /* x and y channels-last, w KRSC; else all three dense NCHW (w KCRS) */
    int deterministic; /* only engines without cuDNN's nondeterministic note */
    int64_t x[4], w[4], y[4]; /* logical dimensions; w (K, C, R, S), groups 1 */
    int64_t pad[2], stride[2], dil[2];
} conv_plan_spec;

/* The fastest plan within ws_limit bytes that keeps the dtype's numerics (fp32: no tensor
 * core, no down-conversion; half/bfloat16: tensor cores, but no reduction in 16 bits), timed
 * on the caller's buffers (out is overwritten); NULL when the graph API offers none.
 * *ms: its time per call; *ws_bytes: the workspace it needs. */
conv_plan *conv_plan_find(backend *be, const conv_plan_spec *sp, void *x, void *w, void *y,
                          size_t ws_limit, float *ms, size_t *ws_bytes);
/* The workspace bytes the plan needs. */
size_t conv_plan_ws(const conv_plan *p);
/* Whether these buffers are aligned as the plan was chosen for. */
bool conv_plan_fits(const conv_plan *p, const void *x, const void *w, const void *y);
void conv_plan_run(backend *be, conv_plan *p, void *x, void *w, void *y, void *ws);
void conv_plan_free(conv_plan *p);

#endif
