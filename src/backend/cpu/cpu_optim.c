/* Optimizer CPU ops: the gradient's sum of squares, the step's gradient multiplier, and the
 * fused SGD and AdamW updates of torch.optim (formulas in backend.h, operation order as in
 * PyTorch 1.13's single-tensor loops so float results agree to rounding), and the dynamic
 * loss scale's update.
 * sumsq is deterministic whatever the thread count: the vector is cut into at most
 * SUMSQ_BLOCKS blocks whose size depends only on n, each summed in double, and the block sums
 * are added in block order. The update kernels read coef = [c, skip] from memory and leave
 * everything untouched when skip is set. */
#include <math.h>

#include "cpu_impl.h"

#define SUMSQ_BLOCKS 1024
#define SUMSQ_MIN_BLOCK 4096

static void cpu_sumsq(backend *be, const tensor *x, tensor *out, float beta)
{
    (void)be;
    CPU_EXPECT(x, DTYPE_F32);
    CPU_EXPECT(out, DTYPE_F32);
    CNN_ASSERT(tensor_numel(out) == 1);
    const float *xp = x->data;
    int64_t n = tensor_numel(x);
    int64_t bs = (n + SUMSQ_BLOCKS - 1) / SUMSQ_BLOCKS;
    if (bs < SUMSQ_MIN_BLOCK)
        bs = SUMSQ_MIN_BLOCK;
    int64_t nb = (n + bs - 1) / bs;
    double part[SUMSQ_BLOCKS];
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        int64_t hi = (b + 1) * bs < n ? (b + 1) * bs : n;
        double s = 0.0;
        for (int64_t i = b * bs; i < hi; i++)
            s += (double)xp[i] * (double)xp[i];
        part[b] = s;
    }
    double s = 0.0;
    for (int64_t b = 0; b < nb; b++)
        s += part[b];
    float *o = out->data;
    o[0] = beta == 0.0f ? (float)s : (float)s + beta * o[0];
}

/* 1 / scale[0] rounded to f32 (PyTorch's unscale takes the reciprocal in double, then float);
 * NULL: 1. */
static float inv_of(const tensor *scale)
{
    if (!scale)
        return 1.0f;
    CPU_EXPECT(scale, DTYPE_F32);
    CNN_ASSERT(tensor_numel(scale) >= 1);
    return (float)(1.0 / ((const float *)scale->data)[0]);
}

/* Computed in double and rounded once; PyTorch's clip_grad_norm_ computes the same
 * expression in float32 (a difference of an ulp or so in c). */
static void cpu_grad_coef(backend *be, const tensor *sumsq, float max_norm, const tensor *scale,
                          tensor *coef)
{
    (void)be;
    CPU_EXPECT(sumsq, DTYPE_F32);
    CPU_EXPECT(coef, DTYPE_F32);
    CNN_ASSERT(tensor_numel(sumsq) == 1 && tensor_numel(coef) == 2);
    float inv_scale = inv_of(scale);
    double ss = ((const float *)sumsq->data)[0], c = inv_scale;
    float *o = coef->data;
    if (!isfinite(ss)) {
        o[0] = 0.0f;
        o[1] = 1.0f;
        return;
    }
    if (max_norm > 0.0f) {
        double r = max_norm / (sqrt(ss) * inv_scale + 1e-6);
        c *= r < 1.0 ? r : 1.0;
    }
    o[0] = (float)c;
    o[1] = 0.0f;
}

/* GradScaler.update (PyTorch 1.13 aten/src/ATen/native/cuda/AmpKernels.cu): growth is capped at
 * 2^126 instead of being refused when it overflows, so the scale stays finite. */
static void cpu_loss_scale_update(backend *be, tensor *scale, const tensor *coef, float growth,
                                  float backoff, int interval)
{
    (void)be;
    CPU_EXPECT(scale, DTYPE_F32);
    CPU_EXPECT(coef, DTYPE_F32);
    CNN_ASSERT(tensor_numel(scale) == 2 && tensor_numel(coef) == 2 && interval >= 1);
    float *s = scale->data;
    if (((const float *)coef->data)[1] != 0.0f) {
        s[0] *= backoff;
        s[1] = 0.0f;
        return;
    }
    s[1] += 1.0f;
    if (s[1] >= (float)interval) {
        float grown = s[0] * growth;
        s[0] = grown < 0x1p126f ? grown : 0x1p126f;
        s[1] = 0.0f;
    }
}

