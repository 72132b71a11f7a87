/* Pooling, max unpooling and upsampling kernels; the CPU files cpu_pool.c and cpu_resample.c
 * are the specification. Forward ops run one thread per output element; backward ops gather
 * per input element over the outputs that read it, so no atomics are needed and the sums run
 * in the CPU's (row-major output) order. Max pooling: first maximum in row-major window order,
 * NaN propagates (a later NaN takes the index, as on the CPU), padding never wins. Unpooling's
 * scatter keeps the later input of a shared index through atomicMax on the input position.
 * Every kernel is a template on the element type (cuda_dtype.cuh): f32 math, one rounding
 * per output; max pooling compares the stored values, so it picks what the CPU picks. And on
 * the layout (CL, cuda_layout.cuh): threads walk memory in order, planes are addressed through
 * cl_base/cl_step, so channels-last computes the same terms in the same order; argmax indices
 * stay positions h*W + w within the plane. */
#include "cuda_dtype.cuh"
#include "cuda_layout.cuh"
#include "cuda_pool_kernels.h"

#define GRID_STRIDE(i, n)                                                                \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);             \
         i += (int64_t)blockDim.x * gridDim.x)

/* The window of output (p, q) clipped to the input; `clipped` when padding cut it. */
struct window {
    int hs, he, ws, we;
    bool clipped;
};

__device__ __forceinline__ window window_of(const cupool_geom &g, int p, int q)
{
    int h0 = p * g.sh - g.ph, w0 = q * g.sw - g.pw;
    window w;
    w.hs = max(h0, 0);
    w.he = min(h0 + g.kh, g.H);
    w.ws = max(w0, 0);
    w.we = min(w0 + g.kw, g.W);
    w.clipped = h0 < 0 || w0 < 0 || h0 + g.kh > g.H || w0 + g.kw > g.W;
    return w;
}

/* An average's share of dy (or the mean of a sum), computed as the CPU does: the interior
 * multiplies by 1/(kh*kw), a clipped window divides by its divisor. */
__device__ __forceinline__ float avg_scale(const cupool_geom &g, const window &w, float v)
{
    if (!w.clipped)
        return v * (1.0f / (float)(g.kh * g.kw));
    int div = g.include_pad ? g.kh * g.kw : (w.he - w.hs) * (w.we - w.ws);
    return v / (float)div;
}

template <bool CL, typename T>
__global__ void max_fwd_kernel(cupool_geom g, const T *x, T *y, int32_t *idx)
{
    int64_t out_sz = (int64_t)g.P * g.Q, n = g.planes * out_sz, in_sz = (int64_t)g.H * g.W;
    int64_t es = cl_step<CL>(g.C);
    GRID_STRIDE(i, n)
    {
        int64_t pl, ri;
        cl_split<CL>(i, out_sz, g.C, &pl, &ri);
        int r = (int)ri, p = r / g.Q, q = r - p * g.Q;
        window w = window_of(g, p, q);
        const T *xs = x + cl_base<CL>(pl, in_sz, g.C);
        int mi = w.hs * g.W + w.ws;
        float m = ldf(xs[mi * es]);
        for (int h = w.hs; h < w.he; h++)
            for (int c = w.ws; c < w.we; c++) {
                float v = ldf(xs[(h * g.W + c) * es]);
                if (v > m || v != v) {
                    m = v;
                    mi = h * g.W + c;
                }
            }
        y[i] = stf<T>(m);
        idx[i] = mi;
    }
}

template <bool CL, typename T>
__global__ void avg_fwd_kernel(cupool_geom g, const T *x, T *y)
{
    int64_t out_sz = (int64_t)g.P * g.Q, n = g.planes * out_sz, in_sz = (int64_t)g.H * g.W;
    int64_t es = cl_step<CL>(g.C);
    GRID_STRIDE(i, n)
    {
        int64_t pl, ri;
        cl_split<CL>(i, out_sz, g.C, &pl, &ri);
        int r = (int)ri, p = r / g.Q, q = r - p * g.Q;
        window w = window_of(g, p, q);
        const T *xs = x + cl_base<CL>(pl, in_sz, g.C);
        float s = 0.0f;
        for (int h = w.hs; h < w.he; h++)
            for (int c = w.ws; c < w.we; c++)
                s += ldf(xs[(h * g.W + c) * es]);
        y[i] = stf<T>(avg_scale(g, w, s));
    }
}

