/* The host emulator's thread machinery (emu.h): a pool of worker threads, one per CUDA
 * thread of the largest block launched so far; a block runs with one worker per thread, a
 * block barrier for __syncthreads and one exchange (slots plus a barrier) per warp for the
 * shuffles. A thread that returns drops out of both barriers, as on sm_70 and later. All
 * waits are futexes on one word (no mutex convoy among 256 threads on a few cores). A
 * barrier that waits too long means some thread never reaches it (a divergent
 * __syncthreads or shuffle): the emulator aborts with a message instead of hanging. */
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "emu.h"

thread_local uint3 threadIdx;
uint3 blockIdx;
dim3 blockDim, gridDim;

namespace emu {
namespace {

const int kDeadlockSeconds = 30;

[[noreturn]] void fail(const char *what)
{
    fprintf(stderr, "emu: %s (block %u, thread %u,%u,%u; grid %u, block %ux%ux%u)\n", what,
            blockIdx.x, threadIdx.x, threadIdx.y, threadIdx.z, gridDim.x, blockDim.x,
            blockDim.y, blockDim.z);
    fflush(stderr);
    abort();
}

/* Sleeps while *w == v (or until woken); false after kDeadlockSeconds in all. */
bool wait_while(std::atomic<uint32_t> &w, uint32_t v)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (w.load(std::memory_order_acquire) == v) {
        struct timespec ts = {1, 0};
        syscall(SYS_futex, reinterpret_cast<uint32_t *>(&w), FUTEX_WAIT_PRIVATE, v, &ts,
                nullptr, 0);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > kDeadlockSeconds && w.load() == v)
            return false;
    }
    return true;
}

void wake_all(std::atomic<uint32_t> &w)
{
    syscall(SYS_futex, reinterpret_cast<uint32_t *>(&w), FUTEX_WAKE_PRIVATE, 0x7fffffff,
            nullptr, nullptr, 0);
}

/* A reusable barrier over `expected` live threads; drop() retires one for good. The counts
 * share one word (expected << 32 | arrived), so arrivals and drops never race. */
struct barrier {
    std::atomic<uint64_t> state{0};
    std::atomic<uint32_t> gen{0};

    void reset(unsigned n) { state.store((uint64_t)n << 32); }
    void release()
    {
        gen.fetch_add(1, std::memory_order_acq_rel);
        wake_all(gen);
    }
    void wait(const char *what)
    {
        uint32_t g = gen.load(std::memory_order_acquire);
        uint64_t s = state.load(), n;
        bool last;
        do {
            uint64_t e = s >> 32, a = (s & 0xffffffffu) + 1;
            last = a == e;
            n = e << 32 | (last ? 0 : a);
        } while (!state.compare_exchange_weak(s, n, std::memory_order_acq_rel));
        if (last)
            release();
        else if (!wait_while(gen, g))
            fail(what);
    }
    void drop()
    {
        uint64_t s = state.load(), n;
        bool last;
        do {
            uint64_t e = (s >> 32) - 1, a = s & 0xffffffffu;
            last = a > 0 && a == e;
            n = e << 32 | (last ? 0 : a);
        } while (!state.compare_exchange_weak(s, n, std::memory_order_acq_rel));
        if (last)
            release();
    }
};

struct warp {
    barrier bar;
    std::atomic<uint32_t> alive{0}; /* lanes that have not returned */
    uint64_t slot[32];
};

struct pool {
    std::atomic<uint32_t> start{0}, done{0};
    std::atomic<unsigned> remaining{0};
    unsigned nthreads = 0;
    const std::function<void()> *body = nullptr;
    barrier block_bar;
    warp warps[32];
};

/* Never destroyed: workers still sleep on its words at exit. */
pool &P = *new pool;
unsigned grid_cap = 0;
stats S;

unsigned linear_tid()
{
    return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}

