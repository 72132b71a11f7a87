/* Float element types of the CUDA kernels: every kernel that moves activations is a template
 * on its element type T (float, __half or __nv_bfloat16), loads with ldf (to f32), does its
 * math in f32 and stores with stf<T>, one round-to-nearest-even per output element. For
 * float both are the identity, so the f32 instantiations compile to the code they were
 * before the templates. CU_DISPATCH turns a launcher's CU_* code into the type T. */
#ifndef CNN_CUDA_DTYPE_CUH
#define CNN_CUDA_DTYPE_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda_kernels.h"

__device__ __forceinline__ float ldf(float v) { return v; }
__device__ __forceinline__ float ldf(__half v) { return __half2float(v); }
__device__ __forceinline__ float ldf(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T stf(float v);
template <> __device__ __forceinline__ float stf<float>(float v) { return v; }
template <> __device__ __forceinline__ __half stf<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 stf<__nv_bfloat16>(float v)
{
    return __float2bfloat16_rn(v);
}

/* Runs the statements with T the C++ type of code (CU_F32, CU_F16, CU_BF16). */
#define CU_DISPATCH(code, T, ...)                                                        \
    do {                                                                                 \
        switch (code) {                                                                  \
        case CU_F16: {                                                                   \
            typedef __half T;                                                            \
            __VA_ARGS__;                                                                 \
        } break;                                                                         \
        case CU_BF16: {                                                                  \
            typedef __nv_bfloat16 T;                                                     \
            __VA_ARGS__;                                                                 \
        } break;                                                                         \
        default: {                                                                       \
            typedef float T;                                                             \
            __VA_ARGS__;                                                                 \
        } break;                                                                         \
        }                                                                                \
    } while (0)

#endif
