/* The optimizer ops of the CUDA backend against the CPU reference on random inputs: sumsq
 * (beta 0 and accumulating, sizes across the reduction's block counts; also run twice on
 * the device, which must give the same bits), grad_coef (clipping on and off, loss scales,
 * Inf and NaN), sgd_update (momentum on/off, Nesterov, first step, coef absent, on device,
 * or a skip) and adamw_update (steps 1 and 7, coef, skip), and the mixed-precision ops:
 * convert between every pair of f32/f16/bf16 (beta 0 and accumulating; inputs spread over
 * 2^-20..2^20 with NaN, inf, f16 overflow, subnormals and rounding ties), also between
 * layouts (NCHW <-> channels-last, which transposes; against the reference converting in
 * NCHW, with shapes that end tiles early and that need no transpose), scale_by in each
 * dtype, and loss_scale_update over a sequence of skipped and good steps, checked also
 * against a host model of PyTorch's GradScaler.update written here. Outputs that an op
 * overwrites are poisoned with NaN on both sides first, so an element a kernel forgets fails.
 * Tolerance: the update kernels round every operation explicitly as the CPU's C code does
 * (no FMA), so they should agree bit for bit; we allow rtol 1e-6 + atol 1e-7 (a few ulps)
 * and print the max error. sumsq sums in double on both sides in different orders, then
 * rounds to float: within 1 ulp (rtol 2e-7 -> 1e-6). convert, scale_by and loss_scale_update
 * are one unfused f32 expression rounded once on both sides: bit-identical (NaN matches
 * any NaN, the payload is not specified).
 * Usage: gpu_optim_vs_cpu [--self-check]: without a GPU it prints one line and exits 77;
 * --self-check runs the CPU backend on both sides (tests this harness without a GPU). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/core.h"
#include "../check.h"

#define RTOL 1e-6
#define ATOL 1e-7

static backend *ref_be, *dev_be;
static int ok = 1;

static tensor dev_tensor(backend *be, const float *h, int64_t n)
{
    tensor t = tensor_view(NULL, SHAPE(n > 0 ? n : 1), DTYPE_F32, be->ops->dev);
    cnn_err e = {0};
    CHECK(backend_alloc_tensor(be, &t, &e) == 0);
    if (h)
        backend_upload(be, &t, h);
    else
        be->ops->fill(be, &t, NAN);
    t.s = SHAPE(n);
    return t;
}

static float *down(backend *be, const tensor *t)
{
    float *h = malloc(tensor_bytes(t) ? tensor_bytes(t) : 4);
    CHECK(h);
    backend_download(be, t, h);
    return h;
}

/* Compares t on both backends and frees them. */
static void compare(const char *what, tensor *r, tensor *d, double rtol)
{
    float *hr = down(ref_be, r), *hd = down(dev_be, d);
    ok &= check_close(what, hd, hr, tensor_numel(r), rtol, ATOL);
    free(hr);
    free(hd);
}

static void release(tensor *r, tensor *d)
{
    backend_free_tensor(ref_be, r);
    backend_free_tensor(dev_be, d);
}

static float *randv(uint64_t seed, int64_t n, float lo, float hi)
{
    float *h = malloc((size_t)(n > 0 ? n : 1) * sizeof *h);
    CHECK(h);
    rng_fill_uniform(rng_key_from_seed(seed), 0, h, (size_t)n, lo, hi);
    return h;
}

