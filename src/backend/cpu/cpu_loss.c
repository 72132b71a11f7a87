/* CPU losses: softmax cross-entropy over dim 1 (classification (N, C) and per pixel
 * (N, C, H, ...)) with PyTorch's label_smoothing and ignore_index, and mean squared error.
 * Softmax subtracts the per-pixel max; sums of exponentials and the loss are accumulated in
 * double. Reductions run over a fixed number of blocks summed in order, so the loss is
 * bitwise the same for any thread count. Reference: torch.nn.functional.cross_entropy
 * (aten/src/ATen/native/LossNLL.cpp, cross_entropy_loss_label_smoothing) and mse_loss. */
#include <math.h>
#include <string.h>

#include "cpu_impl.h"
#include "cpu_math.h"

#define XENT_CHUNK 256 /* pixels per work unit; the unit's scratch rows live on the stack */
#define XENT_ROWS 8    /* rows of (N, C) per work unit: a batch of 64 still feeds 8 threads */
#define RED_BLOCKS 64  /* fixed partial sums: the summation order ignores the thread count */

/* Pixels q in [0, N * HW) are samples (N, C) or pixels of (N, C, H, W); class c of pixel q
 * sits at x[(q / HW) * C * HW + q % HW + c * HW]. A work unit is up to XENT_CHUNK pixels of
 * one sample (HW > 1: classes HW apart, pixels contiguous) or XENT_ROWS rows (HW == 1:
 * classes contiguous); either way pixel j of a unit sits at base + j * pstride. */
typedef struct xent_geom {
    const shape *s;       /* logits (N, C, ...) */
    int64_t n, c, hw;     /* hw: pixels per sample, 1 for (N, C) */
    int64_t per_n, units; /* units per sample (HW > 1), units in all */
    int64_t pstride;      /* 1 for pixels, C for rows */
} xent_geom;

typedef struct xent_unit {
    int64_t q0, base; /* first pixel, its offset in the logits */
    int len;
} xent_unit;

static xent_geom xent_geometry(const tensor *logits, const tensor *labels)
{
    CNN_ASSERT(logits->s.nd >= 2);
    xent_geom g = {.s = &logits->s, .n = logits->s.d[0], .c = logits->s.d[1],
                   .hw = shape_inner(&logits->s, 2)};
    CNN_ASSERT(tensor_numel(labels) == g.n * g.hw);
    if (g.hw == 1) {
        g.pstride = g.c;
        g.units = (g.n + XENT_ROWS - 1) / XENT_ROWS;
    } else {
        g.pstride = 1;
        g.per_n = (g.hw + XENT_CHUNK - 1) / XENT_CHUNK;
        g.units = g.n * g.per_n;
    }
    return g;
}

static xent_unit xent_unit_at(const xent_geom *g, int64_t u)
{
    xent_unit r;
    int64_t left;
    if (g->hw == 1) {
        r.q0 = u * XENT_ROWS;
        r.base = r.q0 * g->c;
        left = g->n - r.q0 < XENT_ROWS ? g->n - r.q0 : XENT_ROWS;
    } else {
        int64_t n = u / g->per_n, p0 = (u % g->per_n) * XENT_CHUNK;
        r.q0 = n * g->hw + p0;
        r.base = n * g->c * g->hw + p0;
        left = g->hw - p0;
    }
    r.len = (int)(left < XENT_CHUNK ? left : XENT_CHUNK);
    return r;
}

/* A label that is neither a class nor the ignore index is a data fault: no loss is right. */
static _Noreturn void xent_bad_label(const xent_geom *g, int64_t q, int32_t y, int ignore)
{
    if (g->hw == 1)
        cnn_fatal("cross-entropy: label %d of sample %lld is outside [0, %lld) and is not the "
                  "ignore index %d; check the dataset's labels against the number of classes",
                  (int)y, (long long)q, (long long)g->c, ignore);
    int64_t n = q / g->hw, p = q % g->hw, w = g->s->d[g->s->nd - 1];
    cnn_fatal("cross-entropy: label %d at sample %lld, pixel %lld (row %lld, column %lld) is "
              "outside [0, %lld) and is not the ignore index %d; check the dataset's masks "
              "against the number of classes", (int)y, (long long)n, (long long)p,
              (long long)(p / w), (long long)(p % w), (long long)g->c, ignore);
}

