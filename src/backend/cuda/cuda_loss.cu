/* Loss kernels, matching cpu_loss.c: softmax cross-entropy over dim 1 with PyTorch's
 * label_smoothing and ignore_index, and mean squared error. A "team" of T lanes handles one
 * pixel: T = 32 (a warp over contiguous classes) for (N, C) rows, T = 1 (a thread, classes
 * hw apart, neighbouring threads on neighbouring pixels) for (N, C, H, W). Softmax subtracts
 * the max; sums of exponentials and losses accumulate in double. Reductions: per-block
 * partials in a grid sized from the shape only, then one block in a fixed order (no atomics
 * on values). Bad labels: the smallest offending pixel goes to a __device__ flag (atomicMin),
 * read back by cuda_loss.c after xent_fwd. Logits, predictions and their gradients are of
 * element type T (cuda_dtype.cuh: read into f32, one rounding per gradient element); prob,
 * losses and dloss are f32; mse's target may be of any float type (the layer swaps pred and
 * target for d/dtarget). */
#include <math.h>

#include "cuda_block_sum.cuh"
#include "cuda_dtype.cuh"
#include "cuda_loss_kernels.h"

#define NO_BAD 0xffffffffffffffffull

/* First (smallest) pixel whose label is neither a class nor the ignore index. Device-wide
 * and sticky: cuda_loss.c fails the run as soon as it reads a value other than NO_BAD. */
__device__ static unsigned long long xent_bad_pos = NO_BAD;


/* Butterfly reductions over a team: every lane ends with the same bits (a + b == b + a). */
template <int T>
__device__ static float team_max(float m)
{
    for (int o = T / 2; o > 0; o >>= 1) {
        float v = __shfl_xor_sync(0xffffffffu, m, o);
        m = v > m ? v : m;
    }
    return m;
}

template <int T>
__device__ static double team_sum(double s)
{
    for (int o = T / 2; o > 0; o >>= 1)
        s += __shfl_xor_sync(0xffffffffu, s, o);
    return s;
}

static unsigned red_blocks(int64_t threads)
{
    int64_t b = (threads + CUDA_THREADS - 1) / CUDA_THREADS;
    return (unsigned)(b < 1 ? 1 : b > CUDA_LOSS_RED_BLOCKS ? CUDA_LOSS_RED_BLOCKS : b);
}

/* Softmax of each pixel into prob; block partials of the loss of counted pixels and of
 * their number. nll = lse - x_y, smooth = lse - mean_k x_k, lse = m + log(s). */
template <int T, typename E>
__global__ void xent_fwd_kernel(cuda_xent_geom g, const E *x, const int32_t *lab, float eps,
                                int ignore, float *prob, double *psum, long long *pcnt)
{
    int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    int64_t teams = (int64_t)gridDim.x * blockDim.x / T, npix = g.n * g.hw;
    int lane = (int)(threadIdx.x % T);
    double acc = 0.0;
    long long cnt = 0;
    for (int64_t q = tid / T; q < npix; q += teams) {
        int64_t base = (q / g.hw) * g.c * g.hw + q % g.hw;
        const E *xb = x + base;
        float *pb = prob + base;
        float m = -INFINITY;
        for (int64_t k = lane; k < g.c; k += T) {
            float v = ldf(xb[k * g.hw]);
            m = v > m ? v : m;
        }
        m = team_max<T>(m);
        double s = 0.0, dev = 0.0;
        for (int64_t k = lane; k < g.c; k += T) {
            float d = ldf(xb[k * g.hw]) - m;
            dev -= d;
            float e = expf(d < -87.0f ? -87.0f : d);
            pb[k * g.hw] = e;
            s += e;
        }
        s = team_sum<T>(s);
        dev = team_sum<T>(dev);
        float inv = (float)(1.0 / s);
        for (int64_t k = lane; k < g.c; k += T)
            pb[k * g.hw] *= inv;
        int32_t y = lab[q];
        if (lane != 0 || y == ignore)
            continue;
        if (y < 0 || y >= g.c) {
            atomicMin(&xent_bad_pos, (unsigned long long)q);
            continue;
        }
        double lg = log(s);
        double nll = (double)m - (double)ldf(xb[(int64_t)y * g.hw]) + lg;
        double smooth = dev / (double)g.c + lg;
        acc += eps > 0.0f ? (1.0 - eps) * nll + eps * smooth : nll;
        cnt++;
    }
    acc = block_sum(acc);
    cnt = block_sum(cnt);
    if (threadIdx.x == 0) {
        psum[blockIdx.x] = acc;
        pcnt[blockIdx.x] = cnt;
    }
}

