/* test_cuda_emu <group>: the launchers of src/backend/cuda/cuda_<group>_kernels.h under the
 * host emulator against the CPU backend (or a reference in the test), in every dtype and
 * layout they take; `shim` checks the emulator itself. Exit 0 when every check passes. */
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "emu_test.h"

hbuf::hbuf(dtype t, int64_t count) : dt(t), n(count)
{
    /* the exact size (no rounding up): ASan then catches a kernel writing one past the end */
    size_t bytes = (size_t)(count > 0 ? count : 1) * dtype_size(t);
    CHECK(posix_memalign(&p, 64, bytes) == 0);
    memset(p, 0, bytes);
}
hbuf::~hbuf() { free(p); }

float hbuf::get(int64_t i) const
{
    switch (dt) {
    case DTYPE_F32: return ((const float *)p)[i];
    case DTYPE_F16: return f16_to_f32(((const uint16_t *)p)[i]);
    case DTYPE_BF16: return bf16_to_f32(((const uint16_t *)p)[i]);
    case DTYPE_I32: return (float)((const int32_t *)p)[i];
    case DTYPE_I64: return (float)((const int64_t *)p)[i];
    default: return (float)((const uint8_t *)p)[i];
    }
}

void hbuf::set(int64_t i, float v)
{
    switch (dt) {
    case DTYPE_F32: ((float *)p)[i] = v; break;
    case DTYPE_F16: ((uint16_t *)p)[i] = f32_to_f16(v); break;
    case DTYPE_BF16: ((uint16_t *)p)[i] = f32_to_bf16(v); break;
    case DTYPE_I32: ((int32_t *)p)[i] = (int32_t)v; break;
    case DTYPE_I64: ((int64_t *)p)[i] = (int64_t)v; break;
    default: ((uint8_t *)p)[i] = (uint8_t)v; break;
    }
}

static uint64_t splitmix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

void hbuf::uniform(uint64_t key, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++) {
        double u = (double)(splitmix(key * 0x100000001B3ull + (uint64_t)i) >> 11) * 0x1p-53;
        set(i, (float)(lo + (hi - lo) * u));
    }
}

void hbuf::poison()
{
    if (dtype_is_float(dt))
        for (int64_t i = 0; i < n; i++)
            set(i, NAN);
    else
        memset(p, 0xff, (size_t)n * dtype_size(dt));
}

void hbuf::copy_from(const hbuf &o)
{
    CHECK(o.dt == dt && o.n == n);
    memcpy(p, o.p, (size_t)n * dtype_size(dt));
}

void convert_into(hbuf &dst, const hbuf &src)
{
    CHECK(dst.n == src.n);
    for (int64_t i = 0; i < src.n; i++)
        dst.set(i, src.get(i));
}

int cu_code(dtype dt) { return dt == DTYPE_F16 ? CU_F16 : dt == DTYPE_BF16 ? CU_BF16 : CU_F32; }
const dtype float_dtypes[3] = {DTYPE_F32, DTYPE_F16, DTYPE_BF16};
double ulps(dtype dt, double k)
{
    return k * (dt == DTYPE_F32 ? 0x1p-23 : dt == DTYPE_F16 ? 0x1p-10 : 0x1p-7);
}

backend *cpu()
{
    static backend *be;
    if (!be) {
        cnn_err e = {};
        if (backend_create("cpu", 1, &be, &e) < 0) {
            fprintf(stderr, "cannot create the CPU backend: %s\n", e.msg);
            exit(1);
        }
    }
    return be;
}

tensor view(const hbuf &b, shape s, layout lay)
{
    tensor t = tensor_view(b.p, s, b.dt, DEVICE_CPU);
    CHECK(tensor_numel(&t) == b.n);
    t.lay = lay;
    return t;
}
shape shape4(int64_t n, int64_t c, int64_t h, int64_t w)
{
    int64_t d[4] = {n, c, h, w};
    return shape_make(4, d);
}
shape shape1(int64_t n) { return shape_make(1, &n); }
shape shape2(int64_t a, int64_t b)
{
    int64_t d[2] = {a, b};
    return shape_make(2, d);
}

static int failures;

void expect_close(const char *what, const hbuf &got, const hbuf &ref, double rtol, double atol)
{
    CHECK(got.n == ref.n);
    std::vector<float> g((size_t)got.n), r((size_t)ref.n);
    for (int64_t i = 0; i < got.n; i++) {
        g[i] = got.get(i);
        r[i] = ref.get(i);
        /* NaN where NaN is expected, or the expected infinity: a match (inf - inf is NaN) */
        if ((r[i] != r[i] && g[i] != g[i]) || (isinf(r[i]) && g[i] == r[i]))
            g[i] = r[i] = 0.0f;
    }
    if (!check_close(what, g.data(), r.data(), got.n, rtol, atol))
        failures++;
}

void expect_equal(const char *what, const hbuf &got, const hbuf &ref)
{
    if (dtype_is_float(got.dt)) {
        expect_close(what, got, ref, 0.0, 0.0);
        return;
    }
    CHECK(got.n == ref.n && got.dt == ref.dt);
    size_t es = dtype_size(got.dt);
    for (int64_t i = 0; i < got.n; i++)
        if (memcmp((char *)got.p + i * es, (char *)ref.p + i * es, es) != 0) {
            fprintf(stderr, "  %s[%lld]: got %g, want %g  MISMATCH\n", what, (long long)i,
                    (double)got.get(i), (double)ref.get(i));
            failures++;
            return;
        }
    printf("  %-28s n=%-7lld equal\n", what, (long long)got.n);
}

void grids(const char *what, bool must_cap, const std::function<void(unsigned cap)> &body)
{
    for (unsigned cap : {0u, (unsigned)EMU_CAP}) {
        emu::stats s0 = emu::get_stats();
        emu::set_grid_cap(cap);
        printf("%s%s\n", what, cap ? " (grid capped)" : "");
        body(cap);
        emu::set_grid_cap(0);
        emu::stats s1 = emu::get_stats();
        if (cap && must_cap && s1.capped == s0.capped) {
            fprintf(stderr, "  %s: no launch had more than %u blocks, nothing was capped\n",
                    what, cap);
            failures++;
        }
    }
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)();
    } groups[] = {{"shim", group_shim},         {"dense", group_dense},
                  {"elementwise", group_elementwise}, {"loss", group_loss},
                  {"norm", group_norm},         {"optim", group_optim},
                  {"pool", group_pool},         {"xent_soft", group_xent_soft}};
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 2) {
        fprintf(stderr, "usage: %s <group>\n", argv[0]);
        return 2;
    }
    for (const auto &g : groups)
        if (!strcmp(argv[1], g.name)) {
            g.fn();
            emu::stats s = emu::get_stats();
            printf("%s: %lld launches (%lld capped), %lld blocks; %d failure(s)\n", g.name,
                   s.launches, s.capped, s.blocks, failures);
            backend_destroy(cpu());
            return failures ? 1 : 0;
        }
    fprintf(stderr, "%s: unknown group '%s'\n", argv[0], argv[1]);
    return 2;
}
