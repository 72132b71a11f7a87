/* The emulator itself: the shim's 16-bit conversions against src/core/float16.c (which
 * promises CUDA's rounding) on a sweep of f32 bit patterns and every 16-bit pattern, and
 * small kernels of our own for the block barrier, the warp shuffles, atomics, and the
 * launch's argument conversion. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "emu.h"
#include "emu_test.h"

static void conversions()
{
    long long bad = 0, n = 0;
    auto one = [&](uint32_t u) {
        float f;
        memcpy(&f, &u, sizeof f);
        unsigned short h = __half_as_ushort(__float2half_rn(f));
        unsigned short b = __bfloat16_as_ushort(__float2bfloat16_rn(f));
        n++;
        if (f != f) { /* CUDA gives the canonical NaN; the host keeps the sign (both NaN) */
            bad += h != 0x7fff || b != 0x7fff;
            bad += !isnan(f16_to_f32(f32_to_f16(f))) || !isnan(bf16_to_f32(f32_to_bf16(f)));
            return;
        }
        if (h != f32_to_f16(f) || b != f32_to_bf16(f)) {
            if (bad++ < 5)
                fprintf(stderr, "  %08x: shim f16 %04x bf16 %04x, host %04x %04x\n", u, h, b,
                        f32_to_f16(f), f32_to_bf16(f));
        }
    };
    for (uint64_t u = 0; u <= 0xffffffffull; u += 0x1003) /* every exponent, many mantissas */
        one((uint32_t)u);
    /* halfway cases and the edges: f16 and bf16 ties, overflow, subnormals, NaN, inf */
    for (uint32_t e = 0; e < 256; e++)
        for (uint32_t m : {0x0u, 0x1000u, 0x3000u, 0x1001u, 0x0fffu, 0x8000u, 0x18000u, 0x7fffu,
                           0x7fffffu, 0x7ff000u, 0x7fefffu, 0x400000u, 0x1u})
            for (uint32_t s : {0u, 0x80000000u})
                one(s | e << 23 | m);
    for (uint32_t h = 0; h < 65536; h++) {
        float a = __half2float(__ushort_as_half((unsigned short)h)), b = f16_to_f32((uint16_t)h);
        float c = __bfloat162float(__ushort_as_bfloat16((unsigned short)h));
        float d = bf16_to_f32((uint16_t)h);
        n++;
        if (memcmp(&a, &b, 4) != 0 && !(a != a && b != b))
            bad++;
        if (memcmp(&c, &d, 4) != 0)
            bad++;
    }
    printf("  16-bit conversions: %lld values, %lld differ\n", n, bad);
    CHECK_EQ(bad, 0);
}

/* Thread t writes sh[t], then after the barrier reads its neighbour's: any thread running
 * ahead of the barrier would read a stale value of the previous block. */
static __global__ void barrier_kernel(int *out)
{
    __shared__ int sh[CUDA_THREADS];
    int t = (int)threadIdx.x;
    sh[t] = (int)blockIdx.x * 1000 + t;
    __syncthreads();
    out[blockIdx.x * blockDim.x + t] = sh[(t + 1) % (int)blockDim.x];
    __syncthreads();
}

static __global__ void shuffle_kernel(double *down, float *xr, long long *sum)
{
    int t = (int)threadIdx.x;
    down[t] = __shfl_down_sync(0xffffffffu, (double)t, 5);
    xr[t] = __shfl_xor_sync(0xffffffffu, (float)t, 9);
    long long v = t;
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    if ((t & 31) == 0)
        sum[t / 32] = v;
}

static __global__ void atomic_kernel(int *mx, unsigned long long *mn, const int *opt)
{
    int v = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    atomicMax(mx, v * 3 % 1001); /* 3 is invertible mod 1001: 1000 is reached */
    atomicMin(mn, (unsigned long long)(5000 - v));
    if (opt)
        atomicMax(mx, *opt);
}

static void kernels()
{
    std::vector<int> out(5 * CUDA_THREADS, -1);
    emu::launch(barrier_kernel, 5, CUDA_THREADS, 0, 0)(out.data());
    for (int b = 0; b < 5; b++)
        for (int t = 0; t < CUDA_THREADS; t++)
            CHECK_EQ(out[b * CUDA_THREADS + t], b * 1000 + (t + 1) % CUDA_THREADS);

    std::vector<double> down(64);
    std::vector<float> xr(64);
    std::vector<long long> sum(2);
    emu::launch(shuffle_kernel, 1, 64, 0, 0)(down.data(), xr.data(), sum.data());
    for (int t = 0; t < 64; t++) {
        int lane = t & 31;
        CHECK_EQ(down[t], lane + 5 < 32 ? t + 5 : t); /* out of the warp: own value */
        CHECK_EQ(xr[t], (t & ~31) | (lane ^ 9));
    }
    CHECK_EQ(sum[0], 31 * 32 / 2);
    CHECK_EQ(sum[1], 31 * 32 / 2 + 32 * 32);

    int mx = -1;
    unsigned long long mn = ~0ull;
    /* NULL converts to the parameter's pointer type, as in a real launch */
    emu::launch(atomic_kernel, 4, CUDA_THREADS, 0, 0)(&mx, &mn, NULL);
    CHECK_EQ(mx, 1000);
    CHECK_EQ(mn, 5000 - (4 * CUDA_THREADS - 1));
    printf("  barrier, shuffles, atomics, launch arguments: ok\n");
}

void group_shim()
{
    conversions();
    kernels();
}
