/* CPU max unpooling and integer-factor upsampling (nearest, bilinear), over (n, c) planes;
 * each plane is owned by one thread, so the scatters of backward need no atomics.
 * Bilinear is PyTorch's align_corners=False: source = scale * (dst + 0.5) - 0.5 evaluated in
 * double as ATen does (float scale, double offset), clamped at 0, the upper neighbour
 * clamped to the last row/column. Installed by cpu_install_pool (cpu_pool.c). */
#include <string.h>

#include "cpu_impl.h"


static void plane_dims(const tensor *t, int64_t *planes, int *h, int *w)
{
    CNN_ASSERT(t->s.nd == 4);
    *planes = t->s.d[0] * t->s.d[1];
    *h = (int)t->s.d[2];
    *w = (int)t->s.d[3];
}

/* ---- max unpooling ---- */

/* Unpooling scatters planes of x (the pooled shape, that of idx) into planes of y; in_sz and
 * out_sz are their plane sizes. Backward reads the same pair as (dx, dy). */
typedef struct unpool_geom {
    int64_t planes, in_sz, out_sz;
    int Ho, Wo;
} unpool_geom;

static unpool_geom unpool_geometry(const tensor *x, const tensor *idx, const tensor *y)
{
    CNN_ASSERT(shape_eq(&x->s, &idx->s));
    unpool_geom g;
    int64_t out_planes;
    int H, W;
    plane_dims(x, &g.planes, &H, &W);
    plane_dims(y, &out_planes, &g.Ho, &g.Wo);
    CNN_ASSERT(g.planes == out_planes);
    g.in_sz = (int64_t)H * W;
    g.out_sz = (int64_t)g.Ho * g.Wo;
    return g;
}

static void cpu_unpool_fwd(backend *be, const tensor *x, const tensor *idx, tensor *y)
{
    (void)be;
    CPU_EXPECT(x, DTYPE_F32);
    CPU_EXPECT(idx, DTYPE_I32);
    CPU_EXPECT(y, DTYPE_F32);
    unpool_geom g = unpool_geometry(x, idx, y);
    int64_t planes = g.planes, in_sz = g.in_sz, out_sz = g.out_sz;
    const float *xp = x->data;
    const int32_t *ip = idx->data;
    float *yp = y->data;
    int64_t bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad) if (planes * out_sz > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xs = xp + pl * in_sz;
        const int32_t *is = ip + pl * in_sz;
        float *ys = yp + pl * out_sz;
        memset(ys, 0, (size_t)out_sz * sizeof *ys);
        for (int64_t i = 0; i < in_sz; i++) {
            int64_t j = is[i];
            if (j < 0 || j >= out_sz)
                bad++;
            else
                ys[j] = xs[i];
        }
    }
    if (bad)
        cnn_fatal("cpu unpool_fwd: %lld indices outside the (%d, %d) output plane",
                  (long long)bad, g.Ho, g.Wo);
}

static void cpu_unpool_bwd(backend *be, const tensor *dy, const tensor *idx, tensor *dx)
{
    (void)be;
    CPU_EXPECT(dy, DTYPE_F32);
    CPU_EXPECT(idx, DTYPE_I32);
    CPU_EXPECT(dx, DTYPE_F32);
    unpool_geom g = unpool_geometry(dx, idx, dy);
    int64_t planes = g.planes, in_sz = g.in_sz, out_sz = g.out_sz;
    const float *gp = dy->data;
    const int32_t *ip = idx->data;
    float *dp = dx->data;
    int64_t bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad) if (planes * in_sz > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *gs = gp + pl * out_sz;
        const int32_t *is = ip + pl * in_sz;
        float *ds = dp + pl * in_sz;
        for (int64_t i = 0; i < in_sz; i++) {
            int64_t j = is[i];
            int ok = j >= 0 && j < out_sz;
            bad += !ok;
            ds[i] = ok ? gs[j] : 0.0f;
        }
    }
    if (bad)
        cnn_fatal("cpu unpool_bwd: %lld indices outside the (%d, %d) output plane",
                  (long long)bad, g.Ho, g.Wo);
}