/* Per pixel of the unit: m = max_c x_c, s = sum_c exp(x_c - m), dev = sum_c (m - x_c), and
 * prob = exp(x - m) / s. One exp per element; subtracting m first keeps logits ~1e4 exact
 * (lse itself in float would lose ~1e-3). A NaN logit reaches s and the loss. */
static void softmax_pixels(const xent_geom *g, const float *xb, float *pb, int len, float *m,
                           double *s, double *dev)
{
    int64_t hw = g->hw;
    float inv[XENT_CHUNK];
    for (int j = 0; j < len; j++) {
        m[j] = xb[j];
        s[j] = dev[j] = 0.0;
    }
    for (int64_t c = 1; c < g->c; c++)
        for (int j = 0; j < len; j++) {
            float v = xb[c * hw + j];
            m[j] = v > m[j] ? v : m[j];
        }
    for (int64_t c = 0; c < g->c; c++) {
        float *pr = pb + c * hw;
        for (int j = 0; j < len; j++) {
            float d = xb[c * hw + j] - m[j];
            dev[j] -= d;
            pr[j] = d < -87.0f ? -87.0f : d;
        }
        for (int j = 0; j < len; j++) {
            float ex = cpu_exp_inrange(pr[j]);
            pr[j] = ex;
            s[j] += ex;
        }
    }
    for (int j = 0; j < len; j++)
        inv[j] = (float)(1.0 / s[j]);
    for (int64_t c = 0; c < g->c; c++)
        for (int j = 0; j < len; j++)
            pb[c * hw + j] *= inv[j];
}

/* The same for rows of (N, C): classes contiguous, so the loops run over classes. */
static void softmax_rows(const xent_geom *g, const float *xb, float *pb, int len, float *m,
                         double *s, double *dev)
{
    int64_t nc = g->c;
    for (int j = 0; j < len; j++) {
        const float *x = xb + j * nc;
        float *p = pb + j * nc;
        float mx = x[0];
#pragma omp simd reduction(max : mx)
        for (int64_t c = 1; c < nc; c++)
            mx = x[c] > mx ? x[c] : mx;
        double dv = 0.0, sum = 0.0;
#pragma omp simd reduction(+ : dv)
        for (int64_t c = 0; c < nc; c++) {
            float d = x[c] - mx;
            dv -= d;
            p[c] = d < -87.0f ? -87.0f : d;
        }
#pragma omp simd reduction(+ : sum)
        for (int64_t c = 0; c < nc; c++) {
            float ex = cpu_exp_inrange(p[c]);
            p[c] = ex;
            sum += ex;
        }
        float inv = (float)(1.0 / sum);
        for (int64_t c = 0; c < nc; c++)
            p[c] *= inv;
        m[j] = mx;
        s[j] = sum;
        dev[j] = dv;
    }
}

/* Whether label y of unit position q counts (is not the ignore index); a label outside
 * [0, C) is a fault in the dataset. */
static inline bool xent_counted(const xent_geom *g, int64_t q, int32_t y, int ignore)
{
    if (y == ignore)
        return false;
    if (y < 0 || y >= g->c)
        xent_bad_label(g, q, y, ignore);
    return true;
}

/* Softmax of one unit into prob; adds the loss of its counted pixels to *sum and their
 * number to *count. nll = lse - x_y and smooth = lse - mean_c x_c (= mean over classes of
 * -log p), with lse = m + log(s). */