/* The outputs [lo, hi) along one axis whose windows cover input position t. */
__device__ __forceinline__ void covering(int t, int k, int s, int pad, int out, int *lo,
                                         int *hi)
{
    int tp = t + pad;
    *lo = tp < k ? 0 : (tp - k) / s + 1;
    *hi = min(tp / s + 1, out);
}

template <bool CL, typename T>
__global__ void max_bwd_kernel(cupool_geom g, const T *dy, const int32_t *idx, T *dx)
{
    int64_t in_sz = (int64_t)g.H * g.W, out_sz = (int64_t)g.P * g.Q, n = g.planes * in_sz;
    int64_t es = cl_step<CL>(g.C);
    GRID_STRIDE(i, n)
    {
        int64_t pl, ti;
        cl_split<CL>(i, in_sz, g.C, &pl, &ti);
        int t = (int)ti, h = t / g.W, w = t - h * g.W;
        int p0, p1, q0, q1;
        covering(h, g.kh, g.sh, g.ph, g.P, &p0, &p1);
        covering(w, g.kw, g.sw, g.pw, g.Q, &q0, &q1);
        int64_t ob = cl_base<CL>(pl, out_sz, g.C); /* idx has y's layout */
        const T *gs = dy + ob;
        const int32_t *is = idx + ob;
        float s = 0.0f;
        for (int p = p0; p < p1; p++)
            for (int q = q0; q < q1; q++)
                if (is[(p * g.Q + q) * es] == t)
                    s += ldf(gs[(p * g.Q + q) * es]);
        dx[i] = stf<T>(s);
    }
}

template <bool CL, typename T>
__global__ void avg_bwd_kernel(cupool_geom g, const T *dy, T *dx)
{
    int64_t in_sz = (int64_t)g.H * g.W, out_sz = (int64_t)g.P * g.Q, n = g.planes * in_sz;
    int64_t es = cl_step<CL>(g.C);
    GRID_STRIDE(i, n)
    {
        int64_t pl, ti;
        cl_split<CL>(i, in_sz, g.C, &pl, &ti);
        int t = (int)ti, h = t / g.W, w = t - h * g.W;
        int p0, p1, q0, q1;
        covering(h, g.kh, g.sh, g.ph, g.P, &p0, &p1);
        covering(w, g.kw, g.sw, g.pw, g.Q, &q0, &q1);
        const T *gs = dy + cl_base<CL>(pl, out_sz, g.C);
        float s = 0.0f;
        for (int p = p0; p < p1; p++)
            for (int q = q0; q < q1; q++)
                s += avg_scale(g, window_of(g, p, q), ldf(gs[(p * g.Q + q) * es]));
        dx[i] = stf<T>(s);
    }
}

/* Unpooling, pass 1: y, seen as int32 and preset to -1, receives for each output element the
 * largest input position (within the plane) that maps to it (the CPU's last writer). */
template <bool CL>
__global__ void unpool_claim_kernel(int64_t planes, int64_t C, int64_t in_sz, int64_t out_sz,
                                    const int32_t *idx, int *yi)
{
    int64_t n = planes * in_sz;
    GRID_STRIDE(i, n)
    {
        int64_t pl, r;
        cl_split<CL>(i, in_sz, C, &pl, &r);
        int j = idx[i];
        if (j >= 0 && j < out_sz)
            atomicMax(&yi[cl_base<CL>(pl, out_sz, C) + j * cl_step<CL>(C)], (int)r);
    }
}

/* Pass 2: each output element replaces its claim by the claimed x value (or 0); every
 * thread touches only its own element. For f32 the claims are y itself (claims == y); 16-bit
 * elements cannot hold a claim, so theirs live in separate scratch. */
template <bool CL>
__global__ void unpool_resolve_kernel(int64_t planes, int64_t C, int64_t in_sz, int64_t out_sz,
                                      const float *x, int *yi)
{
    int64_t n = planes * out_sz;
    GRID_STRIDE(o, n)
    {
        int64_t pl, r;
        cl_split<CL>(o, out_sz, C, &pl, &r);
        int src = yi[o];
        yi[o] = src >= 0 ? __float_as_int(x[cl_base<CL>(pl, in_sz, C) + src * cl_step<CL>(C)])
                         : 0;
    }
}

