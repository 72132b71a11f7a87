/* CUDA backend object: device selection, stream and library handles, a caching memory pool
 * (cudaMalloc only when no cached block fits, so a training step allocates nothing), copies,
 * and the assembly of the ops table from its groups. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_impl.h"

#define MiB (1024.0 * 1024.0)

typedef struct pool_block {
    void *p;
    size_t bytes;
    int in_use;
} pool_block;

struct cuda_pool {
    pool_block *b;
    int n, cap;
};

static size_t round_size(size_t bytes)
{
    size_t q = bytes < (1u << 20) ? 512 : (2u << 20); /* small: 512 B; large: 2 MiB */
    return (bytes + q - 1) / q * q;
}

static void pool_release_free(cuda_pool *pl)
{
    int k = 0;
    for (int i = 0; i < pl->n; i++) {
        if (pl->b[i].in_use)
            pl->b[k++] = pl->b[i];
        else
            CNN_CUDA(cudaFree(pl->b[i].p));
    }
    pl->n = k;
}

static int cuda_alloc(backend *be, size_t bytes, void **out, cnn_err *e)
{
    cuda_state *st = cuda_of(be);
    cuda_pool *pl = st->pool;
    size_t want = round_size(bytes ? bytes : 1);
    int best = -1;
    for (int i = 0; i < pl->n; i++) /* best fit, wasting at most half the block */
        if (!pl->b[i].in_use && pl->b[i].bytes >= want && pl->b[i].bytes <= 2 * want &&
            (best < 0 || pl->b[i].bytes < pl->b[best].bytes))
            best = i;
    if (best >= 0) {
        pl->b[best].in_use = 1;
        *out = pl->b[best].p;
        return CNN_OK;
    }
    void *p = NULL;
    cudaError_t rc = cudaMalloc(&p, want);
    if (rc == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        CNN_CUDA(cudaStreamSynchronize(st->stream));
        pool_release_free(pl);
        rc = cudaMalloc(&p, want);
    }
    if (rc != cudaSuccess) {
        (void)cudaGetLastError();
        size_t free_b = 0, total = 0;
        if (cudaMemGetInfo(&free_b, &total) != cudaSuccess) /* the message says 0 of 0 */
            free_b = total = 0, (void)cudaGetLastError();
        return CNN_ERR(e, CNN_ENOMEM, "out of GPU memory on device %d: needed %.1f MiB, %.1f "
                       "of %.1f MiB free (cudaMalloc: %s); reduce the batch size or the model",
                       st->device, (double)want / MiB, (double)free_b / MiB,
                       (double)total / MiB, cudaGetErrorString(rc));
    }
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? 2 * pl->cap : 64;
        pool_block *nb = realloc(pl->b, (size_t)pl->cap * sizeof *nb);
        if (!nb)
            cnn_fatal("realloc of the GPU pool table (%d blocks) failed", pl->cap);
        pl->b = nb;
    }
    pl->b[pl->n++] = (pool_block){p, want, 1};
    *out = p;
    return CNN_OK;
}

static void cuda_free(backend *be, void *p)
{
    if (!p)
        return;
    cuda_pool *pl = cuda_of(be)->pool;
    for (int i = 0; i < pl->n; i++)
        if (pl->b[i].p == p) {
            pl->b[i].in_use = 0; /* stays cached; stream order keeps reuse safe */
            return;
        }
    cnn_fatal("cuda backend: free of %p, which this backend's pool did not allocate", p);
}

static int cuda_host_alloc(backend *be, size_t bytes, void **out, cnn_err *e)
{
    (void)be;
    cudaError_t rc = cudaHostAlloc(out, bytes ? bytes : 1, cudaHostAllocPortable);
    if (rc != cudaSuccess) {
        (void)cudaGetLastError(); /* an allocation failure is not sticky: clear it */
        *out = NULL;
        return CNN_ERR(e, CNN_ENOMEM, "cudaHostAlloc of %.1f MiB of page-locked host memory "
                       "failed (%s); lower data.prefetch or the batch size",
                       (double)bytes / (1 << 20), cudaGetErrorString(rc));
    }
    return CNN_OK;
}

static void cuda_host_free(backend *be, void *p)
{
    (void)be;
    if (p)
        CNN_CUDA(cudaFreeHost(p));
}

static void cuda_copy(backend *be, void *dst, device_kind dd, const void *src, device_kind sd,
                      size_t bytes)
{
    if (bytes)
        CNN_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, cuda_of(be)->stream));
    (void)dd;
    (void)sd;
}

static void cuda_sync(backend *be) { CNN_CUDA(cudaStreamSynchronize(cuda_of(be)->stream)); }

