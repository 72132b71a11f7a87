/* CPU batch and instance normalisation (backend.h "normalisation"), in the stages that
 * synchronized BN needs. A statistic's elements are `nseg` contiguous segments (batch: the N
 * planes of channel c; instance: the one plane (n, c)), cut into blocks that fit L1: each
 * block is summed in float in two passes over cache (mean, then centred squares), blocks are
 * merged in double with Chan et al.'s pairwise update, so memory is read once and the
 * variance stays accurate for large N*H*W and means far from 0. The merge tree depends only
 * on the shape, never on the thread count, so results are bitwise reproducible under any
 * OMP_NUM_THREADS. (N, C) input (BatchNorm1d) takes a row-wise path vectorised over C. */
#include <math.h>
#include <omp.h>

#include "cpu_impl.h"

#define NORM_BLK 1024  /* elements per block: stays in L1, float partial sums stay short */
#define NORM_PIECES 64 /* pieces per statistic when few statistics must share the threads */
#define NORM_CHUNK 256 /* channels per task on the (N, C) path */
#define NORM_SERIAL 32768 /* fewer elements than this: waking threads costs more than it saves */

typedef struct norm_geom {
    int64_t groups; /* statistics: C (batch) or N*C (instance) */
    int64_t c;      /* channels, to index gamma and beta */
    int64_t planes; /* N*C contiguous planes of len elements */
    int64_t nseg;   /* planes per statistic: N (batch) or 1 (instance) */
    int64_t len;    /* H*W */
    int64_t nblk;   /* blocks per plane */
    int64_t blk;    /* elements per block (the last of a plane may be shorter) */
    int64_t bpp;    /* blocks per piece */
    int64_t pieces; /* pieces per statistic */
} norm_geom;

static norm_geom norm_geometry(norm_mode m, const tensor *x)
{
    CNN_ASSERT(x->s.nd >= 2);
    norm_geom g = {.c = x->s.d[1], .len = shape_inner(&x->s, 2)};
    g.planes = x->s.d[0] * g.c;
    g.groups = m == NORM_BATCH ? g.c : g.planes;
    g.nseg = m == NORM_BATCH ? x->s.d[0] : 1;
    g.nblk = (g.len + NORM_BLK - 1) / NORM_BLK;
    g.blk = (g.len + g.nblk - 1) / g.nblk;
    int64_t blocks = g.nseg * g.nblk;
    g.bpp = (blocks + NORM_PIECES - 1) / NORM_PIECES;
    g.pieces = (blocks + g.bpp - 1) / g.bpp;
    return g;
}

/* Block b of statistic s: its offset and length. Plane (n, c) starts at (n*C + c)*len, so
 * the segments of channel c are planes c, c + C, ...; an instance statistic is one plane. */
static int64_t norm_block(const norm_geom *g, int64_t s, int64_t b, int64_t *n_el)
{
    int64_t seg = b / g->nblk, j = b % g->nblk;
    int64_t start = j * g->blk;
    *n_el = g->len - start < g->blk ? g->len - start : g->blk;
    return (s + seg * g->c) * g->len + start;
}

static void norm_check(const tensor *t, int64_t n)
{
    CPU_EXPECT(t, DTYPE_F32);
    CNN_ASSERT(tensor_numel(t) == n);
}

/* ---- reductions: statistics and backward sums ---- */

/* Running (count, mean, M2) of a set of values. */
typedef struct moments {
    double n, mean, m2;
} moments;

static moments moments_merge(moments a, moments b)
{
    if (a.n == 0)
        return b;
    double n = a.n + b.n, d = b.mean - a.mean;
    return (moments){n, a.mean + d * (b.n / n), a.m2 + b.m2 + d * d * (a.n * b.n / n)};
}

/* Leaf loops keep NORM_LANES independent partial sums so the adds pipeline instead of waiting
 * on one accumulator (the reductions are latency-bound otherwise), and are compiled for AVX2
 * and AVX-512 too, picked at load time (GCC function multiversioning). */
#define NORM_LANES 32
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define NORM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NORM_CLONES
#endif

static float lanes_total(const float *acc)
{
    float s = 0.0f;
    for (int j = 0; j < NORM_LANES; j++)
        s += acc[j];
    return s;
}

