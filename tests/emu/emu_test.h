/* Shared pieces of test_cuda_emu: host buffers of any dtype (the emulated "device" memory is
 * host memory), keyed random fills, NaN poisoning, the CPU backend as the reference, and the
 * comparison (check.h's check_close, |got - ref| <= atol + rtol |ref|). Every launcher is run
 * twice, on its own grid and with the grid capped at EMU_CAP blocks (emu::set_grid_cap), so
 * grid-stride loops take several turns; launchers whose partial sums are indexed by block
 * get small CUDA_*_RED_BLOCKS instead (CMakeLists.txt). */
#ifndef CNN_TESTS_EMU_TEST_H
#define CNN_TESTS_EMU_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <functional>
#include <vector>

#include "cuda_kernels.h"

/* The project's C headers, seen from C++ (C11's _Noreturn is C++'s [[noreturn]]). */
#define _Noreturn [[noreturn]]
extern "C" {
#include "check.h"
#include "core/backend.h"
#include "core/tensor.h"
}
#undef _Noreturn

#define EMU_CAP 2 /* blocks of a capped grid */

/* Host memory of exactly n elements of dtype dt, 64-byte aligned (float4/double2 need 16). */
struct hbuf {
    dtype dt;
    int64_t n;
    void *p;
    hbuf(dtype t, int64_t count);
    ~hbuf();
    hbuf(const hbuf &) = delete;
    hbuf &operator=(const hbuf &) = delete;
    float get(int64_t i) const; /* float dtypes, as f32 */
    void set(int64_t i, float v); /* rounded to dt */
    void uniform(uint64_t key, float lo, float hi);
    void poison(); /* floats NaN, integers all ones */
    void copy_from(const hbuf &o);
    template <class T> T *as() const { return (T *)p; }
};

/* A copy converted to dtype to (exact into f32; one rounding the other way). */
void convert_into(hbuf &dst, const hbuf &src);

int cu_code(dtype dt); /* CU_F32, CU_F16, CU_BF16 */
extern const dtype float_dtypes[3];
/* rtol of a few ulps of dt: 4 ulps of f32, 2 of f16 and bf16 (one rounding each side). */
double ulps(dtype dt, double k);

backend *cpu();
tensor view(const hbuf &b, shape s, layout lay = LAYOUT_NCHW);
shape shape4(int64_t n, int64_t c, int64_t h, int64_t w);
shape shape1(int64_t n);
shape shape2(int64_t a, int64_t b);

/* got against ref elementwise as floats; NaN matches only NaN (poisoned outputs never do). */
void expect_close(const char *what, const hbuf &got, const hbuf &ref, double rtol, double atol);
void expect_equal(const char *what, const hbuf &got, const hbuf &ref); /* bit for bit */

/* Runs body(cap) with no cap and with EMU_CAP; with the cap, checks that some launch was
 * actually capped when `must_cap`. */
void grids(const char *what, bool must_cap, const std::function<void(unsigned cap)> &body);

/* The groups (test_<group>.cpp); each returns after its checks (a failure exits 1). */
void group_shim();
void group_dense();
void group_elementwise();
void group_loss();
void group_norm();
void group_optim();
void group_pool();
void group_xent_soft();

#endif