static void case_sumsq(int64_t n, float beta)
{
    char what[64];
    snprintf(what, sizeof what, "sumsq n=%lld beta=%g", (long long)n, (double)beta);
    float *x = randv((uint64_t)n, n, -2.0f, 2.0f), init = beta != 0.0f ? 3.5f : NAN;
    tensor xr = dev_tensor(ref_be, x, n), xd = dev_tensor(dev_be, x, n);
    tensor outr = dev_tensor(ref_be, &init, 1), outd = dev_tensor(dev_be, &init, 1);
    ref_be->ops->sumsq(ref_be, &xr, &outr, beta);
    dev_be->ops->sumsq(dev_be, &xd, &outd, beta);
    compare(what, &outr, &outd, 1e-6);
    if (beta == 0.0f) { /* determinism on the device */
        float a, b;
        backend_download(dev_be, &outd, &a);
        dev_be->ops->sumsq(dev_be, &xd, &outd, 0.0f);
        backend_download(dev_be, &outd, &b);
        if (memcmp(&a, &b, sizeof a)) {
            fprintf(stderr, "  %s: two device runs differ: %.9g vs %.9g\n", what, a, b);
            ok = 0;
        }
    }
    release(&xr, &xd);
    release(&outr, &outd);
    free(x);
}

static void case_coef(float ss, float max_norm, float inv)
{
    char what[80];
    snprintf(what, sizeof what, "grad_coef ss=%g max=%g inv=%g", (double)ss, (double)max_norm,
             (double)inv);
    tensor sr = dev_tensor(ref_be, &ss, 1), sd = dev_tensor(dev_be, &ss, 1);
    tensor cr = dev_tensor(ref_be, NULL, 2), cd = dev_tensor(dev_be, NULL, 2);
    float scale = 1.0f / inv; /* the loss scale, a device scalar; 1 goes as NULL */
    tensor kr = dev_tensor(ref_be, &scale, 1), kd = dev_tensor(dev_be, &scale, 1);
    ref_be->ops->grad_coef(ref_be, &sr, max_norm, inv != 1.0f ? &kr : NULL, &cr);
    dev_be->ops->grad_coef(dev_be, &sd, max_norm, inv != 1.0f ? &kd : NULL, &cd);
    float *hr = down(ref_be, &cr), *hd = down(dev_be, &cd);
    /* On skip, c is unused: compare only the flag. */
    int n = hr[1] != 0.0f ? 1 : 2;
    float r2[2] = {hr[1], hr[0]}, d2[2] = {hd[1], hd[0]};
    ok &= check_close(what, d2, r2, n, 1e-7, 0.0);
    free(hr);
    free(hd);
    release(&sr, &sd);
    release(&cr, &cd);
    release(&kr, &kd);
}

/* coef_kind: 0 NULL, 1 [0.37, 0] on the device, 2 [0.37, 1] (skip). */
static void case_update(bool adamw, int64_t n, float momentum, bool nesterov, bool first,
                        int64_t step, int coef_kind)
{
    char what[96];
    snprintf(what, sizeof what, "%s n=%lld m=%g nest=%d first=%d t=%lld coef=%d",
             adamw ? "adamw" : "sgd", (long long)n, (double)momentum, nesterov, first,
             (long long)step, coef_kind);
    printf("%s\n", what);
    float *w = randv(1, n, -1.0f, 1.0f), *g = randv(2, n, -3.0f, 3.0f);
    float *s0 = randv(3, n, -0.5f, 0.5f), *s1 = randv(4, n, 0.0f, 0.2f);
    float coef[2] = {0.37f, coef_kind == 2 ? 1.0f : 0.0f};
    tensor t[2][5];
    backend *bes[2] = {ref_be, dev_be};
    for (int k = 0; k < 2; k++) {
        backend *be = bes[k];
        t[k][0] = dev_tensor(be, w, n);
        t[k][1] = dev_tensor(be, g, n);
        t[k][2] = dev_tensor(be, s0, n);
        t[k][3] = dev_tensor(be, s1, n);
        t[k][4] = dev_tensor(be, coef, 2);
        const tensor *c = coef_kind ? &t[k][4] : NULL;
        if (adamw) {
            optim_adamw_args a = {3e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, step};
            be->ops->adamw_update(be, &t[k][0], &t[k][1], &t[k][2], &t[k][3], &a, c);
        } else {
            optim_sgd_args a = {0.1f, momentum, 1e-4f, nesterov, first};
            be->ops->sgd_update(be, &t[k][0], &t[k][1], momentum != 0 ? &t[k][2] : NULL, &a,
                                c);
        }
    }
    static const char *const names[] = {"w", "g", "state0", "state1"};
    for (int j = 0; j < 4; j++) {
        char nm[128];
        snprintf(nm, sizeof nm, "  %s", names[j]);
        compare(nm, &t[0][j], &t[1][j], RTOL);
    }
    for (int j = 0; j < 5; j++)
        release(&t[0][j], &t[1][j]);
    free(w);
    free(g);
    free(s0);
    free(s1);
}