void *cuda_scratch(backend *be, size_t bytes)
{
    cuda_state *st = cuda_of(be);
    if (bytes > st->scratch_bytes) {
        if (st->scratch)
            cuda_free(be, st->scratch);
        cnn_err e = {0};
        void *p;
        if (cuda_alloc(be, bytes, &p, &e) < 0)
            cnn_fatal("%s", e.msg);
        st->scratch = p;
        st->scratch_bytes = bytes;
    }
    return st->scratch;
}

size_t cuda_workspace(backend *be, size_t want, void **ws)
{
    cuda_state *st = cuda_of(be);
    if (want > st->workspace_limit)
        want = st->workspace_limit;
    if (want > st->workspace_bytes) {
        if (st->workspace)
            cuda_free(be, st->workspace);
        cnn_err e = {0};
        if (cuda_alloc(be, want, &st->workspace, &e) < 0)
            cnn_fatal("convolution workspace: %s (lower the workspace limit)", e.msg);
        st->workspace_bytes = want;
    }
    *ws = st->workspace;
    return st->workspace_bytes;
}

static void cuda_destroy(backend *be)
{
    if (!be)
        return;
    cuda_state *st = cuda_of(be);
    cudaStreamSynchronize(st->stream);
    cuda_conv_cache_destroy(st->conv_cache);
    for (int i = 0; st->pool && i < st->pool->n; i++)
        cudaFree(st->pool->b[i].p);
    if (st->pool)
        free(st->pool->b);
    free(st->pool);
    cublasDestroy(st->cublas);
    cudnnDestroy(st->cudnn);
    cudaStreamDestroy(st->stream);
    free(st);
    free(be);
}

int cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver or no device: not an error, just none */
        return 0;
    }
    return n;
}

/* comm's NCCL transport orders its all-reduces against this stream with events. */
static void *cuda_native_stream(backend *be)
{
    return (void *)cuda_of(be)->stream;
}

static void install(backend_ops *ops)
{
    ops->name = "cuda";
    ops->dev = DEVICE_CUDA;
    ops->destroy = cuda_destroy;
    ops->alloc = cuda_alloc;
    ops->free = cuda_free;
    ops->copy = cuda_copy;
    ops->host_alloc = cuda_host_alloc;
    ops->host_free = cuda_host_free;
    ops->sync = cuda_sync;
    ops->native_stream = cuda_native_stream;
    cuda_install_elementwise(ops);
    cuda_install_dense(ops);
    cuda_install_conv(ops);
    cuda_install_pool(ops);
    cuda_install_norm(ops);
    cuda_install_loss(ops);
    cuda_install_xent_soft(ops);
    cuda_install_optim(ops);
}

int cuda_backend_create(const backend_opts *o, backend **out, cnn_err *e)
{
    int device = o->gpu;
    *out = NULL;
    int n = cuda_device_count();
    if (n == 0)
        return CNN_ERR(e, CNN_ENOTSUP, "device: cuda: no CUDA device is visible (check "
                       "nvidia-smi and CUDA_VISIBLE_DEVICES), or use device: cpu");
    if (device < 0 || device >= n)
        return CNN_ERR(e, CNN_EINVAL, "CUDA device %d does not exist: %d visible (0..%d)",
                       device, n, n - 1);
    CNN_CUDA(cudaSetDevice(device));
    cuda_state *st = cnn_xcalloc(1, sizeof *st);
    st->device = device;
    st->workspace_limit = o->workspace_bytes ? o->workspace_bytes : (size_t)2048 << 20;
    st->deterministic = o->deterministic;
    st->conv_via_nchw = o->conv_via_nchw;
    st->pool = cnn_xcalloc(1, sizeof *st->pool);
    CNN_CUDA(cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking));
    CNN_CUDNN(cudnnCreate(&st->cudnn));
    CNN_CUDNN(cudnnSetStream(st->cudnn, st->stream));
    CNN_CUBLAS(cublasCreate(&st->cublas));
    CNN_CUBLAS(cublasSetStream(st->cublas, st->stream));
    /* fp32 stays IEEE fp32 (no TF32) so results match the CPU backend; mixed precision
     * (bf16/fp16, chosen by config) accumulates in f32 all the way: split-K reductions may
     * not drop to the 16-bit output type (the flag changes nothing for fp32). */
    CNN_CUBLAS(cublasSetMathMode(st->cublas, (cublasMath_t)(CUBLAS_DEFAULT_MATH |
                                 CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
    install(&st->ops);
    backend *be = cnn_xcalloc(1, sizeof *be);
    be->ops = &st->ops;
    be->impl = st;
    *out = be;
    return CNN_OK;
}