/* [c, skip] of a step; NULL means an unscaled gradient that is always applied. */
static void read_coef(const tensor *coef, float *c, bool *skip)
{
    *c = 1.0f;
    *skip = false;
    if (!coef)
        return;
    CPU_EXPECT(coef, DTYPE_F32);
    CNN_ASSERT(tensor_numel(coef) == 2);
    const float *p = coef->data;
    *c = p[0];
    *skip = p[1] != 0.0f;
}

static void cpu_sgd_update(backend *be, tensor *w, const tensor *g, tensor *mom,
                           const optim_sgd_args *a, const tensor *coef)
{
    (void)be;
    CPU_EXPECT(w, DTYPE_F32);
    CPU_EXPECT(g, DTYPE_F32);
    int64_t n = tensor_numel(w);
    CNN_ASSERT(tensor_numel(g) == n);
    float c;
    bool skip;
    read_coef(coef, &c, &skip);
    if (skip)
        return;
    float *wp = w->data, *mp = NULL;
    const float *gp = g->data;
    const float lr = a->lr, m = a->momentum, wd = a->weight_decay;
    if (m != 0.0f) {
        CPU_EXPECT(mom, DTYPE_F32);
        CNN_ASSERT(tensor_numel(mom) == n);
        mp = mom->data;
    }
    const bool first = a->first, nest = a->nesterov;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float d = gp[i] * c;
        if (wd != 0.0f)
            d = d + wd * wp[i];
        if (mp) {
            float b = first ? d : m * mp[i] + d;
            mp[i] = b;
            d = nest ? d + m * b : b;
        }
        wp[i] = wp[i] - lr * d;
    }
}

static void cpu_adamw_update(backend *be, tensor *w, const tensor *g, tensor *m, tensor *v,
                             const optim_adamw_args *a, const tensor *coef)
{
    (void)be;
    CPU_EXPECT(w, DTYPE_F32);
    CPU_EXPECT(g, DTYPE_F32);
    CPU_EXPECT(m, DTYPE_F32);
    CPU_EXPECT(v, DTYPE_F32);
    int64_t n = tensor_numel(w);
    CNN_ASSERT(tensor_numel(g) == n && tensor_numel(m) == n && tensor_numel(v) == n);
    CNN_ASSERT(a->step >= 1);
    float c;
    bool skip;
    read_coef(coef, &c, &skip);
    if (skip)
        return;
    /* Host scalars as PyTorch forms them (Python doubles, rounded once to float). */
    const float decay = (float)(1.0 - (double)a->lr * a->weight_decay);
    const float step_size = (float)(a->lr / (1.0 - pow(a->beta1, (double)a->step)));
    const float bc2_sqrt = (float)sqrt(1.0 - pow(a->beta2, (double)a->step));
    const float b1 = a->beta1, b2 = a->beta2, eps = a->eps;
    const float k1 = (float)(1.0 - (double)b1), k2 = (float)(1.0 - (double)b2);
    float *wp = w->data, *mp = m->data, *vp = v->data;
    const float *gp = g->data;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float gi = gp[i] * c;
        float wi = wp[i] * decay;
        float mi = mp[i] * b1 + k1 * gi;
        float vi = vp[i] * b2 + k2 * gi * gi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        mp[i] = mi;
        vp[i] = vi;
        wp[i] = wi + (-step_size * mi) / denom; /* addcdiv: value * t1 / t2 */
    }
}

void cpu_install_optim(backend_ops *ops)
{
    ops->sumsq = cpu_sumsq;
    ops->grad_coef = cpu_grad_coef;
    ops->loss_scale_update = cpu_loss_scale_update;
    ops->sgd_update = cpu_sgd_update;
    ops->adamw_update = cpu_adamw_update;
}