/* ---- mixed precision: convert, scale_by, loss_scale_update ---- */

/* A float tensor of dtype dt holding h (f32, rounded once on the host), or NaN when h is NULL. */
static tensor dev_tensor_dt(backend *be, dtype dt, const float *h, int64_t n)
{
    tensor t = tensor_view(NULL, SHAPE(n), dt, be->ops->dev);
    cnn_err e = {0};
    CHECK(backend_alloc_tensor(be, &t, &e) == 0);
    if (!h) {
        be->ops->fill(be, &t, NAN);
        return t;
    }
    void *raw = malloc(tensor_bytes(&t));
    CHECK(raw);
    dtype_convert_host(dt, raw, DTYPE_F32, h, n);
    backend_upload(be, &t, raw);
    free(raw);
    return t;
}

static float *down_f32(backend *be, const tensor *t)
{
    int64_t n = tensor_numel(t);
    float *h = malloc((size_t)n * sizeof *h);
    void *raw = malloc(tensor_bytes(t));
    CHECK(h && raw);
    backend_download(be, t, raw);
    dtype_convert_host(DTYPE_F32, h, t->dt, raw, n);
    free(raw);
    return h;
}

/* Bit-identical float arrays (any NaN matches any NaN). */
static int same_bits(const char *what, const float *got, const float *ref, int64_t n)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if ((got[i] != got[i] && ref[i] != ref[i]) || !memcmp(&got[i], &ref[i], sizeof *got))
            continue;
        if (bad++ < 5)
            fprintf(stderr, "  %s[%lld]: got %.9g, want %.9g\n", what, (long long)i,
                    (double)got[i], (double)ref[i]);
    }
    printf("  %-40s n=%-7lld %s\n", what, (long long)n, bad ? "MISMATCH" : "bit-identical");
    return bad == 0;
}

/* Values over 2^-20..2^20 of both signs, then the edge cases of 16-bit rounding. */
static float *spread(uint64_t seed, int64_t n)
{
    float *h = randv(seed, n, -1.0f, 1.0f);
    for (int64_t i = 0; i < n; i++)
        h[i] = ldexpf(h[i], (int)(i * 7 % 41) - 20);
    static const float edge[] = {NAN,   INFINITY, -INFINITY, 70000.0f, 65520.0f, 65504.0f,
                                 1e-6f, 3e-8f,    -0.0f,     1.0f + 0x1p-8f, 1.0f + 0x3p-8f,
                                 1.0f + 0x1p-11f, 1.0f + 0x3p-11f, 0x1p-133f};
    for (int64_t i = 0; i < n && i < (int64_t)(sizeof edge / sizeof edge[0]); i++)
        h[i] = edge[i];
    return h;
}

static void case_convert(dtype xdt, dtype ydt, int64_t n, float beta)
{
    char what[96];
    snprintf(what, sizeof what, "convert %s -> %s n=%lld beta=%g", dtype_name(xdt),
             dtype_name(ydt), (long long)n, (double)beta);
    float *x = spread(11, n), *y0 = beta != 0.0f ? spread(12, n) : NULL;
    tensor xr = dev_tensor_dt(ref_be, xdt, x, n), xd = dev_tensor_dt(dev_be, xdt, x, n);
    tensor yr = dev_tensor_dt(ref_be, ydt, y0, n), yd = dev_tensor_dt(dev_be, ydt, y0, n);
    ref_be->ops->convert(ref_be, &xr, &yr, beta);
    dev_be->ops->convert(dev_be, &xd, &yd, beta);
    float *hr = down_f32(ref_be, &yr), *hd = down_f32(dev_be, &yd);
    ok &= same_bits(what, hd, hr, n);
    if (beta == 0.0f && xdt == DTYPE_F32) { /* independent truth: the host rounding */
        void *raw = malloc((size_t)n * 4);
        float *want = malloc((size_t)n * sizeof *want);
        CHECK(raw && want);
        dtype_convert_host(ydt, raw, DTYPE_F32, x, n);
        dtype_convert_host(DTYPE_F32, want, ydt, raw, n);
        ok &= same_bits("  (against float16.c)", hd, want, n);
        free(raw);
        free(want);
    }
    free(hr);
    free(hd);
    free(x);
    free(y0);
    release(&xr, &xd);
    release(&yr, &yd);
}

