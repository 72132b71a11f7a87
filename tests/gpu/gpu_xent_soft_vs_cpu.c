/* CPU against GPU for the soft-target cross-entropy (xent_soft_fwd/bwd) and argmax_channel,
 * on keyed random inputs: padding rows, huge logits, class counts that are not a multiple of
 * the warp, a batch of only padding; argmax with ties and NaNs. Outputs are poisoned on both
 * sides first (NaN, or -7 for indices), so an element a kernel forgets fails.
 * Usage: gpu_xent_soft_vs_cpu [--self-check]. Without a GPU: one line and exit 77.
 * --self-check runs the CPU backend on both sides and demands identical bits.
 * Tolerance: |gpu - cpu| <= ATOL * max(1, max|cpu|) + RTOL * |cpu| (gpu_vs_cpu.c's rule): the
 * GPU sums rows in another order (warp butterflies, block partials) and uses expf where the
 * CPU has its own exp, a few float roundings apart. Indices must be equal. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/core.h"

#define RTOL 1e-4
#define ATOL 1e-6

typedef struct xcase {
    const char *name;
    int n, c;
    float scale;   /* logits ~ N(0, scale^2) */
    int pad_every; /* every k-th row is padding (0: none) */
} xcase;

static const xcase xcases[] = {
    {"dense_7x10", 7, 10, 2.0f, 0},      {"padded_9x6", 9, 6, 2.0f, 3},
    {"warp_tail_5x33", 5, 33, 3.0f, 4},  {"wide_64x1000", 64, 1000, 2.0f, 16},
    {"huge_6x8", 6, 8, 300.0f, 0},       {"one_1x1", 1, 1, 1.0f, 0},
    {"all_padding_4x5", 4, 5, 1.0f, 1},  {"many_rows_3000x7", 3000, 7, 2.0f, 5},
};

typedef struct acase {
    const char *name;
    int64_t d[4];
    int nd;
    int ints; /* small integers: many ties */
} acase;

static const acase acases[] = {
    {"argmax_2d_ties", {6, 5}, 2, 1},
    {"argmax_4d_ties", {2, 4, 3, 5}, 4, 1},
    {"argmax_4d", {8, 21, 17, 13}, 4, 0},
    {"argmax_1000_classes", {5, 1000}, 2, 0},
};

static int compare(const char *what, const float *got, const float *ref, int64_t n, int exact)
{
    double mx = 1.0, worst = 0.0;
    int64_t bad = 0, at = -1;
    for (int64_t i = 0; i < n; i++)
        mx = fmax(mx, fabs(ref[i]));
    for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - ref[i]);
        int ok = exact ? memcmp(&got[i], &ref[i], sizeof *got) == 0
                       : err <= ATOL * mx + RTOL * fabs(ref[i]);
        if (!ok && bad++ < 3)
            fprintf(stderr, "    %s[%lld]: test %.9g, cpu %.9g\n", what, (long long)i, got[i],
                    ref[i]);
        if (!(err <= worst)) {
            worst = err;
            at = i;
        }
    }
    printf("    %-8s n=%-7lld max abs err %.3g (at %lld)%s\n", what, (long long)n, worst,
           (long long)at, bad ? "  MISMATCH" : "");
    return bad == 0;
}

/* A tensor to allocate on a backend (backend_alloc_tensor sets its device). */
static tensor blank(shape s, dtype dt) { return tensor_view(NULL, s, dt, DEVICE_CPU); }

/* Runs fwd + bwd of one backend on host inputs; outputs back to the host. */
static void run_xent(backend *be, const xcase *k, const float *x, const float *t, float *prob,
                     float *dx, float *loss)
{
    cnn_err e = {0};
    shape s = SHAPE(k->n, k->c);
    tensor tx = blank(s, DTYPE_F32), tt = blank(s, DTYPE_F32);
    tensor tp = blank(s, DTYPE_F32), td = blank(s, DTYPE_F32);
    tensor tl = blank(SHAPE(1), DTYPE_F32), tg = blank(SHAPE(1), DTYPE_F32);
    tensor *all[] = {&tx, &tt, &tp, &td, &tl, &tg};
    for (int i = 0; i < 6; i++)
        if (backend_alloc_tensor(be, all[i], &e) < 0)
            cnn_fatal("%s", e.msg);
    float g = 0.75f;
    backend_upload(be, &tx, x);
    backend_upload(be, &tt, t);
    backend_upload(be, &tg, &g);
    be->ops->fill(be, &tp, NAN);
    be->ops->fill(be, &td, NAN);
    be->ops->fill(be, &tl, NAN);
    be->ops->xent_soft_fwd(be, &tx, &tt, &tp, &tl);
    be->ops->xent_soft_bwd(be, &tp, &tt, &tg, &td);
    backend_download(be, &tp, prob);
    backend_download(be, &td, dx);
    backend_download(be, &tl, loss);
    for (int i = 0; i < 6; i++)
        backend_free_tensor(be, all[i]);
}

