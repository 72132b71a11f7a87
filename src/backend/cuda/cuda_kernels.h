/* What every CUDA kernel file shares: launch geometry. Each cuda_<group>.cu declares its
 * extern "C" launchers in cuda_<group>_kernels.h, called from cuda_<group>.c. A launcher
 * takes the stream first, then plain device pointers and sizes; none allocates or
 * synchronises. Sizes are int64; kernels use grid-stride loops. */
#ifndef CNN_BACKEND_CUDA_KERNELS_H
#define CNN_BACKEND_CUDA_KERNELS_H

#include <cuda_runtime.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element types of float tensors as the kernels see them: launchers take one of these codes
 * and void pointers (cuda_impl.h's cuda_fcode maps a dtype onto it), and cuda_dtype.cuh
 * instantiates the kernel for the matching C++ type. */
enum { CU_F32, CU_F16, CU_BF16 };

/* Threads per block and the grid for n elements (capped; kernels use grid-stride loops). */
#define CUDA_THREADS 256
static inline unsigned cuda_blocks(int64_t n)
{
    int64_t b = (n + CUDA_THREADS - 1) / CUDA_THREADS;
    return (unsigned)(b < 1 ? 1 : b > 65535 * 8 ? 65535 * 8 : b);
}

#ifdef __cplusplus
}
#endif

#endif