/* A 4-D float tensor of dtype dt stored in lay, holding h (f32 in logical NCHW order,
 * rounded once on the host, then permuted), or NaN when h is NULL. */
static tensor dev_tensor_4d(backend *be, dtype dt, shape s, layout lay, const float *h)
{
    tensor t = tensor_view(NULL, s, dt, be->ops->dev);
    t.lay = lay;
    cnn_err e = {0};
    CHECK(backend_alloc_tensor(be, &t, &e) == 0);
    if (!h) {
        be->ops->fill(be, &t, NAN);
        return t;
    }
    void *raw = malloc(tensor_bytes(&t)), *moved = malloc(tensor_bytes(&t));
    CHECK(raw && moved);
    dtype_convert_host(dt, raw, DTYPE_F32, h, tensor_numel(&t));
    layout_permute_host(moved, lay, raw, LAYOUT_NCHW, &s, dtype_size(dt));
    backend_upload(be, &t, moved);
    be->ops->sync(be);
    free(raw);
    free(moved);
    return t;
}

/* convert of x stored in xl into y stored in yl (4-D, shape s) on the device side, against
 * the reference converting the same logical values in NCHW order (1-D, no transpose), so
 * the reference does not lean on the CPU's own transposing path. The result, permuted back
 * to NCHW, must have the same bits (one unfused f32 expression rounded once, as above). */
static void case_convert_layout(dtype xdt, dtype ydt, shape s, layout xl, layout yl,
                                float beta)
{
    char what[128], sb[64];
    snprintf(what, sizeof what, "convert %s %s -> %s %s %s beta=%g", dtype_name(xdt),
             layout_name(xl), dtype_name(ydt), layout_name(yl), shape_str(&s, sb, sizeof sb),
             (double)beta);
    int64_t n = shape_numel(&s);
    float *x = spread(21, n), *y0 = beta != 0.0f ? spread(22, n) : NULL;
    tensor xr = dev_tensor_dt(ref_be, xdt, x, n), yr = dev_tensor_dt(ref_be, ydt, y0, n);
    tensor xd = dev_tensor_4d(dev_be, xdt, s, xl, x), yd = dev_tensor_4d(dev_be, ydt, s, yl, y0);
    ref_be->ops->convert(ref_be, &xr, &yr, beta);
    dev_be->ops->convert(dev_be, &xd, &yd, beta);
    float *hr = down_f32(ref_be, &yr), *stored = down_f32(dev_be, &yd);
    float *hd = malloc((size_t)n * sizeof *hd);
    CHECK(hd);
    layout_permute_host(hd, LAYOUT_NCHW, stored, yl, &s, sizeof *hd);
    ok &= same_bits(what, hd, hr, n);
    free(hr);
    free(stored);
    free(hd);
    free(x);
    free(y0);
    release(&xr, &xd);
    release(&yr, &yd);
}

