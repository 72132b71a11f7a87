/* Launchers of cuda_optim.cu (sumsq, grad_coef, loss scale, SGD and AdamW updates), called from
 * cuda_optim.c. Stream first, then device pointers and sizes; none allocates or
 * synchronises; the step's coef = [c, skip] stays on the device. */
#ifndef CNN_BACKEND_CUDA_OPTIM_KERNELS_H
#define CNN_BACKEND_CUDA_OPTIM_KERNELS_H

#include <stdbool.h>

#include "cuda_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Partial sums of sumsq: at most this many blocks, so scratch of this many doubles.
 * Overridable only so that the host emulator test (tests/emu) reaches the capped grid with
 * small inputs. */
#ifndef CUDA_OPTIM_RED_BLOCKS
#define CUDA_OPTIM_RED_BLOCKS 1024
#endif

/* out[0] = sum x^2 (+ beta * out[0]); scratch: CUDA_OPTIM_RED_BLOCKS doubles. */
void cuda_optim_sumsq(cudaStream_t s, int64_t n, const float *x, double *scratch, float *out,
                      float beta);
/* coef = [c, skip] as backend.h grad_coef; scale (device f32 scalar) may be NULL (1). */
void cuda_optim_grad_coef(cudaStream_t s, const float *sumsq, float max_norm,
                          const float *scale, float *coef);
/* scale (2) = [scale, good steps] updated from coef[1] (skip), as backend.h says. */
void cuda_optim_loss_scale_update(cudaStream_t s, float *scale, const float *coef,
                                  float growth, float backoff, int interval);
/* coef NULL = [1, 0]; mom NULL when momentum is 0. */
void cuda_optim_sgd(cudaStream_t s, int64_t n, float *w, const float *g, float *mom, float lr,
                    float momentum, float wd, bool nesterov, bool first, const float *coef);
/* decay = 1 - lr*wd, step_size = lr / (1 - b1^t), bc2_sqrt = sqrt(1 - b2^t): host scalars. */
void cuda_optim_adamw(cudaStream_t s, int64_t n, float *w, const float *g, float *m, float *v,
                      float decay, float step_size, float bc2_sqrt, float b1, float b2,
                      float k1, float k2, float eps, const float *coef);

#ifdef __cplusplus
}
#endif

#endif