static void xent_fwd_unit(const xent_geom *g, const xent_unit *u, const float *x,
                          const int32_t *lab, float *prob, float eps, int ignore, double *sum,
                          int64_t *count)
{
    float m[XENT_CHUNK];
    double s[XENT_CHUNK], dev[XENT_CHUNK];
    const float *xb = x + u->base;
    if (g->hw == 1)
        softmax_rows(g, xb, prob + u->base, u->len, m, s, dev);
    else
        softmax_pixels(g, xb, prob + u->base, u->len, m, s, dev);
    const int32_t *lb = lab + u->q0;
    double acc = 0.0;
    int64_t k = 0;
    for (int j = 0; j < u->len; j++) {
        int32_t y = lb[j];
        if (!xent_counted(g, u->q0 + j, y, ignore))
            continue;
        double lg = log(s[j]);
        double nll = (double)m[j] - xb[j * g->pstride + (int64_t)y * g->hw] + lg;
        double smooth = dev[j] / (double)g->c + lg; /* inf for a -inf logit: only if eps */
        acc += eps > 0.0f ? (1.0 - eps) * nll + eps * smooth : nll;
        k++;
    }
    *sum += acc;
    *count += k;
}

static void cpu_xent_fwd(backend *be, const tensor *logits, const tensor *labels,
                         float smoothing, int ignore, tensor *prob, tensor *loss)
{
    (void)be;
    CPU_EXPECT(logits, DTYPE_F32);
    CPU_EXPECT(labels, DTYPE_I32);
    CPU_EXPECT(prob, DTYPE_F32);
    CPU_EXPECT(loss, DTYPE_F32);
    xent_geom g = xent_geometry(logits, labels);
    CNN_ASSERT(tensor_numel(prob) == tensor_numel(logits) && tensor_numel(loss) == 1);
    int64_t units = g.units;
    int nb = units < RED_BLOCKS ? (int)units : RED_BLOCKS;
    double part[RED_BLOCKS];
    int64_t cnt[RED_BLOCKS];
#pragma omp parallel for schedule(static) if (tensor_numel(logits) > 32768)
    for (int b = 0; b < nb; b++) {
        double sum = 0.0;
        int64_t k = 0;
        for (int64_t u = units * b / nb; u < units * (b + 1) / nb; u++) {
            xent_unit un = xent_unit_at(&g, u);
            xent_fwd_unit(&g, &un, logits->data, labels->data, prob->data, smoothing, ignore,
                          &sum, &k);
        }
        part[b] = sum;
        cnt[b] = k;
    }
    double sum = 0.0;
    int64_t count = 0;
    for (int b = 0; b < nb; b++) {
        sum += part[b];
        count += cnt[b];
    }
    /* Every label ignored: PyTorch's mean gives 0/0 = NaN; we give 0 (and a zero gradient)
     * so one fully ignored crop does not poison the all-reduced gradients. */
    *(float *)loss->data = count ? (float)(sum / (double)count) : 0.0f;
}

static int64_t xent_count(const int32_t *lab, int64_t n, int ignore)
{
    int64_t count = 0;
#pragma omp parallel for schedule(static) reduction(+ : count) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        count += lab[i] != ignore;
    return count;
}

/* d loss / d x_c = w * (p_c - eps/C - (1 - eps) [c == y]) for one unit, w = dloss / count
 * for a counted pixel and 0 for an ignored one. */
static void xent_bwd_unit(const xent_geom *g, const xent_unit *u, const float *p,
                          const int32_t *lab, float *d, float scale, float off, float hit,
                          int ignore)
{
    const int32_t *lb = lab + u->q0;
    const float *pb = p + u->base;
    float *db = d + u->base;
    int64_t hw = g->hw, ps = g->pstride;
    float w[XENT_CHUNK];
    for (int j = 0; j < u->len; j++)
        w[j] = lb[j] == ignore ? 0.0f : scale;
    if (hw == 1)
        for (int j = 0; j < u->len; j++)
            for (int64_t c = 0; c < g->c; c++)
                db[j * ps + c] = w[j] * (pb[j * ps + c] - off);
    else
        for (int64_t c = 0; c < g->c; c++)
            for (int j = 0; j < u->len; j++)
                db[c * hw + j] = w[j] * (pb[c * hw + j] - off);
    for (int j = 0; j < u->len; j++) {
        int32_t y = lb[j];
        if (!xent_counted(g, u->q0 + j, y, ignore))
            continue;
        db[j * ps + (int64_t)y * hw] -= w[j] * hit;
    }
}