NORM_CLONES static moments block_moments(const float *x, int64_t n)
{
    float a[NORM_LANES] = {0}, b[NORM_LANES] = {0}, t = 0.0f, u = 0.0f;
    int64_t body = n - n % NORM_LANES;
    for (int64_t i = 0; i < body; i += NORM_LANES)
        for (int j = 0; j < NORM_LANES; j++)
            a[j] += x[i + j];
    for (int64_t i = body; i < n; i++)
        t += x[i];
    float mb = (lanes_total(a) + t) / (float)n;
    for (int j = 0; j < NORM_LANES; j++)
        a[j] = 0.0f;
    t = 0.0f;
    for (int64_t i = 0; i < body; i += NORM_LANES)
        for (int j = 0; j < NORM_LANES; j++) {
            float d = x[i + j] - mb;
            a[j] += d;
            b[j] += d * d;
        }
    for (int64_t i = body; i < n; i++) {
        float d = x[i] - mb;
        t += d;
        u += d * d;
    }
    /* s1 is the rounding left in mb; the correction keeps M2 from the two-pass error. */
    double s1 = (double)lanes_total(a) + t, s2 = (double)lanes_total(b) + u;
    return (moments){(double)n, (double)mb + s1 / (double)n, s2 - s1 * s1 / (double)n};
}

/* sums[0] += sum dy, sums[1] += sum dy * (x - mean) over one block. */
NORM_CLONES static void block_bwd_sums(const float *dy, const float *x, float mean, int64_t n,
                                       double sums[2])
{
    float a[NORM_LANES] = {0}, b[NORM_LANES] = {0}, t = 0.0f, u = 0.0f;
    int64_t body = n - n % NORM_LANES;
    for (int64_t i = 0; i < body; i += NORM_LANES)
        for (int j = 0; j < NORM_LANES; j++) {
            a[j] += dy[i + j];
            b[j] += dy[i + j] * (x[i + j] - mean);
        }
    for (int64_t i = body; i < n; i++) {
        t += dy[i];
        u += dy[i] * (x[i] - mean);
    }
    sums[0] += (double)lanes_total(a) + t;
    sums[1] += (double)lanes_total(b) + u;
}

/* Pieces make a fixed two-level tree: blocks fold into their piece in order, pieces into the
 * statistic in order, whether one thread does the whole statistic or many share it. */
typedef struct norm_red {
    const norm_geom *g;
    const float *x, *dy, *mean, *var;
    float *out0, *out1;
    float eps;
    bool bwd; /* false: moments of x into (mean, var); true: backward sums */
} norm_red;

static void red_piece(const norm_red *r, int64_t s, int64_t p, double acc[3])
{
    const norm_geom *g = r->g;
    int64_t b0 = p * g->bpp, b1 = b0 + g->bpp, n_el;
    if (b1 > g->nseg * g->nblk)
        b1 = g->nseg * g->nblk;
    moments mo = {0, 0, 0};
    double sums[2] = {0, 0};
    for (int64_t b = b0; b < b1; b++) {
        int64_t off = norm_block(g, s, b, &n_el);
        if (r->bwd)
            block_bwd_sums(r->dy + off, r->x + off, r->mean[s], n_el, sums);
        else
            mo = moments_merge(mo, block_moments(r->x + off, n_el));
    }
    if (r->bwd)
        acc[0] = sums[0], acc[1] = sums[1], acc[2] = 0;
    else
        acc[0] = mo.n, acc[1] = mo.mean, acc[2] = mo.m2;
}

static void red_finish(const norm_red *r, int64_t s, const double (*acc)[3], int64_t n)
{
    if (r->bwd) {
        double a = 0, b = 0;
        for (int64_t p = 0; p < n; p++)
            a += acc[p][0], b += acc[p][1];
        r->out0[s] = (float)a;
        r->out1[s] = (float)(b / sqrt((double)r->var[s] + r->eps));
        return;
    }
    moments mo = {0, 0, 0};
    for (int64_t p = 0; p < n; p++)
        mo = moments_merge(mo, (moments){acc[p][0], acc[p][1], acc[p][2]});
    r->out0[s] = (float)mo.mean;
    r->out1[s] = (float)(mo.m2 > 0 ? mo.m2 / mo.n : 0.0); /* biased, never negative */
}

