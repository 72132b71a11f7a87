/* Optimizer kernels, matching cpu_optim.c operation for operation: sumsq as a deterministic
 * two-level reduction (per-block double partials over a grid sized from n only, then one
 * block adding them in a fixed order; no atomics), the step's gradient multiplier, the
 * dynamic loss scale's update (GradScaler.update) and the fused SGD and AdamW updates. The
 * update kernels read coef = [c, skip] from device memory and return at once when skip is
 * set, so a non-finite step costs no host round trip. */
#include <math.h>

#include "cuda_optim_kernels.h"

#define GRID_STRIDE(i, n)                                                                \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);             \
         i += (int64_t)blockDim.x * gridDim.x)

/* Sum over the block, a fixed tree for a fixed blockDim: deterministic. Valid in thread 0. */
__device__ static double block_sum(double v)
{
    __shared__ double sh[32];
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    if (lane == 0)
        sh[w] = v;
    __syncthreads();
    v = 0.0;
    if (w == 0) {
        v = lane < (int)(blockDim.x >> 5) ? sh[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1)
            v += __shfl_down_sync(0xffffffffu, v, o);
    }
    return v;
}

__global__ void sumsq_part_kernel(int64_t n, const float *x, double *part)
{
    double s = 0.0;
    GRID_STRIDE(i, n)
    {
        double v = (double)x[i];
        s += v * v;
    }
    s = block_sum(s);
    if (threadIdx.x == 0)
        part[blockIdx.x] = s;
}

__global__ void sumsq_final_kernel(int nb, const double *part, float *out, float beta)
{
    double s = 0.0;
    for (int b = threadIdx.x; b < nb; b += blockDim.x)
        s += part[b];
    s = block_sum(s);
    if (threadIdx.x == 0)
        out[0] = beta == 0.0f ? (float)s : (float)s + beta * out[0];
}

extern "C" void cuda_optim_sumsq(cudaStream_t s, int64_t n, const float *x, double *scratch,
                                 float *out, float beta)
{
    unsigned nb = cuda_blocks(n);
    if (nb > CUDA_OPTIM_RED_BLOCKS)
        nb = CUDA_OPTIM_RED_BLOCKS;
    sumsq_part_kernel<<<nb, CUDA_THREADS, 0, s>>>(n, x, scratch);
    sumsq_final_kernel<<<1, CUDA_THREADS, 0, s>>>((int)nb, scratch, out, beta);
}

/* inv_scale = 1 / scale[0] (scale NULL: 1), divided in double and rounded to float as
 * cpu_optim.c does; the rest in double. */
__global__ void grad_coef_kernel(const float *sumsq, float max_norm, const float *scale,
                                 float *coef)
{
    float inv_scale = scale ? (float)(1.0 / (double)scale[0]) : 1.0f;
    double ss = sumsq[0], c = inv_scale;
    if (!isfinite(ss)) {
        coef[0] = 0.0f;
        coef[1] = 1.0f;
        return;
    }
    if (max_norm > 0.0f) {
        double r = max_norm / (sqrt(ss) * inv_scale + 1e-6);
        c *= r < 1.0 ? r : 1.0;
    }
    coef[0] = (float)c;
    coef[1] = 0.0f;
}

extern "C" void cuda_optim_grad_coef(cudaStream_t s, const float *sumsq, float max_norm,
                                     const float *scale, float *coef)
{
    grad_coef_kernel<<<1, 1, 0, s>>>(sumsq, max_norm, scale, coef);
}

/* GradScaler.update: scale = [scale, good steps]; growth capped at 2^126 (stays finite). */
__global__ void loss_scale_update_kernel(float *scale, const float *coef, float growth,
                                         float backoff, int interval)
{
    float sc = scale[0], good = scale[1];
    if (coef[1] != 0.0f) {
        sc = __fmul_rn(sc, backoff);
        good = 0.0f;
    } else {
        good = __fadd_rn(good, 1.0f);
        if (good >= (float)interval) {
            sc = fminf(__fmul_rn(sc, growth), 0x1p126f);
            good = 0.0f;
        }
    }
    scale[0] = sc;
    scale[1] = good;
}

extern "C" void cuda_optim_loss_scale_update(cudaStream_t s, float *scale, const float *coef,
                                             float growth, float backoff, int interval)
{
    loss_scale_update_kernel<<<1, 1, 0, s>>>(scale, coef, growth, backoff, interval);
}

__global__ void sgd_kernel(int64_t n, float *w, const float *g, float *mom, float lr, float m,
                           float wd, bool nest, bool first, const float *coef)
{
    float c = 1.0f;
    if (coef) {
        if (coef[1] != 0.0f)
            return;
        c = coef[0];
    }
    GRID_STRIDE(i, n)
    {
        float d = __fmul_rn(g[i], c);
        if (wd != 0.0f)
            d = __fadd_rn(d, __fmul_rn(wd, w[i]));
        if (mom) {
            float b = first ? d : __fadd_rn(__fmul_rn(m, mom[i]), d);
            mom[i] = b;
            d = nest ? __fadd_rn(d, __fmul_rn(m, b)) : b;
        }
        w[i] = __fsub_rn(w[i], __fmul_rn(lr, d));
    }
}

extern "C" void cuda_optim_sgd(cudaStream_t s, int64_t n, float *w, const float *g, float *mom,
                               float lr, float momentum, float wd, bool nesterov, bool first,
                               const float *coef)
{
    sgd_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(n, w, g, mom, lr, momentum, wd, nesterov,
                                                       first, coef);
}

/* Explicit roundings (no FMA contraction) so the CPU reference is matched to the ulp. */
__global__ void adamw_kernel(int64_t n, float *w, const float *g, float *m, float *v,
                             float decay, float step_size, float bc2_sqrt, float b1, float b2,
                             float k1, float k2, float eps, const float *coef)
{
    float c = 1.0f;
    if (coef) {
        if (coef[1] != 0.0f)
            return;
        c = coef[0];
    }
    GRID_STRIDE(i, n)
    {
        float gi = __fmul_rn(g[i], c);
        float wi = __fmul_rn(w[i], decay);
        float mi = __fadd_rn(__fmul_rn(m[i], b1), __fmul_rn(k1, gi));
        float vi = __fadd_rn(__fmul_rn(v[i], b2), __fmul_rn(__fmul_rn(k2, gi), gi));
        float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
        m[i] = mi;
        v[i] = vi;
        w[i] = __fadd_rn(wi, __fdiv_rn(__fmul_rn(-step_size, mi), denom));
    }
}

extern "C" void cuda_optim_adamw(cudaStream_t s, int64_t n, float *w, const float *g, float *m,
                                 float *v, float decay, float step_size, float bc2_sqrt,
                                 float b1, float b2, float k1, float k2, float eps,
                                 const float *coef)
{
    adamw_kernel<<<cuda_blocks(n), CUDA_THREADS, 0, s>>>(n, w, g, m, v, decay, step_size,
                                                         bc2_sqrt, b1, b2, k1, k2, eps, coef);
}
