/* Launchers of the soft-target cross-entropy and argmax kernels (cuda_xent_soft.cu), called
 * from cuda_xent_soft.c; the same semantics as the CPU reference cpu_xent_soft.c. Reductions
 * write per-block partials into the caller's device scratch (CUDA_XSOFT_SCRATCH bytes) and
 * finish in one block in a fixed order, so the loss is bitwise reproducible. None allocates
 * or synchronises. dt: the CU_* code of the logits, their gradient and argmax's x; prob,
 * targets and losses are f32. */
#ifndef CNN_BACKEND_CUDA_XENT_SOFT_KERNELS_H
#define CNN_BACKEND_CUDA_XENT_SOFT_KERNELS_H

#include "cuda_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Blocks of a reduction at most: partials in scratch. Overridable only so that the host
 * emulator test (tests/emu) reaches the capped grid with small inputs. */
#ifndef CUDA_XSOFT_RED_BLOCKS
#define CUDA_XSOFT_RED_BLOCKS 1024
#endif
#define CUDA_XSOFT_SCRATCH (CUDA_XSOFT_RED_BLOCKS * 16 + 256)

/* logits, target, prob (n, c): prob = softmax rows; *loss = mean over rows whose targets
 * sum to nonzero of -sum_k t_k log p_k (0 when no row counts). */
void cuda_xent_soft_fwd(cudaStream_t st, int dt, int64_t n, int64_t c, const void *x,
                        const float *t, float *prob, void *scratch, float *loss);
/* dlogits = dloss[0] / count * (sum(t) p - t) per counted row, 0 for the others; count is
 * recounted on the device, dloss read on the device. */
void cuda_xent_soft_bwd(cudaStream_t st, int dt, int64_t n, int64_t c, const float *prob,
                        const float *t, const float *dloss, void *scratch, void *dlogits);
/* idx (n, hw) = first k with the largest x[(i, k, q)] over k in [0, c), x (n, c, hw). */
void cuda_argmax_channel(cudaStream_t st, int dt, int64_t n, int64_t c, int64_t hw,
                         const void *x, int32_t *idx);

#ifdef __cplusplus
}
#endif

#endif
