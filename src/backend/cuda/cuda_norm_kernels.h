/* Launchers of the batch/instance normalisation kernels (cuda_norm.cu), called from
 * cuda_norm.c. A statistic s of g.groups is the elements of nseg planes of len elements:
 * planes s, s + C, ... (batch: s = c, nseg = N) or the one plane s (instance: nseg = 1);
 * channel of statistic s is s % C. Channels-last (g.cl) stores plane n*C + c with its
 * elements C apart: the tensor is groups / C matrices of nseg * len rows by C channels (batch:
 * one of N*H*W rows; instance: one per sample), statistic s = m*C + c. None allocates or
 * synchronises. dt is the CU_* code of x, dy and the pointwise output; statistics, sums and
 * coefficients are f32. */
#ifndef CNN_BACKEND_CUDA_NORM_KERNELS_H
#define CNN_BACKEND_CUDA_NORM_KERNELS_H

#include <stdbool.h>

#include "cuda_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cuda_norm_geom {
    int64_t groups; /* statistics: C (batch) or N*C (instance) */
    int64_t c;      /* channels */
    int64_t planes; /* N*C planes of len contiguous elements */
    int64_t nseg;   /* planes per statistic: N (batch) or 1 (instance) */
    int64_t len;    /* H*W */
    int cl;         /* channels-last (an NHWC 4-D tensor) */
} cuda_norm_geom;

/* What norm_pointwise computes, per statistic s: see cuda_norm_coefs. */
typedef enum cuda_norm_pw { CUDA_NORM_APPLY, CUDA_NORM_BWD_BATCH, CUDA_NORM_BWD_EVAL } cuda_norm_pw;

/* Statistics (dy NULL): out0 = mean, out1 = biased var of x. Backward (dy given):
 * out0 = sum dy, out1 = sum dy (x - mean) / sqrt(var + eps). Each statistic is cut into
 * `pieces` fixed ranges (cuda_norm_pieces); with pieces > 1, part holds groups * pieces
 * double2 partials (device scratch), summed in a fixed order by a second kernel. */
int64_t cuda_norm_pieces(cuda_norm_geom g);
void cuda_norm_reduce(cudaStream_t st, int dt, cuda_norm_geom g, int64_t pieces,
                      const void *x, const void *dy, const float *mean, const float *var,
                      float eps, void *part, float *out0, float *out1);

/* coef (groups x 4 floats, device, 16-byte aligned) = mean, xs, ds, add per statistic, so
 * that out = (x - mean) * xs + dy * ds + add (cpu_norm.c pw_coefficients). gamma and beta
 * (C) may be NULL; sdy, sdyx only for CUDA_NORM_BWD_BATCH. */
void cuda_norm_coefs(cudaStream_t st, cuda_norm_geom g, cuda_norm_pw kind, const float *mean,
                     const float *var, float eps, const float *gamma, const float *beta,
                     const float *sdy, const float *sdyx, double count, float *coef);

/* out = (x - mean) * xs + dy * ds + add elementwise, dy NULL for the forward apply. */
void cuda_norm_pointwise(cudaStream_t st, int dt, cuda_norm_geom g, const float *coef,
                         const void *x, const void *dy, void *out);

/* stats (2, c) in place, as backend.h norm_stats_sums; shift (c) may be NULL. */
void cuda_norm_stats_sums(cudaStream_t st, bool to_sums, const float *shift, double count,
                          int64_t c, float *stats);

#ifdef __cplusplus
}
#endif

#endif