/* One block: loss = sum / count over nb partials (count NULL: the fixed n). */
__global__ void loss_final_kernel(int nb, const double *psum, const long long *pcnt,
                                  long long n, float *loss)
{
    double s = 0.0;
    long long k = 0;
    for (int b = threadIdx.x; b < nb; b += blockDim.x) {
        s += psum[b];
        k += pcnt ? pcnt[b] : 0;
    }
    s = block_sum(s);
    k = block_sum(k);
    if (threadIdx.x == 0) {
        long long count = pcnt ? k : n;
        /* Every label ignored: 0, not PyTorch's 0/0 (cpu_loss.c says why). */
        *loss = count ? (float)(s / (double)count) : 0.0f;
    }
}

extern "C" void cuda_xent_fwd(cudaStream_t st, int dt, cuda_xent_geom g, const void *x,
                              const int32_t *labels, float smoothing, int ignore, float *prob,
                              void *scratch, float *loss)
{
    double *psum = (double *)scratch;
    long long *pcnt = (long long *)(psum + CUDA_LOSS_RED_BLOCKS);
    int64_t npix = g.n * g.hw;
    unsigned nb = red_blocks(g.hw == 1 ? npix * 32 : npix);
    CU_DISPATCH(dt, E, {
        if (g.hw == 1)
            xent_fwd_kernel<32, E><<<nb, CUDA_THREADS, 0, st>>>(g, (const E *)x, labels,
                                                                smoothing, ignore, prob, psum,
                                                                pcnt);
        else
            xent_fwd_kernel<1, E><<<nb, CUDA_THREADS, 0, st>>>(g, (const E *)x, labels,
                                                               smoothing, ignore, prob, psum,
                                                               pcnt);
    });
    loss_final_kernel<<<1, CUDA_THREADS, 0, st>>>((int)nb, psum, pcnt, 0, loss);
}

/* Block partials of the number of labels that are not the ignore index. */
__global__ void xent_count_kernel(int64_t n, const int32_t *lab, int ignore, long long *pcnt)
{
    long long k = 0;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        k += lab[i] != ignore;
    k = block_sum(k);
    if (threadIdx.x == 0)
        pcnt[blockIdx.x] = k;
}

/* *scale = dloss[0] / count, 0 when nothing counts. */
__global__ void xent_scale_kernel(int nb, const long long *pcnt, const float *dloss,
                                  float *scale)
{
    long long k = 0;
    for (int b = threadIdx.x; b < nb; b += blockDim.x)
        k += pcnt[b];
    k = block_sum(k);
    if (threadIdx.x == 0)
        *scale = k ? (float)((double)dloss[0] / (double)k) : 0.0f;
}

/* d x_k = w (p_k - eps / C) - [k == y] w (1 - eps); w = scale, or 0 for an ignored pixel. */
template <int T, typename E>
__global__ void xent_bwd_kernel(cuda_xent_geom g, const float *prob, const int32_t *lab,
                                float off, float hit, int ignore, const float *scale, E *d)
{
    int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    int64_t teams = (int64_t)gridDim.x * blockDim.x / T, npix = g.n * g.hw;
    int lane = (int)(threadIdx.x % T);
    float sc = *scale;
    for (int64_t q = tid / T; q < npix; q += teams) {
        int64_t base = (q / g.hw) * g.c * g.hw + q % g.hw;
        int32_t y = lab[q];
        float w = y == ignore ? 0.0f : sc;
        if (lane == 0 && y != ignore && (y < 0 || y >= g.c))
            atomicMin(&xent_bad_pos, (unsigned long long)q);
        for (int64_t k = lane; k < g.c; k += T) {
            int64_t i = base + k * g.hw;
            float v = w * (prob[i] - off);
            if (k == y && y != ignore)
                v -= w * hit;
            d[i] = stf<E>(v);
        }
    }
}

