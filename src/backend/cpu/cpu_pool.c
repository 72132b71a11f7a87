/* CPU max and average pooling, forward and backward, over (n, c) planes: one plane belongs to
 * one thread, so the backward scatter needs no atomics. Windows are split into the interior
 * (whole window inside the input: fixed trip counts the compiler unrolls for the common
 * kernels) and the border (clipped windows, the general loop). Semantics follow PyTorch's
 * max_pool2d / avg_pool2d with ceil_mode=False: the first maximum in row-major window order
 * wins, NaN propagates, padding never wins; avg divides by kh*kw (count_include_pad) or by
 * the count of real input elements. Unpooling and upsampling live in cpu_resample.c. */
#include <string.h>

#include "cpu_impl.h"


#define POOL_INLINE static inline __attribute__((always_inline))

typedef struct plane_geom {
    int H, W, P, Q;
    int p_lo, p_hi, q_lo, q_hi; /* outputs whose window lies wholly inside the input */
    int64_t planes, in_sz, out_sz; /* N*C, H*W, P*Q */
} plane_geom;

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

static int interior_end(int in, int k, int s, int p, int out)
{
    if (in + p - k < 0)
        return 0;
    int e = (in + p - k) / s + 1;
    return e < out ? e : out;
}

/* Checks the operands of a pooling, x on the input side, y and (max only) idx on the output
 * side, and derives the plane geometry both directions use. */
static plane_geom pool_geom(const pool_desc *d, const tensor *x, const tensor *y,
                            const tensor *idx)
{
    plane_geom g = {.H = (int)x->s.d[2], .W = (int)x->s.d[3], .P = (int)y->s.d[2],
                    .Q = (int)y->s.d[3]};
    CNN_ASSERT(x->s.nd == 4 && y->s.nd == 4 && x->s.d[0] == y->s.d[0] && x->s.d[1] == y->s.d[1]);
    CNN_ASSERT((int64_t)g.H * g.W <= INT32_MAX);
    /* Every window holds real input (pad <= kernel/2, as the layers check), and y has the
     * floor-mode output size: the kernels index without further bounds checks. */
    CNN_ASSERT(d->kh >= 1 && d->kw >= 1 && d->sh >= 1 && d->sw >= 1 && d->ph >= 0 &&
               d->pw >= 0 && 2 * d->ph <= d->kh && 2 * d->pw <= d->kw);
    CNN_ASSERT(g.P == (g.H + 2 * d->ph - d->kh) / d->sh + 1 &&
               g.Q == (g.W + 2 * d->pw - d->kw) / d->sw + 1 && g.H + 2 * d->ph >= d->kh &&
               g.W + 2 * d->pw >= d->kw);
    g.p_lo = ceil_div(d->ph, d->sh) < g.P ? ceil_div(d->ph, d->sh) : g.P;
    g.q_lo = ceil_div(d->pw, d->sw) < g.Q ? ceil_div(d->pw, d->sw) : g.Q;
    g.p_hi = interior_end(g.H, d->kh, d->sh, d->ph, g.P);
    g.q_hi = interior_end(g.W, d->kw, d->sw, d->pw, g.Q);
    if (g.p_hi < g.p_lo)
        g.p_hi = g.p_lo;
    if (g.q_hi < g.q_lo)
        g.q_hi = g.q_lo;
    if (d->kind == POOL_MAX) {
        CPU_EXPECT(idx, DTYPE_I32);
        CNN_ASSERT(shape_eq(&idx->s, &y->s));
    }
    g.planes = x->s.d[0] * x->s.d[1];
    g.in_sz = (int64_t)g.H * g.W;
    g.out_sz = (int64_t)g.P * g.Q;
    return g;
}

/* The window of output (p, q), clipped to the input. */
typedef struct window {
    int hs, he, ws, we;
} window;

