/* Soft-target cross-entropy and argmax kernels, matching cpu_xent_soft.c. A warp handles one
 * row of (N, C): the max and the sums are butterfly reductions (every lane ends with the
 * same bits), exponential and loss sums in double. Row losses go to per-block partials in a
 * grid sized from the shape only, then one block sums them in a fixed order (no atomics on
 * values), so the loss is the same bits on every run. Logits, their gradient and argmax's x
 * are of element type E (cuda_dtype.cuh); prob, targets and the loss are f32. */
#include <math.h>

#include "cuda_block_sum.cuh"
#include "cuda_dtype.cuh"
#include "cuda_loss_kernels.h"
#include "cuda_xent_soft_kernels.h"

#define WARP 32


__device__ static float warp_max(float m)
{
    for (int o = WARP / 2; o > 0; o >>= 1) {
        float v = __shfl_xor_sync(0xffffffffu, m, o);
        m = v > m ? v : m;
    }
    return m;
}

__device__ static double warp_sum(double s)
{
    for (int o = WARP / 2; o > 0; o >>= 1)
        s += __shfl_xor_sync(0xffffffffu, s, o);
    return s;
}

static unsigned red_blocks(int64_t threads)
{
    int64_t b = (threads + CUDA_THREADS - 1) / CUDA_THREADS;
    return (unsigned)(b < 1 ? 1 : b > CUDA_XSOFT_RED_BLOCKS ? CUDA_XSOFT_RED_BLOCKS : b);
}

/* Softmax of each row into prob; block partials of the loss of counted rows (targets summing
 * to nonzero) and of their number. Row loss = sum_k t_k (lse - x_k), lse = m + log(s);
 * zero targets add nothing (no 0 * inf for a -inf logit). */
template <typename E>
__global__ void xsoft_fwd_kernel(int64_t n, int64_t c, const E *x, const float *t, float *prob,
                                 double *psum, long long *pcnt)
{
    int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    int64_t warps = (int64_t)gridDim.x * blockDim.x / WARP;
    int lane = (int)(threadIdx.x % WARP);
    double acc = 0.0;
    long long cnt = 0;
    for (int64_t r = tid / WARP; r < n; r += warps) {
        const E *xr = x + r * c;
        const float *tr = t + r * c;
        float *pr = prob + r * c;
        float m = -INFINITY;
        for (int64_t k = lane; k < c; k += WARP)
            m = ldf(xr[k]) > m ? ldf(xr[k]) : m;
        m = warp_max(m);
        double s = 0.0;
        for (int64_t k = lane; k < c; k += WARP) {
            float d = ldf(xr[k]) - m;
            float e = expf(d < -87.0f ? -87.0f : d);
            pr[k] = e;
            s += e;
        }
        s = warp_sum(s);
        float inv = (float)(1.0 / s);
        double lse = (double)m + log(s), l = 0.0, ts = 0.0;
        for (int64_t k = lane; k < c; k += WARP) {
            pr[k] *= inv;
            float tk = tr[k];
            if (tk != 0.0f) {
                ts += tk;
                l += (double)tk * (lse - (double)ldf(xr[k]));
            }
        }
        l = warp_sum(l);
        ts = warp_sum(ts);
        if (lane == 0 && ts != 0.0) {
            acc += l;
            cnt++;
        }
    }
    acc = block_sum(acc);
    cnt = block_sum(cnt);
    if (threadIdx.x == 0) {
        psum[blockIdx.x] = acc;
        pcnt[blockIdx.x] = cnt;
    }
}

/* One block: loss = sum / count over nb partials; 0 when no row counts. */
__global__ void xsoft_final_kernel(int nb, const double *psum, const long long *pcnt,
                                   float *loss)
{
    double s = 0.0;
    long long k = 0;
    for (int b = threadIdx.x; b < nb; b += blockDim.x) {
        s += psum[b];
        k += pcnt[b];
    }
    s = block_sum(s);
    k = block_sum(k);
    if (threadIdx.x == 0)
        *loss = k ? (float)(s / (double)k) : 0.0f;
}

