/* Launchers of cuda_elementwise.cu (fill, convert, scale_by, axpby, add, channel copy,
 * activations, dropout), called from cuda_elementwise.c. Stream first, then device pointers
 * and int64 sizes; none allocates or synchronises. */
#ifndef CNN_BACKEND_CUDA_ELEMENTWISE_KERNELS_H
#define CNN_BACKEND_CUDA_ELEMENTWISE_KERNELS_H

#include "cuda_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Activation kinds as the kernels see them (cuda_elementwise.c maps act_kind onto these, so
 * the .cu needs no C header of the core). */
enum { CUEW_RELU, CUEW_LEAKY_RELU, CUEW_TANH, CUEW_SIGMOID };

/* Float tensors: dt is a CU_* code, pointers are to elements of that type. */
void cuew_fill_float(cudaStream_t s, int dt, void *y, int64_t n, float v);
void cuew_fill_i32(cudaStream_t s, int32_t *y, int64_t n, int32_t v);
void cuew_fill_i64(cudaStream_t s, int64_t *y, int64_t n, int64_t v);
/* y (ydt) = x (xdt) + beta * y in f32, one rounding; beta == 0 never reads y. */
void cuew_convert(cudaStream_t s, int64_t n, int xdt, const void *x, int ydt, void *y,
                  float beta);
/* convert's transposing variant: y (ydt, (b, k, r)) = x (xdt, (b, r, k)) transposed per
 * batch item, + beta * y as cuew_convert; x and y do not overlap. */
void cuew_transpose(cudaStream_t s, int64_t b, int64_t r, int64_t k, int xdt, const void *x,
                    int ydt, void *y, float beta);
/* y *= k[0], k a device f32 scalar. */
void cuew_scale_by(cudaStream_t s, int dt, int64_t n, void *y, const float *k);
/* y = a*x + b*y; b == 0 never reads y. */
void cuew_axpby(cudaStream_t s, int dt, int64_t n, float a, const void *x, float b, void *y);
void cuew_add(cudaStream_t s, int dt, int64_t n, const void *a, const void *b, void *y);
/* dst[n, dst_c0 + c, :] = src[n, src_c0 + c, :] + beta * dst[...] for c < nc; hw = H*W;
 * beta == 0 never reads dst. */
void cuew_channel_copy(cudaStream_t s, int dt, int64_t n, int64_t cs, int64_t cd, int64_t hw,
                       const void *src, int64_t src_c0, void *dst, int64_t dst_c0,
                       int64_t nc, float beta);
void cuew_act_fwd(cudaStream_t s, int dt, int kind, float alpha, int64_t n, const void *x,
                  void *y);
/* relu and leaky relu read x; tanh and sigmoid read y (the other may be NULL). */
void cuew_act_bwd(cudaStream_t s, int dt, int kind, float alpha, int64_t n, const void *x,
                  const void *y, const void *dy, void *dx);
/* keep[i] = rng_uniform(key, i) >= p, y = keep ? x * scale : 0 (scale from the host, as the
 * CPU computes it), i the logical index. c > 0: x, y and mask are channels-last (N, C, H, W)
 * with c = C, hw = H*W, and logical element i is stored at its NHWC position; c == 0: i is
 * the memory index (NCHW or any other rank). */
void cuew_dropout_fwd(cudaStream_t s, int dt, uint32_t k0, uint32_t k1, float p, float scale,
                      int64_t n, int64_t c, int64_t hw, const void *x, void *y, uint8_t *mask);
void cuew_dropout_bwd(cudaStream_t s, int dt, float scale, int64_t n, const uint8_t *mask,
                      const void *dy, void *dx);

#ifdef __cplusplus
}
#endif

#endif