static window clip_window(const pool_desc *d, const plane_geom *g, int p, int q)
{
    int h0 = p * d->sh - d->ph, w0 = q * d->sw - d->pw;
    window w = {h0 < 0 ? 0 : h0, h0 + d->kh < g->H ? h0 + d->kh : g->H, w0 < 0 ? 0 : w0,
                w0 + d->kw < g->W ? w0 + d->kw : g->W};
    return w;
}

static int avg_divisor(const pool_desc *d, window w)
{
    return d->count_include_pad ? d->kh * d->kw : (w.he - w.hs) * (w.we - w.ws);
}

/* ---- max ---- */

static void max_one(const float *x, const plane_geom *g, window w, float *y, int32_t *yi)
{
    float m = x[w.hs * g->W + w.ws];
    int32_t mi = w.hs * g->W + w.ws;
    for (int h = w.hs; h < w.he; h++)
        for (int c = w.ws; c < w.we; c++) {
            float v = x[h * g->W + c];
            if (v > m || v != v) {
                m = v;
                mi = h * g->W + c;
            }
        }
    *y = m;
    *yi = mi;
}

/* Interior outputs [q_lo, q_hi) of one output row; KH, KW, SW are constants after inlining.
 * Branch-free selects so the q loop can vectorise. */
POOL_INLINE void max_row_interior(const float *x, int W, int h0, int pw, int q_lo, int q_hi,
                                  int KH, int KW, int SW, float *y, int32_t *yi)
{
    for (int q = q_lo; q < q_hi; q++) {
        int32_t base = h0 * W + q * SW - pw;
        const float *r = x + base;
        float m = r[0];
        int32_t off = 0;
        for (int i = 0; i < KH; i++)
            for (int j = 0; j < KW; j++) {
                float v = r[i * W + j];
                int t = (v > m) | (v != v);
                m = t ? v : m;
                off = t ? i * W + j : off;
            }
        y[q] = m;
        yi[q] = base + off;
    }
}

static void max_row_any(const pool_desc *d, const float *x, const plane_geom *g, int p,
                        float *y, int32_t *yi)
{
    int h0 = p * d->sh - d->ph, q_lo = g->q_lo, q_hi = g->q_hi;
    if (d->kh == 2 && d->kw == 2 && d->sw == 2)
        max_row_interior(x, g->W, h0, d->pw, q_lo, q_hi, 2, 2, 2, y, yi);
    else if (d->kh == 3 && d->kw == 3 && d->sw == 2)
        max_row_interior(x, g->W, h0, d->pw, q_lo, q_hi, 3, 3, 2, y, yi);
    else if (d->kh == 3 && d->kw == 3 && d->sw == 1)
        max_row_interior(x, g->W, h0, d->pw, q_lo, q_hi, 3, 3, 1, y, yi);
    else
        max_row_interior(x, g->W, h0, d->pw, q_lo, q_hi, d->kh, d->kw, d->sw, y, yi);
}

static void max_plane_fwd(const pool_desc *d, const plane_geom *g, const float *x, float *y,
                          int32_t *yi)
{
    for (int p = 0; p < g->P; p++) {
        float *yr = y + (int64_t)p * g->Q;
        int32_t *ir = yi + (int64_t)p * g->Q;
        int inner = p >= g->p_lo && p < g->p_hi;
        int q_lo = inner ? g->q_lo : g->Q, q_hi = inner ? g->q_hi : g->Q;
        for (int q = 0; q < q_lo; q++)
            max_one(x, g, clip_window(d, g, p, q), &yr[q], &ir[q]);
        if (inner)
            max_row_any(d, x, g, p, yr, ir);
        for (int q = q_hi; q < g->Q; q++)
            max_one(x, g, clip_window(d, g, p, q), &yr[q], &ir[q]);
    }
}

/* ---- average ---- */

static float avg_one(const pool_desc *d, const float *x, const plane_geom *g, window w)
{
    float s = 0.0f;
    for (int h = w.hs; h < w.he; h++)
        for (int c = w.ws; c < w.we; c++)
            s += x[h * g->W + c];
    return s / (float)avg_divisor(d, w);
}

