/* Launchers of cuda_dense.cu (bias ops of linear and convolution layers), called from
 * cuda_dense.c. Tensors are (N, C, inner) with inner = the product of trailing dims. */
#ifndef CNN_BACKEND_CUDA_DENSE_KERNELS_H
#define CNN_BACKEND_CUDA_DENSE_KERNELS_H

#include "cuda_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y (N, C, inner) += b[c]. */
void cuda_bias_add_launch(cudaStream_t s, float *y, const float *b, int64_t N, int64_t C,
                          int64_t inner);
/* db[c] = sum over n, i of dy[n, c, i] + beta * db[c]; beta 0 ignores old db (even NaN).
 * One block per channel: a fixed summation order, so the result is deterministic. */
void cuda_bias_grad_launch(cudaStream_t s, const float *dy, float *db, int64_t N, int64_t C,
                           int64_t inner, float beta);

#ifdef __cplusplus
}
#endif

#endif