template <bool CL, typename T>
__global__ void unpool_resolve16_kernel(int64_t planes, int64_t C, int64_t in_sz,
                                        int64_t out_sz, const T *x, const int *claims, T *y)
{
    int64_t n = planes * out_sz;
    GRID_STRIDE(o, n)
    {
        int64_t pl, r;
        cl_split<CL>(o, out_sz, C, &pl, &r);
        int src = claims[o];
        y[o] = src >= 0 ? x[cl_base<CL>(pl, in_sz, C) + src * cl_step<CL>(C)] : stf<T>(0.0f);
    }
}

template <bool CL, typename T>
__global__ void unpool_bwd_kernel(int64_t planes, int64_t C, int64_t in_sz, int64_t out_sz,
                                  const T *dy, const int32_t *idx, T *dx)
{
    int64_t n = planes * in_sz;
    GRID_STRIDE(i, n)
    {
        int64_t pl, r;
        cl_split<CL>(i, in_sz, C, &pl, &r);
        int64_t j = idx[i];
        dx[i] = j >= 0 && j < out_sz ? dy[cl_base<CL>(pl, out_sz, C) + j * cl_step<CL>(C)]
                                     : stf<T>(0.0f);
    }
}

/* ---- upsampling ---- */

struct lerp {
    int i0, i1;
    float l0, l1;
};

/* One axis of align_corners=false bilinear, exactly cpu_resample.c's lerp_at: float scale,
 * the source position in double with unfused operations (no FMA contraction), clamped at 0. */
__device__ __forceinline__ lerp lerp_at(int dst, int in, int out)
{
    float scale = (float)in / (float)out;
    double src_d = __dadd_rn(__dmul_rn((double)scale, (double)dst + 0.5), -0.5);
    float src = src_d < 0 ? 0.0f : (float)src_d;
    lerp r;
    r.i0 = (int)src;
    r.i1 = r.i0 + (r.i0 < in - 1 ? 1 : 0);
    r.l1 = src - (float)r.i0;
    r.l0 = 1.0f - r.l1;
    return r;
}

template <bool CL, typename T>
__global__ void nearest_fwd_kernel(int64_t planes, int64_t C, int H, int W, int fh, int fw,
                                   const T *x, T *y)
{
    int Wo = W * fw;
    int64_t out_sz = (int64_t)H * fh * Wo, n = planes * out_sz, es = cl_step<CL>(C);
    GRID_STRIDE(i, n)
    {
        int64_t pl, r;
        cl_split<CL>(i, out_sz, C, &pl, &r);
        int ho = (int)(r / Wo), wo = (int)(r - (int64_t)ho * Wo);
        y[i] = x[cl_base<CL>(pl, (int64_t)H * W, C) +
                 ((int64_t)(ho / fh) * W + wo / fw) * es];
    }
}

/* Summed in the CPU's order: rows of the block in turn, pairs first when fw == 2. */
template <bool CL, typename T>
__global__ void nearest_bwd_kernel(int64_t planes, int64_t C, int H, int W, int fh, int fw,
                                   const T *dy, T *dx)
{
    int Wo = W * fw;
    int64_t in_sz = (int64_t)H * W, out_sz = in_sz * fh * fw, n = planes * in_sz;
    int64_t es = cl_step<CL>(C);
    GRID_STRIDE(i, n)
    {
        int64_t pl, ti;
        cl_split<CL>(i, in_sz, C, &pl, &ti);
        int t = (int)ti, h = t / W, w = t - h * W;
        const T *gs = dy + cl_base<CL>(pl, out_sz, C);
        float s = 0.0f;
        for (int a = 0; a < fh; a++) {
            const T *gr = gs + (((int64_t)h * fh + a) * Wo + (int64_t)w * fw) * es;
            if (fw == 2)
                s += ldf(gr[0]) + ldf(gr[es]);
            else
                for (int b = 0; b < fw; b++)
                    s += ldf(gr[b * es]);
        }
        dx[i] = stf<T>(s);
    }
}