/* ---- upsampling ---- */

typedef struct up_geom {
    int64_t planes;
    int H, W, Ho, Wo, fh, fw;
} up_geom;

static up_geom up_geometry(const tensor *x, const tensor *y)
{
    up_geom g;
    int64_t out_planes;
    plane_dims(x, &g.planes, &g.H, &g.W);
    plane_dims(y, &out_planes, &g.Ho, &g.Wo);
    CNN_ASSERT(g.planes == out_planes && g.H > 0 && g.W > 0);
    g.fh = g.Ho / g.H;
    g.fw = g.Wo / g.W;
    CNN_ASSERT(g.fh >= 1 && g.fw >= 1 && g.Ho == g.H * g.fh && g.Wo == g.W * g.fw);
    return g;
}

/* One axis of bilinear interpolation: out = in[i0] * l0 + in[i1] * l1. */
typedef struct lerp {
    int i0, i1;
    float l0, l1;
} lerp;

static lerp lerp_at(int dst, int in, int out)
{
    float scale = (float)in / (float)out;
    double src_d = (double)scale * (dst + 0.5) - 0.5;
    float src = src_d < 0 ? 0.0f : (float)src_d;
    lerp r;
    r.i0 = (int)src;
    r.i1 = r.i0 + (r.i0 < in - 1 ? 1 : 0);
    r.l1 = src - (float)r.i0;
    r.l0 = 1.0f - r.l1;
    return r;
}

static void nearest_plane_fwd(const up_geom *g, const float *restrict x, float *restrict y)
{
    for (int h = 0; h < g->H; h++) {
        float *row = y + (int64_t)h * g->fh * g->Wo;
        const float *xr = x + (int64_t)h * g->W;
        if (g->fw == 2) /* the U-Net case, as its own loop so it vectorises */
            for (int w = 0; w < g->W; w++)
                row[2 * w] = row[2 * w + 1] = xr[w];
        else
            for (int w = 0; w < g->W; w++)
                for (int j = 0; j < g->fw; j++)
                    row[w * g->fw + j] = xr[w];
        for (int i = 1; i < g->fh; i++)
            memcpy(row + (int64_t)i * g->Wo, row, (size_t)g->Wo * sizeof *row);
    }
}

static void nearest_plane_bwd(const up_geom *g, const float *restrict dy, float *restrict dx)
{
    for (int h = 0; h < g->H; h++) {
        float *dr = dx + (int64_t)h * g->W;
        for (int w = 0; w < g->W; w++)
            dr[w] = 0.0f;
        for (int i = 0; i < g->fh; i++) {
            const float *gr = dy + ((int64_t)h * g->fh + i) * g->Wo;
            if (g->fw == 2)
                for (int w = 0; w < g->W; w++)
                    dr[w] += gr[2 * w] + gr[2 * w + 1];
            else
                for (int w = 0; w < g->W; w++)
                    for (int j = 0; j < g->fw; j++)
                        dr[w] += gr[w * g->fw + j];
        }
    }
}

/* Bilinear works on blocks of output columns whose horizontal lerps are computed once per
 * block and plane, not per element; the block's table lives on the stack. */
enum { UP_BLOCK = 256 };

static int col_table(const up_geom *g, int c0, lerp *cols)
{
    int nb = g->Wo - c0 < UP_BLOCK ? g->Wo - c0 : UP_BLOCK;
    for (int j = 0; j < nb; j++)
        cols[j] = lerp_at(c0 + j, g->W, g->Wo);
    return nb;
}