void *worker(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg;
    uint32_t seen = 0;
    for (;;) {
        while (P.start.load(std::memory_order_acquire) == seen)
            syscall(SYS_futex, reinterpret_cast<uint32_t *>(&P.start), FUTEX_WAIT_PRIVATE,
                    seen, nullptr, nullptr, 0);
        seen = P.start.load(std::memory_order_acquire);
        unsigned nt = blockDim.x * blockDim.y * blockDim.z;
        if (t < nt) {
            threadIdx = {t % blockDim.x, t / blockDim.x % blockDim.y,
                         t / (blockDim.x * blockDim.y)};
            (*P.body)();
            warp &w = P.warps[t / 32];
            w.alive.fetch_and(~(1u << (t % 32)));
            w.bar.drop();
            P.block_bar.drop();
        }
        if (P.remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            P.done.fetch_add(1, std::memory_order_release);
            wake_all(P.done);
        }
    }
    return nullptr;
}

void grow(unsigned n)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1u << 20);
    while (P.nthreads < n) {
        pthread_t th;
        if (pthread_create(&th, &attr, worker, (void *)(uintptr_t)P.nthreads) != 0)
            fail("cannot start a worker thread");
        pthread_detach(th);
        P.nthreads++;
    }
    pthread_attr_destroy(&attr);
}

} /* namespace */

void set_grid_cap(unsigned cap) { grid_cap = cap; }
stats get_stats() { return S; }

void run(dim3 grid, dim3 block, size_t shmem, const std::function<void()> &body)
{
    unsigned nt = block.x * block.y * block.z;
    if (shmem != 0)
        fail("dynamic shared memory is not emulated");
    if (grid.x < 1 || grid.y < 1 || grid.z < 1 || grid.y > 65535 || grid.z > 65535 ||
        grid.x > 0x7fffffffu)
        fail("invalid grid (a launch would fail: invalid configuration argument)");
    if (nt < 1 || nt > 1024 || block.z > 64)
        fail("invalid block (a launch would fail: invalid configuration argument)");
    if (grid.y != 1 || grid.z != 1)
        fail("2-D and 3-D grids are not emulated");
    S.launches++;
    if (grid_cap && grid.x > grid_cap) {
        grid.x = grid_cap;
        S.capped++;
    }
    grow(nt);
    gridDim = grid;
    blockDim = block;
    P.body = &body;
    for (unsigned b = 0; b < grid.x; b++) {
        blockIdx = {b, 0, 0};
        P.block_bar.reset(nt);
        for (unsigned w = 0; w * 32 < nt; w++) {
            unsigned lanes = nt - w * 32 < 32 ? nt - w * 32 : 32;
            P.warps[w].bar.reset(lanes);
            P.warps[w].alive.store(lanes == 32 ? 0xffffffffu : (1u << lanes) - 1u);
        }
        uint32_t d = P.done.load(std::memory_order_acquire);
        P.remaining.store(P.nthreads);
        P.start.fetch_add(1, std::memory_order_acq_rel);
        wake_all(P.start);
        while (P.done.load(std::memory_order_acquire) == d)
            syscall(SYS_futex, reinterpret_cast<uint32_t *>(&P.done), FUTEX_WAIT_PRIVATE, d,
                    nullptr, nullptr, 0);
        S.blocks++;
    }
}

void syncthreads() { P.block_bar.wait("__syncthreads not reached by every live thread"); }

uint64_t shfl(unsigned mask, uint64_t v, int mode, int arg)
{
    unsigned t = linear_tid(), lane = t % 32;
    warp &w = P.warps[t / 32];
    uint32_t alive = w.alive.load();
    if ((mask & ~alive) != 0 || !(mask >> lane & 1u))
        fail("__shfl_*_sync: the mask names a lane that has returned or does not exist, or "
             "leaves out the caller");
    if (mask != alive)
        fail("__shfl_*_sync with a partial mask is not emulated");
    w.slot[lane] = v;
    w.bar.wait("__shfl_*_sync not reached by every lane of the mask");
    int src;
    switch (mode) {
    case SHFL_DOWN: src = (int)lane + arg; break;
    case SHFL_UP: src = (int)lane - arg; break;
    case SHFL_XOR: src = (int)lane ^ arg; break;
    default: src = arg & 31; break;
    }
    uint64_t r = src >= 0 && src < 32 && (alive >> src & 1u) ? w.slot[src] : v;
    w.bar.wait("__shfl_*_sync not reached by every lane of the mask");
    return r;
}

} /* namespace emu */