template <bool CL, typename T>
__global__ void bilinear_fwd_kernel(int64_t planes, int64_t C, int H, int W, int fh, int fw,
                                    const T *x, T *y)
{
    int Ho = H * fh, Wo = W * fw;
    int64_t out_sz = (int64_t)Ho * Wo, n = planes * out_sz, es = cl_step<CL>(C);
    GRID_STRIDE(i, n)
    {
        int64_t pl, r;
        cl_split<CL>(i, out_sz, C, &pl, &r);
        int ho = (int)(r / Wo), wo = (int)(r - (int64_t)ho * Wo);
        lerp a = lerp_at(ho, H, Ho), b = lerp_at(wo, W, Wo);
        const T *xs = x + cl_base<CL>(pl, (int64_t)H * W, C);
        const T *r0 = xs + (int64_t)a.i0 * W * es;
        const T *r1 = xs + (int64_t)a.i1 * W * es;
        y[i] = stf<T>(a.l0 * (b.l0 * ldf(r0[b.i0 * es]) + b.l1 * ldf(r0[b.i1 * es])) +
                      a.l1 * (b.l0 * ldf(r1[b.i0 * es]) + b.l1 * ldf(r1[b.i1 * es])));
    }
}

/* Gather: input row h is read by output rows whose i0 or i1 is h, all inside
 * [(h-1)*fh, (h+2)*fh) (one more row each side as a margin for the rounding of the float
 * scale); each candidate is confirmed with lerp_at itself, so the terms are exactly the
 * CPU's scatter terms (zero weights included: 0 * NaN stays NaN there too). */
template <bool CL, typename T>
__global__ void bilinear_bwd_kernel(int64_t planes, int64_t C, int H, int W, int fh, int fw,
                                    const T *dy, T *dx)
{
    int Ho = H * fh, Wo = W * fw;
    int64_t in_sz = (int64_t)H * W, out_sz = (int64_t)Ho * Wo, n = planes * in_sz;
    int64_t es = cl_step<CL>(C);
    GRID_STRIDE(i, n)
    {
        int64_t pl, ti;
        cl_split<CL>(i, in_sz, C, &pl, &ti);
        int t = (int)ti, h = t / W, w = t - h * W;
        int ho0 = max((h - 1) * fh - 1, 0), ho1 = min((h + 2) * fh + 1, Ho);
        int wo0 = max((w - 1) * fw - 1, 0), wo1 = min((w + 2) * fw + 1, Wo);
        const T *gs = dy + cl_base<CL>(pl, out_sz, C);
        float s = 0.0f;
        for (int ho = ho0; ho < ho1; ho++) {
            lerp a = lerp_at(ho, H, Ho);
            if (a.i0 != h && a.i1 != h)
                continue;
            for (int wo = wo0; wo < wo1; wo++) {
                lerp b = lerp_at(wo, W, Wo);
                if (b.i0 != w && b.i1 != w)
                    continue;
                float g = ldf(gs[((int64_t)ho * Wo + wo) * es]);
                if (a.i0 == h) {
                    float v0 = a.l0 * g;
                    if (b.i0 == w)
                        s += b.l0 * v0;
                    if (b.i1 == w)
                        s += b.l1 * v0;
                }
                if (a.i1 == h) {
                    float v1 = a.l1 * g;
                    if (b.i0 == w)
                        s += b.l0 * v1;
                    if (b.i1 == w)
                        s += b.l1 * v1;
                }
            }
        }
        dx[i] = stf<T>(s);
    }
}

