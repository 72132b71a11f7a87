/* Launchers of the loss kernels (cuda_loss.cu), called from cuda_loss.c. Reductions write
 * per-block partials into the caller's device scratch (CUDA_LOSS_SCRATCH bytes) and finish
 * in one block in a fixed order, so losses are bitwise reproducible. None allocates or
 * synchronises, except cuda_xent_bad_label's copy, which the caller waits for. dt (tdt):
 * the CU_* code of the logits/predictions and their gradients (of mse's target); prob,
 * loss and dloss are f32. */
#ifndef CNN_BACKEND_CUDA_LOSS_KERNELS_H
#define CNN_BACKEND_CUDA_LOSS_KERNELS_H

#include "cuda_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Blocks of a reduction at most: partials in scratch. Overridable only so that the host
 * emulator test (tests/emu) reaches the capped grid with small inputs. */
#ifndef CUDA_LOSS_RED_BLOCKS
#define CUDA_LOSS_RED_BLOCKS 1024
#endif
#define CUDA_LOSS_SCRATCH (CUDA_LOSS_RED_BLOCKS * 16 + 256)

/* Logits (n, c, hw...): pixel q in [0, n * hw), class k of pixel q at
 * (q / hw) * c * hw + q % hw + k * hw; labels i32 (n * hw). */
typedef struct cuda_xent_geom {
    int64_t n, c, hw;
} cuda_xent_geom;

/* *scale = dloss[0] / the sum of nb per-block counts pcnt, 0 when the sum is 0: the loss
 * gradient's factor, shared by the hard- and soft-label cross-entropies. */
void cuda_loss_count_scale(cudaStream_t st, int nb, const long long *pcnt, const float *dloss,
                           float *scale);
/* prob = softmax over classes, *loss = mean over counted pixels (0 when none counts). A label
 * that is neither a class nor `ignore` is recorded (see cuda_xent_bad_label) and skipped. */
void cuda_xent_fwd(cudaStream_t st, int dt, cuda_xent_geom g, const void *x,
                   const int32_t *labels, float smoothing, int ignore, float *prob,
                   void *scratch, float *loss);
/* dlogits = dloss[0] / count * (prob - smoothing / c - (1 - smoothing) [k == label]), 0 for
 * ignored pixels; count is recounted on the device, dloss read on the device. */
void cuda_xent_bwd(cudaStream_t st, int dt, cuda_xent_geom g, const float *prob,
                   const int32_t *labels, float smoothing, int ignore, const float *dloss,
                   void *scratch, void *dlogits);
/* Queues a copy of the smallest bad-label pixel recorded so far on this device into *pos
 * (-1: none); the caller synchronises the stream before reading it. */
cudaError_t cuda_xent_bad_label(cudaStream_t st, long long *pos);

/* *loss = mean (pred - target)^2 over n; dpred = 2 dloss[0] (pred - target) / n. */
void cuda_mse_fwd(cudaStream_t st, int dt, int tdt, int64_t n, const void *pred,
                  const void *target, void *scratch, float *loss);
void cuda_mse_bwd(cudaStream_t st, int dt, int tdt, int64_t n, const void *pred,
                  const void *target, const float *dloss, void *dpred);

#ifdef __cplusplus
}
#endif

#endif