static void norm_reduce(const norm_red *r)
{
    const norm_geom *g = r->g;
    bool big = g->planes * g->len > NORM_SERIAL;
    if (g->groups >= omp_get_max_threads() || !big) {
#pragma omp parallel for schedule(dynamic, 1) if (big)
        for (int64_t s = 0; s < g->groups; s++) {
            double acc[NORM_PIECES][3];
            for (int64_t p = 0; p < g->pieces; p++)
                red_piece(r, s, p, acc[p]);
            red_finish(r, s, (const double (*)[3])acc, g->pieces);
        }
        return;
    }
    for (int64_t s = 0; s < g->groups; s++) {
        double acc[NORM_PIECES][3];
#pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < g->pieces; p++)
            red_piece(r, s, p, acc[p]);
        red_finish(r, s, (const double (*)[3])acc, g->pieces);
    }
}

/* ---- (N, C) input: rows of C contiguous values, vectorised over channels ---- */

/* Channels [c0, c0 + w) of n rows: shifted sums in double (the shift, row 0 for the
 * statistics and the mean for the backward sums, keeps them well-conditioned). */
NORM_CLONES static void rows_chunk_sums(const norm_red *r, int64_t n, int64_t c, int64_t c0,
                                        int64_t w, double *s1, double *s2)
{
    const float *shift = r->bwd ? r->mean + c0 : r->x + c0;
    for (int64_t i = 0; i < n; i++) {
        const float *xr = r->x + i * c + c0;
        if (r->bwd) {
            const float *gr = r->dy + i * c + c0;
            for (int64_t j = 0; j < w; j++) {
                s1[j] += gr[j];
                s2[j] += (double)gr[j] * (double)(xr[j] - shift[j]);
            }
        } else {
            for (int64_t j = 0; j < w; j++) {
                double d = (double)xr[j] - shift[j];
                s1[j] += d;
                s2[j] += d * d;
            }
        }
    }
}

static void rows_reduce(const norm_red *r, int64_t n, int64_t c)
{
    int64_t chunks = (c + NORM_CHUNK - 1) / NORM_CHUNK;
#pragma omp parallel for schedule(static) if (n * c > NORM_SERIAL)
    for (int64_t k = 0; k < chunks; k++) {
        int64_t c0 = k * NORM_CHUNK, w = c - c0 < NORM_CHUNK ? c - c0 : NORM_CHUNK;
        double s1[NORM_CHUNK] = {0}, s2[NORM_CHUNK] = {0};
        rows_chunk_sums(r, n, c, c0, w, s1, s2);
        for (int64_t j = 0, cj = c0; j < w; j++, cj++) {
            if (r->bwd) {
                r->out0[cj] = (float)s1[j];
                r->out1[cj] = (float)(s2[j] / sqrt((double)r->var[cj] + r->eps));
            } else {
                double m = s1[j] / (double)n, v = s2[j] / (double)n - m * m;
                r->out0[cj] = (float)(r->x[cj] + m);
                r->out1[cj] = (float)(v > 0 ? v : 0.0);
            }
        }
    }
}

static bool rows_path(norm_mode m, const norm_geom *g) { return m == NORM_BATCH && g->len == 1; }

static void cpu_norm_stats(backend *be, norm_mode m, const tensor *x, tensor *mean, tensor *var)
{
    (void)be;
    CPU_EXPECT(x, DTYPE_F32);
    norm_geom g = norm_geometry(m, x);
    norm_check(mean, g.groups);
    norm_check(var, g.groups);
    norm_red r = {.g = &g, .x = x->data, .out0 = mean->data, .out1 = var->data};
    if (rows_path(m, &g))
        rows_reduce(&r, g.planes / g.c, g.c);
    else
        norm_reduce(&r);
}

static void cpu_norm_bwd_reduce(backend *be, norm_mode m, const tensor *dy, const tensor *x,
                                const tensor *mean, const tensor *var, float eps,
                                tensor *sum_dy, tensor *sum_dy_xhat)
{
    (void)be;
    CPU_EXPECT(x, DTYPE_F32);
    norm_geom g = norm_geometry(m, x);
    norm_check(dy, tensor_numel(x));
    norm_check(mean, g.groups);
    norm_check(var, g.groups);
    norm_check(sum_dy, g.groups);
    norm_check(sum_dy_xhat, g.groups);
    norm_red r = {.g = &g, .x = x->data, .dy = dy->data, .mean = mean->data,
                  .var = var->data, .out0 = sum_dy->data, .out1 = sum_dy_xhat->data,
                  .eps = eps, .bwd = true};
    if (rows_path(m, &g))
        rows_reduce(&r, g.planes / g.c, g.c);
    else
        norm_reduce(&r);
}