extern "C" void cuda_xent_bwd(cudaStream_t st, int dt, cuda_xent_geom g, const float *prob,
                              const int32_t *labels, float smoothing, int ignore,
                              const float *dloss, void *scratch, void *dlogits)
{
    long long *pcnt = (long long *)scratch;
    float *scale = (float *)(pcnt + CUDA_LOSS_RED_BLOCKS);
    int64_t npix = g.n * g.hw;
    unsigned nb = red_blocks(npix);
    xent_count_kernel<<<nb, CUDA_THREADS, 0, st>>>(npix, labels, ignore, pcnt);
    cuda_loss_count_scale(st, (int)nb, pcnt, dloss, scale);
    float off = smoothing / (float)g.c, hit = 1.0f - smoothing;
    CU_DISPATCH(dt, E, {
        if (g.hw == 1)
            xent_bwd_kernel<32, E><<<cuda_blocks(npix * 32), CUDA_THREADS, 0, st>>>(
                g, prob, labels, off, hit, ignore, scale, (E *)dlogits);
        else
            xent_bwd_kernel<1, E><<<cuda_blocks(npix), CUDA_THREADS, 0, st>>>(
                g, prob, labels, off, hit, ignore, scale, (E *)dlogits);
    });
}

extern "C" void cuda_loss_count_scale(cudaStream_t st, int nb, const long long *pcnt,
                                      const float *dloss, float *scale)
{
    xent_scale_kernel<<<1, CUDA_THREADS, 0, st>>>(nb, pcnt, dloss, scale);
}

extern "C" cudaError_t cuda_xent_bad_label(cudaStream_t st, long long *pos)
{
    unsigned long long v = NO_BAD;
    cudaError_t rc = cudaMemcpyFromSymbolAsync(&v, xent_bad_pos, sizeof v, 0,
                                               cudaMemcpyDeviceToHost, st);
    if (rc == cudaSuccess)
        rc = cudaStreamSynchronize(st);
    *pos = v == NO_BAD ? -1 : (long long)v;
    return rc;
}

template <typename E, typename F>
__global__ void mse_fwd_kernel(int64_t n, const E *a, const F *t, double *psum)
{
    double s = 0.0;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        double df = (double)ldf(a[i]) - (double)ldf(t[i]);
        s += df * df;
    }
    s = block_sum(s);
    if (threadIdx.x == 0)
        psum[blockIdx.x] = s;
}

extern "C" void cuda_mse_fwd(cudaStream_t st, int dt, int tdt, int64_t n, const void *pred,
                             const void *target, void *scratch, float *loss)
{
    double *psum = (double *)scratch;
    unsigned nb = red_blocks(n);
    CU_DISPATCH(dt, E, CU_DISPATCH(tdt, F,
        mse_fwd_kernel<E, F><<<nb, CUDA_THREADS, 0, st>>>(n, (const E *)pred,
                                                          (const F *)target, psum)));
    loss_final_kernel<<<1, CUDA_THREADS, 0, st>>>((int)nb, psum, NULL, (long long)n, loss);
}

template <typename E, typename F>
__global__ void mse_bwd_kernel(int64_t n, const E *a, const F *t, const float *dloss, E *d)
{
    float scale = (float)(2.0 * (double)dloss[0] / (double)n);
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        d[i] = stf<E>(scale * (ldf(a[i]) - ldf(t[i])));
}

extern "C" void cuda_mse_bwd(cudaStream_t st, int dt, int tdt, int64_t n, const void *pred,
                             const void *target, const float *dloss, void *dpred)
{
    CU_DISPATCH(dt, E, CU_DISPATCH(tdt, F,
        mse_bwd_kernel<E, F><<<cuda_blocks(n), CUDA_THREADS, 0, st>>>(
            n, (const E *)pred, (const F *)target, dloss, (E *)dpred)));
}