static void cpu_xent_bwd(backend *be, const tensor *prob, const tensor *labels, float smoothing,
                         int ignore, const tensor *dloss, tensor *dlogits)
{
    (void)be;
    CPU_EXPECT(prob, DTYPE_F32);
    CPU_EXPECT(labels, DTYPE_I32);
    CPU_EXPECT(dloss, DTYPE_F32);
    CPU_EXPECT(dlogits, DTYPE_F32);
    xent_geom g = xent_geometry(prob, labels);
    CNN_ASSERT(tensor_numel(dlogits) == tensor_numel(prob));
    int64_t count = xent_count(labels->data, g.n * g.hw, ignore);
    float scale = count ? (float)(*(const float *)dloss->data / (double)count) : 0.0f;
    float off = smoothing / (float)g.c, hit = 1.0f - smoothing;
#pragma omp parallel for schedule(static) if (tensor_numel(prob) > 32768)
    for (int64_t u = 0; u < g.units; u++) {
        xent_unit un = xent_unit_at(&g, u);
        xent_bwd_unit(&g, &un, prob->data, labels->data, dlogits->data, scale, off, hit,
                      ignore);
    }
}

static void cpu_mse_fwd(backend *be, const tensor *pred, const tensor *target, tensor *loss)
{
    (void)be;
    CPU_EXPECT(pred, DTYPE_F32);
    CPU_EXPECT(target, DTYPE_F32);
    CPU_EXPECT(loss, DTYPE_F32);
    int64_t n = tensor_numel(pred);
    CNN_ASSERT(tensor_numel(target) == n && tensor_numel(loss) == 1);
    const float *a = pred->data, *t = target->data;
    int64_t nb = n / 4096 < 1 ? 1 : n / 4096 > RED_BLOCKS ? RED_BLOCKS : n / 4096;
    double part[RED_BLOCKS];
#pragma omp parallel for schedule(static) if (nb > 4)
    for (int64_t b = 0; b < nb; b++) {
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (int64_t i = n * b / nb; i < n * (b + 1) / nb; i++) {
            double df = (double)a[i] - t[i];
            s += df * df;
        }
        part[b] = s;
    }
    double sum = 0.0;
    for (int64_t b = 0; b < nb; b++)
        sum += part[b];
    *(float *)loss->data = (float)(sum / (double)n);
}

/* dpred = dloss * 2 (pred - target) / numel. The layer gets d/dtarget by swapping the
 * arguments. */
static void cpu_mse_bwd(backend *be, const tensor *pred, const tensor *target,
                        const tensor *dloss, tensor *dpred)
{
    (void)be;
    CPU_EXPECT(pred, DTYPE_F32);
    CPU_EXPECT(target, DTYPE_F32);
    CPU_EXPECT(dloss, DTYPE_F32);
    CPU_EXPECT(dpred, DTYPE_F32);
    int64_t n = tensor_numel(pred);
    CNN_ASSERT(tensor_numel(target) == n && tensor_numel(dpred) == n);
    const float *a = pred->data, *t = target->data;
    float *d = dpred->data;
    float scale = (float)(2.0 * *(const float *)dloss->data / (double)n);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        d[i] = scale * (a[i] - t[i]);
}

void cpu_install_loss(backend_ops *ops)
{
    ops->xent_fwd = cpu_xent_fwd;
    ops->xent_bwd = cpu_xent_bwd;
    ops->mse_fwd = cpu_mse_fwd;
    ops->mse_bwd = cpu_mse_bwd;
}