/* ---- pointwise passes: forward apply and backward data ---- */

/* Per statistic: out = (x - mean) * xs + dy * ds + add. Forward: xs = gamma*invstd, ds = 0,
 * add = beta. Backward with batch statistics: dx = gamma*invstd * (dy - mean(dy)
 * - xhat * mean(dy*xhat)), i.e. ds = gamma*invstd, xs = -ds*invstd*mean(dy*xhat),
 * add = -ds*mean(dy). Eval backward: ds = gamma*invstd, xs = add = 0. */
typedef struct norm_pw {
    const float *x, *dy, *mean, *var, *gamma, *beta, *sdy, *sdyx;
    float *out;
    float eps;
    double count;
    bool bwd, batch_stats;
} norm_pw;

typedef struct pw_coef {
    float mean, xs, ds, add;
} pw_coef;

static pw_coef pw_coefficients(const norm_pw *p, int64_t s, int64_t c)
{
    double invstd = 1.0 / sqrt((double)p->var[s] + p->eps);
    double gi = (p->gamma ? p->gamma[c] : 1.0) * invstd;
    if (!p->bwd)
        return (pw_coef){p->mean[s], (float)gi, 0.0f, p->beta ? p->beta[c] : 0.0f};
    if (!p->batch_stats)
        return (pw_coef){p->mean[s], 0.0f, (float)gi, 0.0f};
    return (pw_coef){p->mean[s], (float)(-gi * invstd * p->sdyx[s] / p->count), (float)gi,
                     (float)(-gi * p->sdy[s] / p->count)};
}

NORM_CLONES static void block_pointwise(const pw_coef *k, const float *x, const float *dy,
                                        float *out, int64_t n, bool with_dy)
{
    if (!with_dy) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            out[i] = (x[i] - k->mean) * k->xs + k->add;
    } else if (k->xs == 0.0f && k->add == 0.0f) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            out[i] = dy[i] * k->ds;
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            out[i] = (x[i] - k->mean) * k->xs + dy[i] * k->ds + k->add;
    }
}

static void norm_pointwise(norm_mode m, const norm_geom *g, const norm_pw *p)
{
    int64_t items = g->planes * g->nblk;
#pragma omp parallel for schedule(static) if (g->planes * g->len > NORM_SERIAL)
    for (int64_t it = 0; it < items; it++) {
        int64_t plane = it / g->nblk, start = (it % g->nblk) * g->blk;
        int64_t c = plane % g->c, s = m == NORM_BATCH ? c : plane;
        int64_t n = g->len - start < g->blk ? g->len - start : g->blk;
        int64_t off = plane * g->len + start;
        pw_coef k = pw_coefficients(p, s, c);
        block_pointwise(&k, p->x + off, p->bwd ? p->dy + off : NULL, p->out + off, n, p->bwd);
    }
}

NORM_CLONES static void rows_chunk_pointwise(const norm_pw *p, int64_t n, int64_t c,
                                             int64_t c0, int64_t w, const float *k)
{
    const float *mu = k, *xs = k + NORM_CHUNK, *ds = k + 2 * NORM_CHUNK, *add = k + 3 * NORM_CHUNK;
    for (int64_t i = 0; i < n; i++) {
        const float *xr = p->x + i * c + c0;
        float *o = p->out + i * c + c0;
        if (p->bwd) {
            const float *gr = p->dy + i * c + c0;
            for (int64_t j = 0; j < w; j++)
                o[j] = (xr[j] - mu[j]) * xs[j] + gr[j] * ds[j] + add[j];
        } else {
            for (int64_t j = 0; j < w; j++)
                o[j] = (xr[j] - mu[j]) * xs[j] + add[j];
        }
    }
}

static void rows_pointwise(int64_t n, int64_t c, const norm_pw *p)
{
    int64_t chunks = (c + NORM_CHUNK - 1) / NORM_CHUNK;
#pragma omp parallel for schedule(static) if (n * c > NORM_SERIAL)
    for (int64_t k = 0; k < chunks; k++) {
        int64_t c0 = k * NORM_CHUNK, w = c - c0 < NORM_CHUNK ? c - c0 : NORM_CHUNK;
        float coef[4 * NORM_CHUNK]; /* mean, xs, ds, add of each channel */
        for (int64_t j = 0; j < w; j++) {
            pw_coef q = pw_coefficients(p, c0 + j, c0 + j);
            coef[j] = q.mean, coef[NORM_CHUNK + j] = q.xs;
            coef[2 * NORM_CHUNK + j] = q.ds, coef[3 * NORM_CHUNK + j] = q.add;
        }
        rows_chunk_pointwise(p, n, c, c0, w, coef);
    }
}