extern "C" void cuda_xent_soft_fwd(cudaStream_t st, int dt, int64_t n, int64_t c,
                                   const void *x, const float *t, float *prob, void *scratch,
                                   float *loss)
{
    double *psum = (double *)scratch;
    long long *pcnt = (long long *)(psum + CUDA_XSOFT_RED_BLOCKS);
    unsigned nb = red_blocks(n * WARP);
    CU_DISPATCH(dt, E, xsoft_fwd_kernel<E><<<nb, CUDA_THREADS, 0, st>>>(n, c, (const E *)x, t,
                                                                        prob, psum, pcnt));
    xsoft_final_kernel<<<1, CUDA_THREADS, 0, st>>>((int)nb, psum, pcnt, loss);
}

/* Block partials of the number of rows whose targets sum to nonzero. */
__global__ void xsoft_count_kernel(int64_t n, int64_t c, const float *t, long long *pcnt)
{
    int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    int64_t warps = (int64_t)gridDim.x * blockDim.x / WARP;
    int lane = (int)(threadIdx.x % WARP);
    long long cnt = 0;
    for (int64_t r = tid / WARP; r < n; r += warps) {
        double ts = 0.0;
        for (int64_t k = lane; k < c; k += WARP)
            ts += t[r * c + k];
        ts = warp_sum(ts);
        cnt += lane == 0 && ts != 0.0;
    }
    cnt = block_sum(cnt);
    if (threadIdx.x == 0)
        pcnt[blockIdx.x] = cnt;
}

/* d x_k = w (sum(t) p_k - t_k), w = scale for a counted row and 0 otherwise. */
template <typename E>
__global__ void xsoft_bwd_kernel(int64_t n, int64_t c, const float *prob, const float *t,
                                 const float *scale, E *d)
{
    int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    int64_t warps = (int64_t)gridDim.x * blockDim.x / WARP;
    int lane = (int)(threadIdx.x % WARP);
    float sc = *scale;
    for (int64_t r = tid / WARP; r < n; r += warps) {
        double ts = 0.0;
        for (int64_t k = lane; k < c; k += WARP)
            ts += t[r * c + k];
        ts = warp_sum(ts);
        float w = ts != 0.0 ? sc : 0.0f, tsf = (float)ts;
        for (int64_t k = lane; k < c; k += WARP)
            d[r * c + k] = stf<E>(w * (tsf * prob[r * c + k] - t[r * c + k]));
    }
}

extern "C" void cuda_xent_soft_bwd(cudaStream_t st, int dt, int64_t n, int64_t c,
                                   const float *prob, const float *t, const float *dloss,
                                   void *scratch, void *dlogits)
{
    long long *pcnt = (long long *)scratch;
    float *scale = (float *)(pcnt + CUDA_XSOFT_RED_BLOCKS);
    unsigned nb = red_blocks(n * WARP);
    xsoft_count_kernel<<<nb, CUDA_THREADS, 0, st>>>(n, c, t, pcnt);
    cuda_loss_count_scale(st, (int)nb, pcnt, dloss, scale); /* 0 when no row counts */
    CU_DISPATCH(dt, E, xsoft_bwd_kernel<E><<<cuda_blocks(n * WARP), CUDA_THREADS, 0, st>>>(
                           n, c, prob, t, scale, (E *)dlogits));
}

/* One thread per (sample, pixel); NaN never wins over a number (as the CPU's). */
template <typename E>
__global__ void argmax_kernel(int64_t n, int64_t c, int64_t hw, const E *x, int32_t *idx)
{
    for (int64_t q = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; q < n * hw;
         q += (int64_t)gridDim.x * blockDim.x) {
        const E *b = x + (q / hw) * c * hw + q % hw;
        int32_t best = 0;
        float bv = ldf(b[0]);
        for (int64_t k = 1; k < c; k++) {
            float v = ldf(b[k * hw]);
            if (v > bv || (bv != bv && v == v)) {
                bv = v;
                best = (int32_t)k;
            }
        }
        idx[q] = best;
    }
}

extern "C" void cuda_argmax_channel(cudaStream_t st, int dt, int64_t n, int64_t c, int64_t hw,
                                    const void *x, int32_t *idx)
{
    CU_DISPATCH(dt, E, argmax_kernel<E><<<cuda_blocks(n * hw), CUDA_THREADS, 0, st>>>(
                           n, c, hw, (const E *)x, idx));
}
