/* Launchers of cuda_elementwise.cu (fill, axpby, add, channel copy, activations, dropout),
 * called from cuda_elementwise.c. Stream first, then device pointers and int64 sizes; none
 * allocates or synchronises. */
#ifndef CNN_BACKEND_CUDA_ELEMENTWISE_KERNELS_H
#define CNN_BACKEND_CUDA_ELEMENTWISE_KERNELS_H

#include "cuda_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Activation kinds as the kernels see them (cuda_elementwise.c maps act_kind onto these, so
 * the .cu needs no C header of the core). */
enum { CUEW_RELU, CUEW_LEAKY_RELU, CUEW_TANH, CUEW_SIGMOID };

void cuew_fill_f32(cudaStream_t s, float *y, int64_t n, float v);
void cuew_fill_i32(cudaStream_t s, int32_t *y, int64_t n, int32_t v);
void cuew_fill_i64(cudaStream_t s, int64_t *y, int64_t n, int64_t v);
/* y = a*x + b*y; b == 0 never reads y. */
void cuew_axpby(cudaStream_t s, int64_t n, float a, const float *x, float b, float *y);
void cuew_add(cudaStream_t s, int64_t n, const float *a, const float *b, float *y);
/* dst[n, dst_c0 + c, :] = src[n, src_c0 + c, :] + beta * dst[...] for c < nc; hw = H*W;
 * beta == 0 never reads dst. */
void cuew_channel_copy(cudaStream_t s, int64_t n, int64_t cs, int64_t cd, int64_t hw,
                       const float *src, int64_t src_c0, float *dst, int64_t dst_c0,
                       int64_t nc, float beta);
void cuew_act_fwd(cudaStream_t s, int kind, float alpha, int64_t n, const float *x, float *y);
/* relu and leaky relu read x; tanh and sigmoid read y (the other may be NULL). */
void cuew_act_bwd(cudaStream_t s, int kind, float alpha, int64_t n, const float *x,
                  const float *y, const float *dy, float *dx);
/* keep[i] = rng_uniform(key, i) >= p, y = keep ? x * scale : 0 (scale from the host, as the
 * CPU computes it). */
void cuew_dropout_fwd(cudaStream_t s, uint32_t k0, uint32_t k1, float p, float scale,
                      int64_t n, const float *x, float *y, uint8_t *mask);
void cuew_dropout_bwd(cudaStream_t s, float scale, int64_t n, const uint8_t *mask,
                      const float *dy, float *dx);

#ifdef __cplusplus
}
#endif

#endif
