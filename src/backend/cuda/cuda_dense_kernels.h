/* Launchers of cuda_dense.cu (bias ops of linear and convolution layers), called from
 * cuda_dense.c. Tensors are (N, C, inner) with inner = the product of trailing dims. */
#ifndef CNN_BACKEND_CUDA_DENSE_KERNELS_H
#define CNN_BACKEND_CUDA_DENSE_KERNELS_H

#include "cuda_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y (N, C, inner) += b[c]; ydt, bdt: CU_* codes of y and b. */
void cuda_bias_add_launch(cudaStream_t s, int ydt, void *y, int bdt, const void *b, int64_t N,
                          int64_t C, int64_t inner);
/* Pieces per channel of bias_grad: 1 (one block per channel) unless channels are few and
 * long; then enough pieces to give about CUDA_BIAS_TARGET_BLOCKS blocks, none shorter than
 * CUDA_BIAS_PIECE_MIN values. Depends only on the shape. */
#define CUDA_BIAS_PIECE_MIN 4096
#define CUDA_BIAS_TARGET_BLOCKS 2048
#define CUDA_BIAS_PIECES_MAX 1024
int64_t cuda_bias_grad_pieces(int64_t N, int64_t C, int64_t inner);
/* db[c] = sum over n, i of dy[n, c, i] + beta * db[c]; beta 0 ignores old db (even NaN).
 * Deterministic (fixed summation order). part: C * cuda_bias_grad_pieces() floats of device
 * scratch when that is above 1, else unused (may be NULL). */
void cuda_bias_grad_launch(cudaStream_t s, int ydt, const void *dy, int bdt, void *db,
                           int64_t N, int64_t C, int64_t inner, float beta, float *part);

/* The same sum for a channels-last gradient, dy (rows, C) row-major (an NHWC
 * (N, C, H, W) tensor has rows = N*H*W), read in coalesced column tiles of 32 channels;
 * pieces of at least CUDA_BIAS_CL_ROWS_MIN rows. part: C * cuda_bias_grad_cl_pieces()
 * floats of device scratch when that is above 1. Deterministic, as above. */
#define CUDA_BIAS_CL_ROWS_MIN 128
int64_t cuda_bias_grad_cl_pieces(int64_t rows, int64_t C);
void cuda_bias_grad_cl_launch(cudaStream_t s, int ydt, const void *dy, int bdt, void *db,
                              int64_t rows, int64_t C, float beta, float *part);

#ifdef __cplusplus
}
#endif

#endif