static void case_scale_by(dtype dt, float k)
{
    char what[96];
    const int64_t n = 70001;
    snprintf(what, sizeof what, "scale_by %s k=%g", dtype_name(dt), (double)k);
    float *y = spread(13, n);
    tensor yr = dev_tensor_dt(ref_be, dt, y, n), yd = dev_tensor_dt(dev_be, dt, y, n);
    tensor kr = dev_tensor(ref_be, &k, 1), kd = dev_tensor(dev_be, &k, 1);
    ref_be->ops->scale_by(ref_be, &yr, &kr);
    dev_be->ops->scale_by(dev_be, &yd, &kd);
    float *hr = down_f32(ref_be, &yr), *hd = down_f32(dev_be, &yd);
    ok &= same_bits(what, hd, hr, n);
    free(hr);
    free(hd);
    free(y);
    release(&yr, &yd);
    release(&kr, &kd);
}

/* GradScaler.update on the host: the truth the backends are held to. */
static void scaler_model(float *sc, float *good, bool skip, float growth, float backoff,
                         int interval)
{
    if (skip) {
        *sc *= backoff;
        *good = 0.0f;
        return;
    }
    *good += 1.0f;
    if (*good >= (float)interval) {
        *sc = *sc * growth > 0x1p126f ? 0x1p126f : *sc * growth;
        *good = 0.0f;
    }
}

/* skips: one char per step, '1' = the step was skipped (coef[1] = 1). */
static void case_loss_scale(float scale0, const char *skips, float growth, float backoff,
                            int interval)
{
    char what[128];
    snprintf(what, sizeof what, "loss_scale_update from %g steps %s interval %d",
             (double)scale0, skips, interval);
    float st[2] = {scale0, 0.0f}, model[2] = {scale0, 0.0f};
    tensor sr = dev_tensor(ref_be, st, 2), sd = dev_tensor(dev_be, st, 2);
    int good = 1;
    for (const char *p = skips; *p; p++) {
        float coef[2] = {0.5f, *p == '1' ? 1.0f : 0.0f};
        tensor cr = dev_tensor(ref_be, coef, 2), cd = dev_tensor(dev_be, coef, 2);
        ref_be->ops->loss_scale_update(ref_be, &sr, &cr, growth, backoff, interval);
        dev_be->ops->loss_scale_update(dev_be, &sd, &cd, growth, backoff, interval);
        scaler_model(&model[0], &model[1], *p == '1', growth, backoff, interval);
        float *hr = down(ref_be, &sr), *hd = down(dev_be, &sd);
        if (memcmp(hr, hd, 2 * sizeof *hr) || memcmp(hd, model, sizeof model)) {
            fprintf(stderr, "  %s: after step %d: dev [%g, %g], cpu [%g, %g], model [%g, %g]\n",
                    what, (int)(p - skips), (double)hd[0], (double)hd[1], (double)hr[0],
                    (double)hr[1], (double)model[0], (double)model[1]);
            good = 0;
        }
        free(hr);
        free(hd);
        release(&cr, &cd);
    }
    printf("  %-40s %s (final scale %g)\n", what, good ? "ok" : "MISMATCH", (double)model[0]);
    ok &= good;
    release(&sr, &sd);
}