static int xent_case(const xcase *k, backend *ref, backend *test, int exact)
{
    int64_t n = (int64_t)k->n * k->c;
    size_t bytes = (size_t)n * sizeof(float);
    float *x = cnn_xmalloc(bytes), *t = cnn_xmalloc(bytes), *out[4], loss[2];
    for (int i = 0; i < 4; i++)
        out[i] = cnn_xmalloc(bytes);
    rng_key key = rng_fold_str(rng_key_from_seed(20261125), k->name);
    rng_fill_normal(key, 0, x, (size_t)n, 0.0f, k->scale);
    rng_fill_uniform(rng_fold(key, 1), 0, t, (size_t)n, 0.0f, 1.0f);
    for (int r = 0; r < k->n; r++) {
        double s = 0.0;
        for (int c = 0; c < k->c; c++)
            s += t[r * k->c + c];
        int pad = k->pad_every && r % k->pad_every == k->pad_every - 1;
        for (int c = 0; c < k->c; c++)
            t[r * k->c + c] = pad ? 0.0f : (float)(t[r * k->c + c] / s);
    }
    run_xent(ref, k, x, t, out[0], out[1], &loss[0]);
    run_xent(test, k, x, t, out[2], out[3], &loss[1]);
    printf("  %s: loss cpu %.9g, test %.9g\n", k->name, loss[0], loss[1]);
    int ok = compare("loss", &loss[1], &loss[0], 1, exact);
    ok &= compare("prob", out[2], out[0], n, exact);
    ok &= compare("dlogits", out[3], out[1], n, exact);
    free(x);
    free(t);
    for (int i = 0; i < 4; i++)
        free(out[i]);
    return ok;
}

static void run_argmax(backend *be, shape s, shape si, const float *x, float *idx_f)
{
    cnn_err e = {0};
    tensor tx = blank(s, DTYPE_F32), ti = blank(si, DTYPE_I32);
    if (backend_alloc_tensor(be, &tx, &e) < 0 || backend_alloc_tensor(be, &ti, &e) < 0)
        cnn_fatal("%s", e.msg);
    backend_upload(be, &tx, x);
    be->ops->fill(be, &ti, -7);
    be->ops->argmax_channel(be, &tx, &ti);
    int64_t m = shape_numel(&si);
    int32_t *idx = cnn_xmalloc((size_t)m * sizeof *idx);
    backend_download(be, &ti, idx);
    for (int64_t i = 0; i < m; i++)
        idx_f[i] = (float)idx[i];
    free(idx);
    backend_free_tensor(be, &tx);
    backend_free_tensor(be, &ti);
}

static int argmax_case(const acase *k, backend *ref, backend *test)
{
    shape s = {.nd = k->nd}, si = {.nd = k->nd - 1};
    for (int i = 0; i < k->nd; i++)
        s.d[i] = k->d[i];
    si.d[0] = k->d[0];
    for (int i = 2; i < k->nd; i++)
        si.d[i - 1] = k->d[i];
    int64_t n = shape_numel(&s), m = shape_numel(&si);
    float *x = cnn_xmalloc((size_t)n * sizeof *x);
    float *a = cnn_xmalloc((size_t)m * sizeof *a), *b = cnn_xmalloc((size_t)m * sizeof *b);
    rng_key key = rng_fold_str(rng_key_from_seed(7), k->name);
    rng_fill_uniform(key, 0, x, (size_t)n, -2.0f, 3.0f);
    for (int64_t i = 0; i < n; i++) {
        if (k->ints)
            x[i] = floorf(x[i]);
        if (rng_uniform(rng_fold(key, 1), (uint64_t)i) < 0.05f)
            x[i] = NAN;
    }
    run_argmax(ref, s, si, x, a);
    run_argmax(test, s, si, x, b);
    printf("  %s:\n", k->name);
    int ok = compare("idx", b, a, m, 1);
    free(x);
    free(a);
    free(b);
    return ok;
}

/* The cuda backend, or 77 when no GPU is visible ("auto" picks the CPU exactly then); an
 * incomplete CUDA backend on a GPU machine fails instead. */
static int create_test_backend(backend **out)
{
    cnn_err e = {0};
    int rc = backend_create("cuda", 0, out, &e);
    if (rc == CNN_OK)
        return 0;
    backend *probe;
    cnn_err e2 = {0};
    if (rc == CNN_ENOTSUP && backend_create("auto", 0, &probe, &e2) == CNN_OK) {
        int cpu = probe->ops->dev == DEVICE_CPU;
        backend_destroy(probe);
        if (cpu) {
            printf("skipped: %s\n", e.msg);
            return 77;
        }
    }
    fprintf(stderr, "gpu_xent_soft_vs_cpu: cannot create the cuda backend: %s\n", e.msg);
    return 1;
}

int main(int argc, char **argv)
{
    int self = argc > 1 && !strcmp(argv[1], "--self-check");
    cnn_err e = {0};
    backend *ref, *test;
    if (backend_create("cpu", 0, &ref, &e) < 0)
        cnn_fatal("%s", e.msg);
    if (self) {
        if (backend_create("cpu", 0, &test, &e) < 0)
            cnn_fatal("%s", e.msg);
    } else {
        int rc = create_test_backend(&test);
        if (rc) {
            backend_destroy(ref);
            return rc;
        }
    }
    int failed = 0, total = 0;
    for (size_t i = 0; i < sizeof xcases / sizeof *xcases; i++, total++)
        failed += !xent_case(&xcases[i], ref, test, self);
    for (size_t i = 0; i < sizeof acases / sizeof *acases; i++, total++)
        failed += !argmax_case(&acases[i], ref, test);
    printf("%d of %d cases passed (%s against cpu)\n", total - failed, total,
           test->ops->name);
    backend_destroy(test);
    backend_destroy(ref);
    return failed ? 1 : 0;
}
