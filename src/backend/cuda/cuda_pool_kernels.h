/* Launchers of cuda_pool.cu (max/avg pooling, max unpooling, nearest/bilinear upsampling),
 * called from cuda_pool.c, which checks the geometry first. Stream first; none allocates or
 * synchronises. Plane sizes (H*W, P*Q) fit int32, as the i32 argmax indices need. Tensors
 * are planes = N*C planes, NCHW or channels-last (cuda_layout.cuh); positions within a plane
 * (the indices of max pooling and unpooling) are h*W + w in both. */
#ifndef CNN_BACKEND_CUDA_POOL_KERNELS_H
#define CNN_BACKEND_CUDA_POOL_KERNELS_H

#include "cuda_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One pooling: planes = N*C, input planes (H, W), output planes (P, Q), floor mode. */
typedef struct cupool_geom {
    int64_t planes;
    int64_t C; /* channels: planes are n*C + c */
    int cl;    /* x, y, idx (and dy, dx) are channels-last */
    int H, W, P, Q;
    int kh, kw, sh, sw, ph, pw;
    int include_pad; /* avg: divide by kh*kw, not by the count of real inputs */
} cupool_geom;

/* dt: the CU_* code of the float tensors (x, y, dy, dx). */
void cupool_max_fwd(cudaStream_t s, int dt, cupool_geom g, const void *x, void *y,
                    int32_t *idx);
void cupool_avg_fwd(cudaStream_t s, int dt, cupool_geom g, const void *x, void *y);
/* Both overwrite dx (planes, H, W) by a gather over the outputs whose windows cover each
 * input element: deterministic, and summed in the CPU's order. max assumes every idx lies
 * in its own window (pool_fwd wrote it). */
void cupool_max_bwd(cudaStream_t s, int dt, cupool_geom g, const void *dy, const int32_t *idx,
                    void *dx);
void cupool_avg_bwd(cudaStream_t s, int dt, cupool_geom g, const void *dy, void *dx);

/* c > 0 below: the tensors are channels-last with c channels; c == 0: NCHW. */
/* y (planes, out_sz) = 0 except y[idx] = x, x and idx (planes, in_sz); where two inputs of
 * one plane share an index the later one wins, as on the CPU. Indices outside the plane are
 * skipped. The launcher keeps int32 claims (-1 = unclaimed) before it writes the values:
 * in y itself for f32 (the caller first sets every byte of y to 0xFF, claims unused), else
 * in claims (planes * out_sz int32 of device scratch, every byte set to 0xFF first). */
void cupool_unpool_fwd(cudaStream_t s, int dt, int64_t planes, int64_t c, int64_t in_sz,
                       int64_t out_sz, const void *x, const int32_t *idx, void *y, int *claims);
/* dx[i] = dy[idx[i]] (0 for an index outside the plane). */
void cupool_unpool_bwd(cudaStream_t s, int dt, int64_t planes, int64_t c, int64_t in_sz,
                       int64_t out_sz, const void *dy, const int32_t *idx, void *dx);

/* x (planes, H, W) -> y (planes, H*fh, W*fw); bilinear is align_corners=false. */
void cupool_upsample_fwd(cudaStream_t s, int dt, int bilinear, int64_t planes, int64_t c,
                         int H, int W, int fh, int fw, const void *x, void *y);
/* Overwrites dx by a gather per input element (deterministic, no atomics). */
void cupool_upsample_bwd(cudaStream_t s, int dt, int bilinear, int64_t planes, int64_t c,
                         int H, int W, int fh, int fw, const void *dy, void *dx);

#ifdef __cplusplus
}
#endif

#endif