static void mixed_precision_cases(void)
{
    static const dtype fl[3] = {DTYPE_F32, DTYPE_F16, DTYPE_BF16};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            case_convert(fl[i], fl[j], 100003, 0.0f);
            case_convert(fl[i], fl[j], 1, 0.0f);
            case_convert(fl[i], fl[j], 4099, 1.0f);
        }
    case_convert(DTYPE_F32, DTYPE_BF16, 4099, 0.5f);
    case_convert(DTYPE_BF16, DTYPE_F32, 4099, -2.0f);
    /* Between layouts: (37, 33x35) ends both tile dimensions early; (5, 7x9) fits in one
     * tile; a plane of one pixel or a single channel is stored alike in both layouts. */
    const layout cl = LAYOUT_NHWC, pl = LAYOUT_NCHW;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int b = 0; b < 2; b++) {
                case_convert_layout(fl[i], fl[j], SHAPE(3, 37, 33, 35), pl, cl, (float)b);
                case_convert_layout(fl[i], fl[j], SHAPE(3, 37, 33, 35), cl, pl, (float)b);
                case_convert_layout(fl[i], fl[j], SHAPE(2, 5, 7, 9), pl, cl, (float)b);
                case_convert_layout(fl[i], fl[j], SHAPE(2, 5, 7, 9), cl, pl, (float)b);
            }
    case_convert_layout(DTYPE_F32, DTYPE_BF16, SHAPE(4, 64, 1, 1), pl, cl, 0.0f);
    case_convert_layout(DTYPE_BF16, DTYPE_F32, SHAPE(2, 1, 5, 6), cl, pl, 1.0f);
    case_convert_layout(DTYPE_F32, DTYPE_F16, SHAPE(2, 5, 7, 9), cl, cl, 0.0f);
    case_convert_layout(DTYPE_F32, DTYPE_BF16, SHAPE(2, 40, 3, 4), pl, cl, 0.5f);
    for (int i = 0; i < 3; i++) {
        case_scale_by(fl[i], 1024.0f);
        case_scale_by(fl[i], 1.0f / 65536.0f);
        case_scale_by(fl[i], 3.0f);
    }
    case_loss_scale(65536.0f, "0010000110000000", 2.0f, 0.5f, 3);
    case_loss_scale(0x1p125f, "000000000", 2.0f, 0.5f, 2);  /* growth stops at 2^126 */
    case_loss_scale(1.0f, "1111", 2.0f, 0.25f, 2000);        /* backoff below 1 */
}

/* The cuda backend, or 77 when this machine has no GPU (as tests/gpu/gpu_vs_cpu.c). */
static int create_dev(bool self_check, backend **out)
{
    cnn_err e = {0};
    if (self_check)
        return backend_create("cpu", 3, out, &e) == 0 ? 0 : 1;
    int rc = backend_create("cuda", 0, out, &e);
    if (rc == CNN_OK)
        return 0;
    if (rc == CNN_ENOTSUP) {
        backend *probe;
        cnn_err e2 = {0};
        if (backend_create("auto", 0, &probe, &e2) == CNN_OK && probe->ops->dev == DEVICE_CPU) {
            backend_destroy(probe);
            printf("skipped: %s\n", e.msg);
            return 77;
        }
    }
    fprintf(stderr, "gpu_optim_vs_cpu: cannot create the cuda backend: %s\n", e.msg);
    return 1;
}

int main(int argc, char **argv)
{
    bool self_check = argc > 1 && !strcmp(argv[1], "--self-check");
    cnn_err e = {0};
    int rc = create_dev(self_check, &dev_be);
    if (rc)
        return rc;
    CHECK(backend_create("cpu", 2, &ref_be, &e) == 0);
    const int64_t sizes[] = {0, 1, 255, 1000, 65536 * 8 + 3, 3000017};
    for (int i = 0; i < 6; i++) {
        case_sumsq(sizes[i], 0.0f);
        case_sumsq(sizes[i], 0.5f);
    }
    const float sss[] = {25.0f, 1e-4f, 3e7f, INFINITY, NAN};
    for (int i = 0; i < 5; i++)
        for (int c = 0; c < 2; c++) {
            case_coef(sss[i], c ? 1.0f : 0.0f, 1.0f);
            case_coef(sss[i], c ? 5.0f : 0.0f, 1.0f / 1024);
        }
    for (int k = 0; k < 3; k++) {
        case_update(false, 100003, 0.9f, false, false, 1, k);
        case_update(true, 100003, 0.0f, false, false, 1, k);
    }
    case_update(false, 1, 0.9f, true, true, 1, 1);
    case_update(false, 70001, 0.9f, true, false, 1, 0);
    case_update(false, 70001, 0.9f, false, true, 1, 1);
    case_update(false, 70001, 0.0f, false, false, 1, 1);
    case_update(true, 3000017, 0.0f, false, false, 7, 1);
    mixed_precision_cases();
    backend_destroy(dev_be);
    backend_destroy(ref_be);
    if (!ok) {
        fprintf(stderr, "gpu_optim_vs_cpu: MISMATCH\n");
        return 1;
    }
    printf("gpu_optim_vs_cpu: ok\n");
    return 0;
}