static void bilinear_plane_fwd(const up_geom *g, const float *restrict x, float *restrict y)
{
    lerp cols[UP_BLOCK];
    for (int c0 = 0; c0 < g->Wo; c0 += UP_BLOCK) {
        int nb = col_table(g, c0, cols);
        for (int ho = 0; ho < g->Ho; ho++) {
            lerp a = lerp_at(ho, g->H, g->Ho);
            const float *r0 = x + (int64_t)a.i0 * g->W, *r1 = x + (int64_t)a.i1 * g->W;
            float *yr = y + (int64_t)ho * g->Wo + c0;
            for (int j = 0; j < nb; j++) {
                lerp b = cols[j];
                yr[j] = a.l0 * (b.l0 * r0[b.i0] + b.l1 * r0[b.i1]) +
                        a.l1 * (b.l0 * r1[b.i0] + b.l1 * r1[b.i1]);
            }
        }
    }
}

static void bilinear_plane_bwd(const up_geom *g, const float *restrict dy, float *restrict dx)
{
    lerp cols[UP_BLOCK];
    memset(dx, 0, (size_t)g->H * (size_t)g->W * sizeof *dx);
    for (int c0 = 0; c0 < g->Wo; c0 += UP_BLOCK) {
        int nb = col_table(g, c0, cols);
        for (int ho = 0; ho < g->Ho; ho++) {
            lerp a = lerp_at(ho, g->H, g->Ho);
            float *r0 = dx + (int64_t)a.i0 * g->W, *r1 = dx + (int64_t)a.i1 * g->W;
            const float *gr = dy + (int64_t)ho * g->Wo + c0;
            for (int j = 0; j < nb; j++) {
                lerp b = cols[j];
                float v0 = a.l0 * gr[j], v1 = a.l1 * gr[j];
                r0[b.i0] += b.l0 * v0;
                r0[b.i1] += b.l1 * v0;
                r1[b.i0] += b.l0 * v1;
                r1[b.i1] += b.l1 * v1;
            }
        }
    }
}

static void cpu_upsample_fwd(backend *be, upsample_mode m, const tensor *x, tensor *y)
{
    (void)be;
    CPU_EXPECT(x, DTYPE_F32);
    CPU_EXPECT(y, DTYPE_F32);
    up_geom g = up_geometry(x, y);
    int64_t in_sz = (int64_t)g.H * g.W, out_sz = (int64_t)g.Ho * g.Wo;
    const float *xp = x->data;
    float *yp = y->data;
#pragma omp parallel for schedule(static) if (g.planes * out_sz > 32768)
    for (int64_t pl = 0; pl < g.planes; pl++) {
        if (m == UPSAMPLE_NEAREST)
            nearest_plane_fwd(&g, xp + pl * in_sz, yp + pl * out_sz);
        else
            bilinear_plane_fwd(&g, xp + pl * in_sz, yp + pl * out_sz);
    }
}

static void cpu_upsample_bwd(backend *be, upsample_mode m, const tensor *dy, tensor *dx)
{
    (void)be;
    CPU_EXPECT(dy, DTYPE_F32);
    CPU_EXPECT(dx, DTYPE_F32);
    up_geom g = up_geometry(dx, dy);
    int64_t in_sz = (int64_t)g.H * g.W, out_sz = (int64_t)g.Ho * g.Wo;
    const float *gp = dy->data;
    float *dp = dx->data;
#pragma omp parallel for schedule(static) if (g.planes * out_sz > 32768)
    for (int64_t pl = 0; pl < g.planes; pl++) {
        if (m == UPSAMPLE_NEAREST)
            nearest_plane_bwd(&g, gp + pl * out_sz, dp + pl * in_sz);
        else
            bilinear_plane_bwd(&g, gp + pl * out_sz, dp + pl * in_sz);
    }
}

void cpu_install_resample(backend_ops *ops)
{
    ops->unpool_fwd = cpu_unpool_fwd;
    ops->unpool_bwd = cpu_unpool_bwd;
    ops->upsample_fwd = cpu_upsample_fwd;
    ops->upsample_bwd = cpu_upsample_bwd;
}