static void run_pointwise(norm_mode m, const tensor *x, const norm_pw *p)
{
    norm_geom g = norm_geometry(m, x);
    if (rows_path(m, &g))
        rows_pointwise(g.planes / g.c, g.c, p);
    else
        norm_pointwise(m, &g, p);
}

static void check_affine(const tensor *gamma, const tensor *beta, int64_t c)
{
    if (gamma)
        norm_check(gamma, c);
    if (beta)
        norm_check(beta, c);
}

static void cpu_norm_apply(backend *be, norm_mode m, const tensor *x, const tensor *mean,
                           const tensor *var, float eps, const tensor *gamma,
                           const tensor *beta, tensor *y)
{
    (void)be;
    CPU_EXPECT(x, DTYPE_F32);
    norm_geom g = norm_geometry(m, x);
    norm_check(mean, g.groups);
    norm_check(var, g.groups);
    norm_check(y, tensor_numel(x));
    check_affine(gamma, beta, g.c);
    norm_pw p = {.x = x->data, .mean = mean->data, .var = var->data,
                 .gamma = gamma ? gamma->data : NULL, .beta = beta ? beta->data : NULL,
                 .out = y->data, .eps = eps};
    run_pointwise(m, x, &p);
}

static void cpu_norm_bwd_data(backend *be, norm_mode m, const tensor *dy, const tensor *x,
                              const tensor *mean, const tensor *var, float eps,
                              const tensor *gamma, const tensor *sum_dy,
                              const tensor *sum_dy_xhat, double count, bool batch_stats,
                              tensor *dx)
{
    (void)be;
    CPU_EXPECT(x, DTYPE_F32);
    norm_geom g = norm_geometry(m, x);
    norm_check(dy, tensor_numel(x));
    norm_check(dx, tensor_numel(x));
    norm_check(mean, g.groups);
    norm_check(var, g.groups);
    check_affine(gamma, NULL, g.c);
    if (batch_stats) {
        norm_check(sum_dy, g.groups);
        norm_check(sum_dy_xhat, g.groups);
        CNN_ASSERT(count > 0);
    }
    norm_pw p = {.x = x->data, .dy = dy->data, .mean = mean->data, .var = var->data,
                 .gamma = gamma ? gamma->data : NULL, .out = dx->data, .eps = eps,
                 .count = count, .bwd = true, .batch_stats = batch_stats,
                 .sdy = batch_stats ? sum_dy->data : NULL,
                 .sdyx = batch_stats ? sum_dy_xhat->data : NULL};
    run_pointwise(m, x, &p);
}

static void cpu_norm_stats_sums(backend *be, bool to_sums, const tensor *shift, double count,
                                tensor *stats)
{
    (void)be;
    CPU_EXPECT(stats, DTYPE_F32);
    int64_t c = tensor_numel(stats) / 2;
    if (shift)
        norm_check(shift, c);
    CNN_ASSERT(count > 0 && tensor_numel(stats) == 2 * c);
    float *mean = stats->data, *var = mean + c;
    const float *k = shift ? shift->data : NULL;
    for (int64_t j = 0; j < c; j++) {
        double kj = k ? k[j] : 0.0;
        if (to_sums) {
            double d = (double)mean[j] - kj;
            mean[j] = (float)(count * d);
            var[j] = (float)(count * ((double)var[j] + d * d));
        } else {
            double d = mean[j] / count, v = var[j] / count - d * d;
            mean[j] = (float)(kj + d);
            var[j] = (float)(v > 0 ? v : 0.0);
        }
    }
}

void cpu_install_norm(backend_ops *ops)
{
    ops->norm_stats = cpu_norm_stats;
    ops->norm_apply = cpu_norm_apply;
    ops->norm_bwd_reduce = cpu_norm_bwd_reduce;
    ops->norm_bwd_data = cpu_norm_bwd_data;
    ops->norm_stats_sums = cpu_norm_stats_sums;
}
