/* A host emulator of the CUDA execution model, for compiling the project's own kernels (the
 * src/backend/cuda .cu files, copied by emu_rewrite.cmake) with g++ and running them on the
 * CPU (README "GPU"). Every CUDA thread of a block is a real OS thread, so __syncthreads is a
 * real block barrier and a warp shuffle a real exchange among the 32 lanes of a warp, which
 * meet in lockstep at every shuffle; blocks of a grid run one after another, which is what
 * lets __shared__ be a function-local static. Atomics are real (__atomic builtins). The _rn
 * intrinsics are plain IEEE operations: the copies are compiled with -ffp-contract=off, so
 * nothing is fused. Not emulated: dynamic shared memory, 2-D/3-D grids, streams (every
 * launch completes before it returns), the memory model beyond barriers, timing. */
#ifndef CNN_TESTS_EMU_H
#define CNN_TESTS_EMU_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <functional>

/* ---- built-in types and variables ---- */
struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int a = 1, unsigned int b = 1, unsigned int c = 1)
        : x(a), y(b), z(c)
    {
    }
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(16) double2 {
    double x, y;
};
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
static inline double2 make_double2(double x, double y) { return {x, y}; }

extern thread_local uint3 threadIdx; /* per CUDA thread (one OS thread each) */
extern uint3 blockIdx;               /* per block: blocks run one at a time */
extern dim3 blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static /* one block at a time: a static is per block */

typedef struct emu_stream *cudaStream_t;
typedef enum cudaError { cudaSuccess = 0, cudaErrorInvalidValue = 1 } cudaError_t;
enum cudaMemcpyKind {
    cudaMemcpyHostToHost,
    cudaMemcpyHostToDevice,
    cudaMemcpyDeviceToHost,
    cudaMemcpyDeviceToDevice,
    cudaMemcpyDefault
};

/* ---- the emulator's entry points (emu.cpp) ---- */
namespace emu {
/* Runs body once per thread of every block of grid (blocks in order, the threads of a block
 * concurrently), with threadIdx/blockIdx/blockDim/gridDim set. Aborts on an invalid
 * configuration, as a launch would fail. */
void run(dim3 grid, dim3 block, size_t shmem, const std::function<void()> &body);
/* grid.x of every launch is capped at cap (0: no cap), so grid-stride loops take more than
 * one turn; a test sets it around launchers whose kernels allow any grid. */
void set_grid_cap(unsigned cap);
struct stats {
    long long launches, capped, blocks;
};
stats get_stats();
void syncthreads();
/* The value of lane src (same width as v) of the calling warp: every live lane named in mask
 * must call it, as __shfl_*_sync requires; lanes meet twice (write, then read). */
uint64_t shfl(unsigned mask, uint64_t v, int mode, int arg);
enum { SHFL_DOWN, SHFL_XOR, SHFL_UP, SHFL_IDX };

/* kernel<<<g, b, sh, s>>>(args) is rewritten into emu::launch(kernel, g, b, sh, s)(args): the
 * arguments convert to the kernel's parameter types, as in a real launch. */
template <class... P> struct launcher {
    void (*k)(P...);
    dim3 g, b;
    size_t sh;
    void operator()(P... a) const
    {
        auto kern = k;
        run(g, b, sh, [&] { kern(a...); });
    }
};
template <class... P>
launcher<P...> launch(void (*k)(P...), dim3 g, dim3 b, size_t sh = 0, cudaStream_t = 0)
{
    return launcher<P...>{k, g, b, sh};
}
} /* namespace emu */

/* ---- synchronisation, warp shuffles, atomics ---- */
static inline void __syncthreads() { emu::syncthreads(); }

template <class V> static inline V emu_shfl_t(unsigned mask, V v, int mode, int arg)
{
    static_assert(sizeof(V) <= 8, "shuffles move at most 8 bytes");
    uint64_t b = 0;
    memcpy(&b, &v, sizeof v);
    b = emu::shfl(mask, b, mode, arg);
    memcpy(&v, &b, sizeof v);
    return v;
}
template <class V> static inline V __shfl_down_sync(unsigned mask, V v, unsigned d)
{
    return emu_shfl_t(mask, v, emu::SHFL_DOWN, (int)d);
}
template <class V> static inline V __shfl_up_sync(unsigned mask, V v, unsigned d)
{
    return emu_shfl_t(mask, v, emu::SHFL_UP, (int)d);
}
template <class V> static inline V __shfl_xor_sync(unsigned mask, V v, int m)
{
    return emu_shfl_t(mask, v, emu::SHFL_XOR, m);
}
template <class V> static inline V __shfl_sync(unsigned mask, V v, int src)
{
    return emu_shfl_t(mask, v, emu::SHFL_IDX, src);
}

template <class T> static inline T emu_atomic_min(T *p, T v)
{
    T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (v < old &&
           !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        ;
    return old;
}
template <class T> static inline T emu_atomic_max(T *p, T v)
{
    T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (v > old &&
           !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        ;
    return old;
}
static inline int atomicMin(int *p, int v) { return emu_atomic_min(p, v); }
static inline unsigned atomicMin(unsigned *p, unsigned v) { return emu_atomic_min(p, v); }
static inline unsigned long long atomicMin(unsigned long long *p, unsigned long long v)
{
    return emu_atomic_min(p, v);
}
static inline int atomicMax(int *p, int v) { return emu_atomic_max(p, v); }
static inline unsigned atomicMax(unsigned *p, unsigned v) { return emu_atomic_max(p, v); }
static inline unsigned long long atomicMax(unsigned long long *p, unsigned long long v)
{
    return emu_atomic_max(p, v);
}
static inline int atomicAdd(int *p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }

/* ---- arithmetic intrinsics: exact IEEE operations (no contraction: -ffp-contract=off) ---- */
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float a) { return sqrtf(a); }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline unsigned __umulhi(unsigned a, unsigned b)
{
    return (unsigned)(((uint64_t)a * b) >> 32);
}
static inline int __float_as_int(float f)
{
    int i;
    memcpy(&i, &f, sizeof i);
    return i;
}
static inline float __int_as_float(int i)
{
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}

/* CUDA's integer and float min/max overloads (the device math library). */
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline long min(long a, long b) { return a < b ? a : b; }
static inline long max(long a, long b) { return a > b ? a : b; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }

/* ---- the few runtime calls kernel files make (device memory is host memory) ---- */
template <class T>
static inline cudaError_t cudaMemcpyFromSymbolAsync(void *dst, const T &sym, size_t count,
                                                    size_t offset, cudaMemcpyKind,
                                                    cudaStream_t = 0)
{
    if (offset + count > sizeof(T))
        return cudaErrorInvalidValue;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    memcpy(dst, (const char *)&sym + offset, count);
    return cudaSuccess;
}
template <class T>
static inline cudaError_t cudaMemcpyToSymbolAsync(T &sym, const void *src, size_t count,
                                                  size_t offset, cudaMemcpyKind,
                                                  cudaStream_t = 0)
{
    if (offset + count > sizeof(T))
        return cudaErrorInvalidValue;
    memcpy((char *)&sym + offset, src, count);
    return cudaSuccess;
}
static inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
static inline cudaError_t cudaGetLastError(void) { return cudaSuccess; }

#endif
