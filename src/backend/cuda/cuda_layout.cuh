/* Plane addressing for kernels that walk (N, C, ...) tensors plane by plane (pooling,
 * resampling, instance norm, dropout's logical index): plane pl = n*C + c holds sz elements,
 * contiguous in NCHW, C apart in channels-last (NHWC: element r of plane pl at
 * (n*sz + r)*C + c). A kernel is a template on bool CL and reaches element r of plane pl at
 * cl_base(pl) + r * cl_step; cl_split turns a thread's memory index into (pl, r), so
 * neighbouring threads touch neighbouring memory in either layout. C is unused when !CL. */
#ifndef CNN_CUDA_LAYOUT_CUH
#define CNN_CUDA_LAYOUT_CUH

#include <stdint.h>

template <bool CL>
__device__ __forceinline__ int64_t cl_base(int64_t pl, int64_t sz, int64_t C)
{
    return CL ? (pl / C) * sz * C + pl % C : pl * sz;
}

template <bool CL> __device__ __forceinline__ int64_t cl_step(int64_t C) { return CL ? C : 1; }

/* Memory index i of a tensor of planes of sz elements -> its plane and position. */
template <bool CL>
__device__ __forceinline__ void cl_split(int64_t i, int64_t sz, int64_t C, int64_t *pl,
                                         int64_t *r)
{
    if (CL) {
        int64_t t = i / C, n = t / sz;
        *r = t - n * sz;
        *pl = n * C + (i - t * C);
    } else {
        *pl = i / sz;
        *r = i - *pl * sz;
    }
}

/* Runs the statements with CL a constant: the layout flag of a launcher as a template
 * argument. */
#define CL_DISPATCH(flag, CL, ...)                                                       \
    do {                                                                                 \
        if (flag) {                                                                      \
            constexpr bool CL = true;                                                    \
            __VA_ARGS__;                                                                 \
        } else {                                                                         \
            constexpr bool CL = false;                                                   \
            __VA_ARGS__;                                                                 \
        }                                                                                \
    } while (0)

#endif