POOL_INLINE void avg_row_interior(const float *x, int W, int h0, int pw, int q_lo, int q_hi,
                                  int KH, int KW, int SW, float *y)
{
    float inv = 1.0f / (float)(KH * KW);
    for (int q = q_lo; q < q_hi; q++) {
        const float *r = x + h0 * W + q * SW - pw;
        float s = 0.0f;
        for (int i = 0; i < KH; i++)
            for (int j = 0; j < KW; j++)
                s += r[i * W + j];
        y[q] = s * inv;
    }
}

static void avg_row_any(const pool_desc *d, const float *x, const plane_geom *g, int p, float *y)
{
    int h0 = p * d->sh - d->ph, q_lo = g->q_lo, q_hi = g->q_hi;
    if (d->kh == 2 && d->kw == 2 && d->sw == 2)
        avg_row_interior(x, g->W, h0, d->pw, q_lo, q_hi, 2, 2, 2, y);
    else if (d->kh == 3 && d->kw == 3 && d->sw == 2)
        avg_row_interior(x, g->W, h0, d->pw, q_lo, q_hi, 3, 3, 2, y);
    else if (d->kh == 3 && d->kw == 3 && d->sw == 1)
        avg_row_interior(x, g->W, h0, d->pw, q_lo, q_hi, 3, 3, 1, y);
    else
        avg_row_interior(x, g->W, h0, d->pw, q_lo, q_hi, d->kh, d->kw, d->sw, y);
}

static void avg_plane_fwd(const pool_desc *d, const plane_geom *g, const float *x, float *y)
{
    for (int p = 0; p < g->P; p++) {
        float *yr = y + (int64_t)p * g->Q;
        int inner = p >= g->p_lo && p < g->p_hi;
        int q_lo = inner ? g->q_lo : g->Q, q_hi = inner ? g->q_hi : g->Q;
        for (int q = 0; q < q_lo; q++)
            yr[q] = avg_one(d, x, g, clip_window(d, g, p, q));
        if (inner)
            avg_row_any(d, x, g, p, yr);
        for (int q = q_hi; q < g->Q; q++)
            yr[q] = avg_one(d, x, g, clip_window(d, g, p, q));
    }
}

/* Interior outputs of one row scatter to KH rows of dx; KH, KW, SW are constants after
 * inlining. Row by row, so each pass writes one dx row that stays in L1. */
POOL_INLINE void avg_row_bwd_interior(float *restrict dx, int W, int h0, int pw, int q_lo,
                                      int q_hi, int KH, int KW, int SW,
                                      const float *restrict dy)
{
    float inv = 1.0f / (float)(KH * KW);
    for (int i = 0; i < KH; i++) {
        float *r = dx + (h0 + i) * W - pw;
        for (int q = q_lo; q < q_hi; q++) {
            float v = dy[q] * inv;
            for (int j = 0; j < KW; j++)
                r[q * SW + j] += v;
        }
    }
}

static void avg_bwd_row_any(const pool_desc *d, const plane_geom *g, int p, const float *dy,
                            float *dx)
{
    int h0 = p * d->sh - d->ph, q_lo = g->q_lo, q_hi = g->q_hi;
    if (d->kh == 2 && d->kw == 2 && d->sw == 2)
        avg_row_bwd_interior(dx, g->W, h0, d->pw, q_lo, q_hi, 2, 2, 2, dy);
    else if (d->kh == 3 && d->kw == 3 && d->sw == 2)
        avg_row_bwd_interior(dx, g->W, h0, d->pw, q_lo, q_hi, 3, 3, 2, dy);
    else if (d->kh == 3 && d->kw == 3 && d->sw == 1)
        avg_row_bwd_interior(dx, g->W, h0, d->pw, q_lo, q_hi, 3, 3, 1, dy);
    else
        avg_row_bwd_interior(dx, g->W, h0, d->pw, q_lo, q_hi, d->kh, d->kw, d->sw, dy);
}

