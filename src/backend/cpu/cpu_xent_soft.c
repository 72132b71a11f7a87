/* CPU soft-target cross-entropy (mixup, CutMix) and argmax over channels (evaluation).
 * Soft xent: logits and targets f32 (N, C); loss = mean over counted rows of
 * -sum_c t_c log p_c, a row counting when its targets sum to nonzero (padding rows are all
 * zero). log p_c = x_c - lse with lse = m + log sum exp(x - m): stable for any logit range,
 * sums in double, row partials over a fixed number of blocks so the loss is bitwise the same
 * for any thread count. Reference: torch.nn.functional.cross_entropy with class
 * probabilities (PyTorch >= 1.10), whose gradient is sum(t) * p - t per row. */
#include <math.h>

#include "cpu_impl.h"
#include "cpu_math.h"

#define RED_BLOCKS 64 /* fixed partial sums: the summation order ignores the thread count */

/* Softmax of row x into p; returns lse = m + log(sum exp(x - m)). */
static double softmax_row(const float *x, float *p, int64_t c)
{
    float mx = x[0];
    for (int64_t k = 1; k < c; k++)
        mx = x[k] > mx ? x[k] : mx;
    double sum = 0.0;
    for (int64_t k = 0; k < c; k++) {
        float d = x[k] - mx;
        float ex = cpu_exp_inrange(d < -87.0f ? -87.0f : d);
        p[k] = ex;
        sum += ex;
    }
    float inv = (float)(1.0 / sum);
    for (int64_t k = 0; k < c; k++)
        p[k] *= inv;
    return (double)mx + log(sum);
}

/* -sum_k t_k log p_k of one row = sum_k t_k (lse - x_k); zero targets add nothing (so a
 * -inf logit of a class with no target mass does not make 0 * inf). *tsum: sum of t. */
static double row_loss(const float *x, const float *t, int64_t c, double lse, double *tsum)
{
    double acc = 0.0, ts = 0.0;
    for (int64_t k = 0; k < c; k++) {
        if (t[k] == 0.0f)
            continue;
        ts += t[k];
        acc += (double)t[k] * (lse - (double)x[k]);
    }
    *tsum = ts;
    return acc;
}

static void expect_pair(const tensor *a, const tensor *b)
{
    CNN_ASSERT(a->s.nd == 2 && shape_eq(&a->s, &b->s));
}

static void cpu_xent_soft_fwd(backend *be, const tensor *logits, const tensor *target,
                              tensor *prob, tensor *loss)
{
    (void)be;
    CPU_EXPECT(logits, DTYPE_F32);
    CPU_EXPECT(target, DTYPE_F32);
    CPU_EXPECT(prob, DTYPE_F32);
    CPU_EXPECT(loss, DTYPE_F32);
    expect_pair(logits, target);
    CNN_ASSERT(tensor_numel(prob) == tensor_numel(logits) && tensor_numel(loss) == 1);
    int64_t n = logits->s.d[0], c = logits->s.d[1];
    const float *x = logits->data, *t = target->data;
    float *p = prob->data;
    int nb = n < RED_BLOCKS ? (int)n : RED_BLOCKS;
    double part[RED_BLOCKS];
    int64_t cnt[RED_BLOCKS];
#pragma omp parallel for schedule(static) if (n * c > 32768)
    for (int b = 0; b < nb; b++) {
        double s = 0.0;
        int64_t k = 0;
        for (int64_t i = n * b / nb; i < n * (b + 1) / nb; i++) {
            double lse = softmax_row(x + i * c, p + i * c, c), ts;
            double l = row_loss(x + i * c, t + i * c, c, lse, &ts);
            if (ts != 0.0) {
                s += l;
                k++;
            }
        }
        part[b] = s;
        cnt[b] = k;
    }
    double sum = 0.0;
    int64_t count = 0;
    for (int b = 0; b < nb; b++) {
        sum += part[b];
        count += cnt[b];
    }
    /* No counted row (all padding): 0, as the hard-label loss gives when all are ignored. */
    *(float *)loss->data = count ? (float)(sum / (double)count) : 0.0f;
}

static double row_tsum(const float *t, int64_t c)
{
    double s = 0.0;
    for (int64_t k = 0; k < c; k++)
        s += t[k];
    return s;
}

/* dx_k = dloss / count * (sum(t) p_k - t_k) for counted rows, 0 for the others. */
static void cpu_xent_soft_bwd(backend *be, const tensor *prob, const tensor *target,
                              const tensor *dloss, tensor *dlogits)
{
    (void)be;
    CPU_EXPECT(prob, DTYPE_F32);
    CPU_EXPECT(target, DTYPE_F32);
    CPU_EXPECT(dloss, DTYPE_F32);
    CPU_EXPECT(dlogits, DTYPE_F32);
    expect_pair(prob, target);
    CNN_ASSERT(tensor_numel(dlogits) == tensor_numel(prob));
    int64_t n = prob->s.d[0], c = prob->s.d[1], count = 0;
    const float *p = prob->data, *t = target->data;
    float *d = dlogits->data;
    for (int64_t i = 0; i < n; i++)
        count += row_tsum(t + i * c, c) != 0.0;
    float scale = count ? (float)(*(const float *)dloss->data / (double)count) : 0.0f;
#pragma omp parallel for schedule(static) if (n * c > 32768)
    for (int64_t i = 0; i < n; i++) {
        const float *pr = p + i * c, *tr = t + i * c;
        double ts = row_tsum(tr, c);
        float w = ts != 0.0 ? scale : 0.0f, tsf = (float)ts;
        for (int64_t k = 0; k < c; k++)
            d[i * c + k] = w * (tsf * pr[k] - tr[k]);
    }
}

/* idx[n, q] = the first c with the largest x[n, c, q]; NaN never wins over a number (it
 * compares false), so only an all-NaN column gives 0. */
static void cpu_argmax_channel(backend *be, const tensor *x, tensor *idx)
{
    (void)be;
    CPU_EXPECT(x, DTYPE_F32);
    CPU_EXPECT(idx, DTYPE_I32);
    CNN_ASSERT(x->s.nd >= 2);
    int64_t n = x->s.d[0], c = x->s.d[1], hw = shape_inner(&x->s, 2);
    CNN_ASSERT(tensor_numel(idx) == n * hw);
    const float *xs = x->data;
    int32_t *out = idx->data;
#pragma omp parallel for schedule(static) if (n * c * hw > 65536)
    for (int64_t q = 0; q < n * hw; q++) {
        const float *b = xs + (q / hw) * c * hw + q % hw;
        int32_t best = 0;
        float bv = b[0];
        for (int64_t k = 1; k < c; k++) {
            float v = b[k * hw];
            if (v > bv || (bv != bv && v == v)) {
                bv = v;
                best = (int32_t)k;
            }
        }
        out[q] = best;
    }
}

void cpu_install_xent_soft(backend_ops *ops)
{
    ops->xent_soft_fwd = cpu_xent_soft_fwd;
    ops->xent_soft_bwd = cpu_xent_soft_bwd;
    ops->argmax_channel = cpu_argmax_channel;
}