extern "C" {

void cupool_max_fwd(cudaStream_t s, int dt, cupool_geom g, const void *x, void *y,
                    int32_t *idx)
{
    unsigned grid = cuda_blocks(g.planes * g.P * g.Q);
    CU_DISPATCH(dt, T, CL_DISPATCH(g.cl, CL, max_fwd_kernel<CL, T><<<grid, CUDA_THREADS, 0, s>>>(
                                                 g, (const T *)x, (T *)y, idx)));
}

void cupool_avg_fwd(cudaStream_t s, int dt, cupool_geom g, const void *x, void *y)
{
    unsigned grid = cuda_blocks(g.planes * g.P * g.Q);
    CU_DISPATCH(dt, T, CL_DISPATCH(g.cl, CL, avg_fwd_kernel<CL, T><<<grid, CUDA_THREADS, 0, s>>>(
                                                 g, (const T *)x, (T *)y)));
}

void cupool_max_bwd(cudaStream_t s, int dt, cupool_geom g, const void *dy, const int32_t *idx,
                    void *dx)
{
    unsigned grid = cuda_blocks(g.planes * g.H * g.W);
    CU_DISPATCH(dt, T, CL_DISPATCH(g.cl, CL, max_bwd_kernel<CL, T><<<grid, CUDA_THREADS, 0, s>>>(
                                                 g, (const T *)dy, idx, (T *)dx)));
}

void cupool_avg_bwd(cudaStream_t s, int dt, cupool_geom g, const void *dy, void *dx)
{
    unsigned grid = cuda_blocks(g.planes * g.H * g.W);
    CU_DISPATCH(dt, T, CL_DISPATCH(g.cl, CL, avg_bwd_kernel<CL, T><<<grid, CUDA_THREADS, 0, s>>>(
                                                 g, (const T *)dy, (T *)dx)));
}

/* c > 0: channels-last with c channels; 0: NCHW (the kernels then take C = 1, unused). */
void cupool_unpool_fwd(cudaStream_t s, int dt, int64_t planes, int64_t c, int64_t in_sz,
                       int64_t out_sz, const void *x, const int32_t *idx, void *y, int *claims)
{
    int *yi = dt == CU_F32 ? (int *)y : claims;
    int64_t C = c > 0 ? c : 1;
    unsigned gi = cuda_blocks(planes * in_sz), go = cuda_blocks(planes * out_sz);
    CL_DISPATCH(c > 0, CL, {
        unpool_claim_kernel<CL><<<gi, CUDA_THREADS, 0, s>>>(planes, C, in_sz, out_sz, idx, yi);
        if (dt == CU_F32)
            unpool_resolve_kernel<CL><<<go, CUDA_THREADS, 0, s>>>(planes, C, in_sz, out_sz,
                                                                  (const float *)x, yi);
        else
            CU_DISPATCH(dt, T, unpool_resolve16_kernel<CL, T><<<go, CUDA_THREADS, 0, s>>>(
                                   planes, C, in_sz, out_sz, (const T *)x, yi, (T *)y));
    });
}

void cupool_unpool_bwd(cudaStream_t s, int dt, int64_t planes, int64_t c, int64_t in_sz,
                       int64_t out_sz, const void *dy, const int32_t *idx, void *dx)
{
    int64_t C = c > 0 ? c : 1;
    unsigned grid = cuda_blocks(planes * in_sz);
    CU_DISPATCH(dt, T, CL_DISPATCH(c > 0, CL,
        unpool_bwd_kernel<CL, T><<<grid, CUDA_THREADS, 0, s>>>(planes, C, in_sz, out_sz,
                                                               (const T *)dy, idx, (T *)dx)));
}

void cupool_upsample_fwd(cudaStream_t s, int dt, int bilinear, int64_t planes, int64_t c,
                         int H, int W, int fh, int fw, const void *x, void *y)
{
    unsigned grid = cuda_blocks(planes * H * fh * W * fw);
    int64_t C = c > 0 ? c : 1;
    CU_DISPATCH(dt, T, CL_DISPATCH(c > 0, CL, {
        if (bilinear)
            bilinear_fwd_kernel<CL, T><<<grid, CUDA_THREADS, 0, s>>>(planes, C, H, W, fh, fw,
                                                                      (const T *)x, (T *)y);
        else
            nearest_fwd_kernel<CL, T><<<grid, CUDA_THREADS, 0, s>>>(planes, C, H, W, fh, fw,
                                                                     (const T *)x, (T *)y);
    }));
}

void cupool_upsample_bwd(cudaStream_t s, int dt, int bilinear, int64_t planes, int64_t c,
                         int H, int W, int fh, int fw, const void *dy, void *dx)
{
    unsigned grid = cuda_blocks(planes * H * W);
    int64_t C = c > 0 ? c : 1;
    CU_DISPATCH(dt, T, CL_DISPATCH(c > 0, CL, {
        if (bilinear)
            bilinear_bwd_kernel<CL, T><<<grid, CUDA_THREADS, 0, s>>>(planes, C, H, W, fh, fw,
                                                                      (const T *)dy, (T *)dx);
        else
            nearest_bwd_kernel<CL, T><<<grid, CUDA_THREADS, 0, s>>>(planes, C, H, W, fh, fw,
                                                                     (const T *)dy, (T *)dx);
    }));
}

} /* extern "C" */