static void avg_bwd_one(const pool_desc *d, const plane_geom *g, int p, int q, float v,
                        float *dx)
{
    window w = clip_window(d, g, p, q);
    v /= (float)avg_divisor(d, w);
    for (int h = w.hs; h < w.he; h++)
        for (int c = w.ws; c < w.we; c++)
            dx[h * g->W + c] += v;
}

/* dx of one plane: zero it, then scatter every output gradient over its window. The plane
 * stays in cache between the two passes. */
static void avg_plane_bwd(const pool_desc *d, const plane_geom *g, const float *dy, float *dx)
{
    memset(dx, 0, (size_t)g->H * (size_t)g->W * sizeof *dx);
    for (int p = 0; p < g->P; p++) {
        const float *gr = dy + (int64_t)p * g->Q;
        int inner = p >= g->p_lo && p < g->p_hi;
        int q_lo = inner ? g->q_lo : g->Q, q_hi = inner ? g->q_hi : g->Q;
        for (int q = 0; q < q_lo; q++)
            avg_bwd_one(d, g, p, q, gr[q], dx);
        if (inner)
            avg_bwd_row_any(d, g, p, gr, dx);
        for (int q = q_hi; q < g->Q; q++)
            avg_bwd_one(d, g, p, q, gr[q], dx);
    }
}

static void max_plane_bwd(const plane_geom *g, const float *dy, const int32_t *yi, float *dx)
{
    memset(dx, 0, (size_t)g->H * (size_t)g->W * sizeof *dx);
    int64_t n = (int64_t)g->P * g->Q;
    for (int64_t i = 0; i < n; i++)
        dx[yi[i]] += dy[i];
}

/* ---- ops ---- */

static void cpu_pool_fwd(backend *be, const pool_desc *d, const tensor *x, tensor *y,
                         tensor *idx)
{
    (void)be;
    CPU_EXPECT(x, DTYPE_F32);
    CPU_EXPECT(y, DTYPE_F32);
    plane_geom g = pool_geom(d, x, y, idx);
    int64_t planes = g.planes, in_sz = g.in_sz, out_sz = g.out_sz;
    const float *xp = x->data;
    float *yp = y->data;
    if (d->kind == POOL_MAX) {
        int32_t *ip = idx->data;
#pragma omp parallel for schedule(static) if (planes * in_sz > 32768)
        for (int64_t i = 0; i < planes; i++)
            max_plane_fwd(d, &g, xp + i * in_sz, yp + i * out_sz, ip + i * out_sz);
    } else {
#pragma omp parallel for schedule(static) if (planes * in_sz > 32768)
        for (int64_t i = 0; i < planes; i++)
            avg_plane_fwd(d, &g, xp + i * in_sz, yp + i * out_sz);
    }
}

static void cpu_pool_bwd(backend *be, const pool_desc *d, const tensor *dy, const tensor *idx,
                         tensor *dx)
{
    (void)be;
    CPU_EXPECT(dy, DTYPE_F32);
    CPU_EXPECT(dx, DTYPE_F32);
    plane_geom g = pool_geom(d, dx, dy, idx);
    int64_t planes = g.planes, in_sz = g.in_sz, out_sz = g.out_sz;
    const float *gp = dy->data;
    float *dp = dx->data;
    if (d->kind == POOL_MAX) {
        const int32_t *ip = idx->data;
#pragma omp parallel for schedule(static) if (planes * in_sz > 32768)
        for (int64_t i = 0; i < planes; i++)
            max_plane_bwd(&g, gp + i * out_sz, ip + i * out_sz, dp + i * in_sz);
    } else {
#pragma omp parallel for schedule(static) if (planes * in_sz > 32768)
        for (int64_t i = 0; i < planes; i++)
            avg_plane_bwd(d, &g, gp + i * out_sz, dp + i * in_sz);
    }
}

void cpu_install_pool(backend_ops *ops)
{
    ops->pool_fwd = cpu_pool_fwd;
    ops->pool_bwd = cpu_pool_bwd;
    cpu_install_resample(ops);
}
