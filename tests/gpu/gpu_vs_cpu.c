/* CPU against GPU on fresh random inputs (issue 3, section 4): for every case of the table
 * (gpu_vs_cpu_cases.h), the same chain of layers is built on the "cpu" backend (the
 * reference) and on "cuda", given identical parameters, buffers and inputs from the keyed
 * RNG, and run forward, backward (overwriting parameter gradients) and backward again
 * (accumulating onto them).
 * Every activation, input gradient, parameter gradient and buffer is compared.
 * Every output and gradient tensor (and every f32 saved tensor) is poisoned with NaN on BOTH
 * sides before each pass, so an element a kernel forgets to write fails the comparison.
 *
 * Every case runs in each precision (issue 3, section 2): fp32, then bf16 and fp16, where
 * the chain's float inputs, activations, their gradients and the convolution/linear weights
 * are in that dtype (norm parameters, statistics and losses stay f32, as the layers make
 * them); the CPU backend's f16/bf16 emulation (f32 math, each output rounded once) is the
 * reference. Inputs and parameters are drawn in f32 and rounded once on the host, so both
 * sides start from the same 16-bit values.
 *
 * Every case with a 4-D input also runs channels-last (PyTorch's channels_last): the side
 * under test stores every 4-D input, activation, gradient, weight (KRSC) and saved tensor
 * NHWC (the chain's layout), the reference stays NCHW; uploads permute the logical NCHW
 * host values into the tensor's layout and downloads permute them back, so the same
 * comparison holds. Each run is named "case [dtype layout]".
 *
 * Usage: gpu_vs_cpu [--self-check] [--list] [--dtype fp32|bf16|fp16] [--layout nchw|nhwc]
 * [CASE ...]    (CASE: a name or an index; none = all; --dtype, --layout: only that
 * precision or layout). Without a GPU it prints one line and exits 77 (skipped).
 * --self-check runs the CPU backend on both sides and demands bit-identical results in NCHW:
 * it tests this harness (and the CPU backend's determinism) on machines without a GPU. Its
 * channels-last runs (the CPU's NHWC path against its NCHW one, which may sum in another
 * order) are held to the GPU tolerances below instead: a misplaced element is far outside
 * them.
 *
 * Tolerance (GPU): |gpu - cpu| <= ATOL * max(1, max|cpu| over the tensor) + RTOL * |cpu|.
 * Both sides compute in fp32 but sum in different orders (thousands of threads, atomics,
 * per-block partials) and cuDNN may pick FFT/Winograd algorithms, so results differ by a few
 * fp32 roundings of the summed terms: RTOL 1e-4 covers that relative to each element, and the
 * atol term covers elements that are near zero through cancellation, whose error scales with
 * the magnitude of the terms summed (hence scaled by the tensor's largest value), not with
 * their own value. TF32 tensor-core math (~1e-3 relative) would NOT pass: fp32 means fp32.
 * bf16/fp16: RTOL = ATOL = 2 eps, eps = the dtype's ulp at 1 (bf16 2^-7, fp16 2^-10). Both
 * sides round the same f32 math once per output; the f32 results differ in accumulation
 * order (tensor cores, per-block partials) and in libm vs CUDA exp/tanh by a few f32 ulps,
 * which is ~2^-16 of a bf16 ulp, so most elements match bit for bit and a differing one
 * flips one rounding: 1 ulp of itself (<= eps relative). A flipped intermediate feeds the
 * next layer's sums as one term among many, and reductions over longer axes (weight
 * gradients, norm statistics) average such flips rather than add them; the atol term,
 * scaled by the tensor's largest value like fp32's, bounds them for elements near zero
 * through cancellation. A wrong rounding mode, an unwritten element or a wrong formula
 * still fails: errors from those are many ulps or NaN. The fraction of bit-identical
 * elements is printed for each tensor. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/config/config.h"
#include "../../src/layers/chain.h"

#define RTOL 1e-4
#define ATOL 1e-5
#define MAX_LAYERS 8
#define SEED 20240603u

#include "gpu_vs_cpu_cases.h"

#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* ---- one side of the comparison: a backend and its own copy of the chain ---- */
typedef struct side {
    backend *be;
    layer *ls[MAX_LAYERS];
    int n;
    layer_chain c;
} side;

typedef struct input_desc {
    char kind; /* f, t, d, l */
    shape s;
} input_desc;

typedef struct result {
    int ok;
    double max_abs, max_rel; /* over all tensors of the case */
    double rtol, atol;
} result;

static const gcase *cur;
static dtype run_dt = DTYPE_F32; /* the precision of the case being run */

static void die(const cnn_err *e)
{
    fprintf(stderr, "%s: %s\n  at %s\n", cur ? cur->name : "gpu_vs_cpu", e->msg, e->trace);
    exit(1);
}

static int parse_inputs(const char *s, input_desc *in)
{
    int n = 0;
    while (*s) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        if (n == LAYER_MAX_INPUTS || !strchr("ftdl", *s))
            goto bad;
        input_desc *d = &in[n++];
        d->kind = *s++;
        d->s.nd = 0;
        for (;;) {
            char *end;
            long long v = strtoll(s, &end, 10);
            if (end == s || v <= 0 || d->s.nd == CNN_MAX_DIMS)
                goto bad;
            d->s.d[d->s.nd++] = v;
            s = end;
            if (*s != 'x')
                break;
            s++;
        }
        if (*s && *s != ' ')
            goto bad;
    }
    if (n > 0)
        return n;
bad:
    fprintf(stderr, "%s: bad inputs string in the table\n", cur->name);
    exit(2);
}

/* lay: the chain's layout (every 4-D tensor of it, chain.h). */
static void build_side(side *sd, backend *be, const input_desc *in, int n_in, layout lay)
{
    cnn_err e = {0};
    cfg_node *root;
    memset(sd, 0, sizeof *sd);
    sd->be = be;
    if (config_parse_string(cur->spec, strlen(cur->spec), cur->name, &root, &e) < 0)
        die(&e);
    int n = root->kind == CFG_SEQ ? root->n : 1;
    if (n > MAX_LAYERS) {
        fprintf(stderr, "%s: more than %d layers\n", cur->name, MAX_LAYERS);
        exit(2);
    }
    for (int i = 0; i < n; i++) {
        char def[16];
        snprintf(def, sizeof def, "l%d", i);
        if (layer_create(root->kind == CFG_SEQ ? root->items[i] : root, def, &sd->ls[i], &e) < 0)
            die(&e);
    }
    sd->n = n;
    cfg_free(root);
    shape s[LAYER_MAX_INPUTS];
    dtype dt[LAYER_MAX_INPUTS];
    sd->ls[0]->lay = lay;
    for (int i = 0; i < n_in; i++) {
        s[i] = in[i].s;
        dt[i] = in[i].kind == 'l' ? DTYPE_I32 : in[i].kind == 't' ? DTYPE_F32 : run_dt;
    }
    if (chain_setup(&sd->c, sd->ls, n, be, s, dt, n_in, &e) < 0)
        die(&e);
    /* Same key on both sides: every init draws on the host (layer_fill_uniform generates
     * with rng_fill_uniform, then uploads) or fills constants, so parameters are identical;
     * the comparison of "init.*" below checks that. */
    chain_init(&sd->c, rng_fold_str(rng_key_from_seed(SEED), "init"));
}

static void free_side(side *sd)
{
    chain_free(&sd->c);
    for (int i = 0; i < sd->n; i++)
        layer_destroy(sd->ls[i]);
}

/* ---- host data from the keyed RNG, uploaded identically to both sides ---- */
/* h: logical (NCHW) values, i32 for integer tensors, else f32, rounded once on the host to a
 * 16-bit float dtype and permuted into t's layout. */
static void upload_logical(backend *be, tensor *t, const void *h)
{
    void *tmp = NULL, *moved = NULL;
    if (dtype_is_float(t->dt) && t->dt != DTYPE_F32) {
        tmp = cnn_xmalloc(tensor_bytes(t));
        dtype_convert_host(t->dt, tmp, DTYPE_F32, h, tensor_numel(t));
        h = tmp;
    }
    if (tensor_is_nhwc(t)) {
        moved = cnn_xmalloc(tensor_bytes(t));
        layout_permute_host(moved, LAYOUT_NHWC, h, LAYOUT_NCHW, &t->s, dtype_size(t->dt));
        h = moved;
    }
    backend_upload(be, t, h);
    be->ops->sync(be); /* the copy may still read the host buffers */
    free(tmp);
    free(moved);
}

static void upload_both(side *a, side *b, tensor *ta, tensor *tb, const void *h)
{
    upload_logical(a->be, ta, h);
    upload_logical(b->be, tb, h);
}

/* A float tensor downloaded as f32 (exact: f16/bf16 values are f32 values) in logical
 * (NCHW) order, whatever its layout. */
static float *download_f32(backend *be, const tensor *t)
{
    int64_t n = tensor_numel(t);
    size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(float);
    float *out = cnn_xmalloc(bytes), *stored = cnn_xmalloc(bytes);
    void *raw = cnn_xmalloc(tensor_bytes(t) ? tensor_bytes(t) : 1);
    backend_download(be, t, raw);
    dtype_convert_host(DTYPE_F32, stored, t->dt, raw, n);
    layout_permute_host(out, LAYOUT_NCHW, stored, t->lay, &t->s, sizeof *out);
    free(raw);
    free(stored);
    return out;
}

static void fill_input(const input_desc *d, rng_key k, void *h, size_t n)
{
    if (d->kind == 'f' || d->kind == 't') {
        rng_fill_uniform(k, 0, h, n, -2.0f, 2.0f);
    } else if (d->kind == 'd') { /* a random permutation of n evenly spaced values */
        float *x = h;
        for (size_t i = 0; i < n; i++)
            x[i] = -2.0f + 4.0f * (float)i / (float)n;
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)(rng_uniform(k, i) * (float)(i + 1));
            j = j > i ? i : j;
            float t = x[i];
            x[i] = x[j];
            x[j] = t;
        }
    } else {
        int32_t *y = h;
        rng_key kc = rng_fold(k, 1), ki = rng_fold(k, 2);
        for (size_t i = 0; i < n; i++) {
            int v = (int)(rng_uniform(kc, i) * (float)cur->classes);
            y[i] = v >= cur->classes ? cur->classes - 1 : v;
            if (rng_uniform(ki, i) * 100.0f < (float)cur->ignore_pct)
                y[i] = cur->ignore;
        }
    }
}

static void poison(backend *be, tensor *t)
{
    if (t->data && dtype_is_float(t->dt))
        be->ops->fill(be, t, NAN);
}

/* ---- comparison ---- */
static void compare(result *r, const char *what, side *ref, const tensor *tr, side *got,
                    const tensor *tg)
{
    if (!tr->data || !dtype_is_float(tr->dt))
        return;
    int64_t n = tensor_numel(tr);
    if (!shape_eq(&tr->s, &tg->s) || tr->dt != tg->dt) {
        printf("  %-34s shapes or dtypes differ  MISMATCH\n", what);
        r->ok = 0;
        return;
    }
    float *a = download_f32(ref->be, tr), *b = download_f32(got->be, tg);
    double scale = 0.0; /* max|cpu|, printed so that an all-zero tensor shows in the log */
    for (int64_t i = 0; i < n; i++)
        if (fabs(a[i]) > scale) /* false for NaN: counted below */
            scale = fabs(a[i]);
    double max_abs = 0, max_rel = 0;
    int64_t bad = 0, nan = 0, same = 0;
    for (int64_t i = 0; i < n; i++) {
        same += memcmp(&a[i], &b[i], sizeof a[i]) == 0;
        double err = fabs((double)b[i] - (double)a[i]);
        if (err != err) { /* NaN on either side: unwritten (poisoned) or broken */
            nan++;
            bad++;
            continue;
        }
        double rel = err / fmax(fabs(a[i]), 1e-30);
        if (!(err <= r->atol * fmax(scale, 1.0) + r->rtol * fabs(a[i]))) {
            if (bad < 3)
                fprintf(stderr, "    %s[%lld]: gpu %.9g, cpu %.9g\n", what, (long long)i, b[i],
                        a[i]);
            bad++;
        }
        if (err > max_abs)
            max_abs = err;
        if (err > r->atol * fmax(scale, 1.0) && rel > max_rel)
            max_rel = rel;
    }
    printf("  %-34s %s n=%-7lld max|cpu|=%-9.3g max_abs=%-9.3g max_rel=%-9.3g exact=%.1f%%",
           what, dtype_name(tr->dt), (long long)n, scale, max_abs, max_rel,
           n ? 100.0 * (double)same / (double)n : 100.0);
    if (bad)
        printf("  MISMATCH: %lld off (%lld NaN)", (long long)bad, (long long)nan);
    printf("\n");
    r->ok &= bad == 0;
    r->max_abs = fmax(r->max_abs, nan ? INFINITY : max_abs);
    r->max_rel = fmax(r->max_rel, max_rel);
    free(a);
    free(b);
}

/* The slot of b's layer li named as sa: slots pair by name, since a layout may add saved
 * slots (a channels-last linear keeps NCHW copies of its input). Parameters, buffers and
 * constants exist on both sides, or the case fails. */
static layer_slot *peer_slot(result *r, side *b, int li, const layer_slot *sa)
{
    layer_slot *sb = layer_slot_find(b->ls[li], sa->name);
    if (!sb && sa->kind != SLOT_SAVED) {
        printf("  %s.%s: no such slot on the side under test  MISMATCH\n", b->ls[li]->name,
               sa->name);
        r->ok = 0;
    }
    return sb;
}

/* Parameters and buffers: identical after init, then replaced by random values (so batch
 * norm's weight is not all ones); running variances stay positive. */
static void set_params(result *r, side *a, side *b, rng_key k)
{
    char name[160];
    for (int li = 0; li < a->n; li++)
        for (int s = 0; s < a->ls[li]->n_slots; s++) {
            layer_slot *sa = &a->ls[li]->slots[s], *sb = peer_slot(r, b, li, sa);
            if (!sb)
                continue;
            snprintf(name, sizeof name, "init.%s.%s", a->ls[li]->name, sa->name);
            if (sa->kind != SLOT_SAVED)
                compare(r, name, a, &sa->t, b, &sb->t);
            if ((sa->kind != SLOT_PARAM && sa->kind != SLOT_BUFFER) || !dtype_is_float(sa->t.dt))
                continue;
            size_t n = (size_t)tensor_numel(&sa->t);
            float *h = cnn_xmalloc(n * sizeof *h);
            int var = strstr(sa->name, "var") != NULL;
            rng_fill_uniform(rng_fold_str(rng_fold(k, (uint64_t)li), sa->name), 0, h, n,
                             var ? 0.5f : -1.0f, var ? 1.5f : 1.0f);
            upload_both(a, b, &sa->t, &sb->t, h);
            free(h);
        }
}

static void poison_forward(side *sd)
{
    for (int i = 0; i < sd->n; i++) {
        poison(sd->be, &sd->c.act[i]);
        poison(sd->be, &sd->c.dact[i]);
        for (int s = 0; s < sd->ls[i]->n_slots; s++) {
            layer_slot *sl = &sd->ls[i]->slots[s];
            if (sl->kind == SLOT_SAVED)
                poison(sd->be, &sl->t);
            poison(sd->be, &sl->grad);
        }
    }
    for (int i = 0; i < sd->c.n_in; i++)
        poison(sd->be, &sd->c.din[i]);
}

static void poison_backward(side *sd, int param_grads)
{
    for (int i = 0; i < sd->c.n_in; i++)
        poison(sd->be, &sd->c.din[i]);
    for (int i = 0; i < sd->n - 1; i++)
        poison(sd->be, &sd->c.dact[i]);
    for (int i = 0; i < sd->n && param_grads; i++)
        for (int s = 0; s < sd->ls[i]->n_slots; s++)
            poison(sd->be, &sd->ls[i]->slots[s].grad);
}

static void compare_forward(result *r, side *a, side *b)
{
    char name[160];
    for (int i = 0; i < a->n; i++) {
        snprintf(name, sizeof name, i == a->n - 1 ? "out" : "act.%s", a->ls[i]->name);
        compare(r, name, a, &a->c.act[i], b, &b->c.act[i]);
        for (int s = 0; s < a->ls[i]->n_slots; s++) {
            layer_slot *sa = &a->ls[i]->slots[s], *sb = peer_slot(r, b, i, sa);
            if (sb && sa->kind == SLOT_BUFFER) {
                snprintf(name, sizeof name, "after.%s.%s", a->ls[i]->name, sa->name);
                compare(r, name, a, &sa->t, b, &sb->t);
            }
        }
    }
}

static void compare_backward(result *r, side *a, side *b, const char *sfx)
{
    char name[160];
    for (int i = 0; i < a->c.n_in; i++) {
        snprintf(name, sizeof name, "din.%d%s", i, sfx);
        compare(r, name, a, &a->c.din[i], b, &b->c.din[i]);
    }
    for (int i = 0; i < a->n; i++) {
        if (i < a->n - 1) {
            snprintf(name, sizeof name, "dact.%s%s", a->ls[i]->name, sfx);
            compare(r, name, a, &a->c.dact[i], b, &b->c.dact[i]);
        }
        for (int s = 0; s < a->ls[i]->n_slots; s++) {
            layer_slot *sa = &a->ls[i]->slots[s], *sb = peer_slot(r, b, i, sa);
            if (sb && sa->kind == SLOT_PARAM) {
                snprintf(name, sizeof name, "grad.%s.%s%s", a->ls[i]->name, sa->name, sfx);
                compare(r, name, a, &sa->grad, b, &sb->grad);
            }
        }
    }
}

/* The dtype's ulp at 1: the unit of the low-precision tolerance. */
static double dtype_eps(dtype dt)
{
    return dt == DTYPE_BF16 ? 0x1p-7 : dt == DTYPE_F16 ? 0x1p-10 : 0x1p-23;
}

/* Whether the case has a 4-D input: one that a channels-last run stores differently. */
static int has_4d(const gcase *gc)
{
    input_desc in[LAYER_MAX_INPUTS];
    cur = gc;
    int n_in = parse_inputs(gc->inputs, in);
    cur = NULL;
    for (int i = 0; i < n_in; i++)
        if (in[i].s.nd == 4)
            return 1;
    return 0;
}

/* lay: the layout of the side under test (the reference runs NCHW). exact: demand
 * bit-identical results (the self-check; NCHW only, see the top comment). */
static int run_case(const gcase *gc, dtype dt, layout lay, backend *be_ref, backend *be_test,
                    int exact)
{
    cur = gc;
    run_dt = dt;
    input_desc in[LAYER_MAX_INPUTS];
    int n_in = parse_inputs(gc->inputs, in);
    printf("%s [%s %s]: %s (%s)\n", gc->name, dtype_name(dt), layout_name(lay), gc->spec,
           gc->training ? "train" : "eval");
    side a, b; /* a: the reference (cpu, NCHW), b: under test */
    build_side(&a, be_ref, in, n_in, LAYOUT_NCHW);
    build_side(&b, be_test, in, n_in, lay);
    double rtol = dt == DTYPE_F32 ? RTOL : 2.0 * dtype_eps(dt);
    double atol = dt == DTYPE_F32 ? ATOL : 2.0 * dtype_eps(dt);
    exact = exact && lay == LAYOUT_NCHW;
    result r = {.ok = 1, .rtol = exact ? 0.0 : rtol, .atol = exact ? 0.0 : atol};
    rng_key k = rng_fold_str(rng_key_from_seed(SEED), gc->name);
    set_params(&r, &a, &b, rng_fold(k, 1));

    for (int i = 0; i < n_in; i++) {
        size_t n = (size_t)shape_numel(&in[i].s);
        void *h = cnn_xmalloc(n * 4); /* f32 or i32 */
        fill_input(&in[i], rng_fold(rng_fold(k, 2), (uint64_t)i), h, n);
        upload_both(&a, &b, &a.c.in[i], &b.c.in[i], h);
        free(h);
    }
    exec xa = {.be = a.be, .training = gc->training != 0, .key = rng_fold(k, 3),
               .reduce_ranks = 1};
    exec xb = xa;
    xb.be = b.be;

    poison_forward(&a);
    poison_forward(&b);
    chain_forward(&a.c, &xa);
    chain_forward(&b.c, &xb);
    compare_forward(&r, &a, &b);

    tensor *da = &a.c.dact[a.n - 1], *db = &b.c.dact[b.n - 1];
    size_t nd = (size_t)tensor_numel(da);
    float *dout = cnn_xmalloc(nd * sizeof *dout);
    rng_fill_uniform(rng_fold(k, 4), 0, dout, nd, -1.0f, 1.0f);
    for (int pass = 0; pass < 2; pass++) {
        /* Pass 0 overwrites NaN-poisoned parameter gradients; pass 1 accumulates onto them. */
        xa.param_grad_beta = xb.param_grad_beta = (float)pass;
        upload_both(&a, &b, da, db, dout);
        poison_backward(&a, pass == 0);
        poison_backward(&b, pass == 0);
        chain_backward(&a.c, &xa);
        chain_backward(&b.c, &xb);
        compare_backward(&r, &a, &b, pass ? " (accumulated)" : "");
    }
    free(dout);
    printf("%s [%s %s]: %s  max_abs=%.3g max_rel=%.3g (rtol %g, atol %g x max(1, max|cpu|))"
           "\n", gc->name, dtype_name(dt), layout_name(lay), r.ok ? "ok" : "FAILED", r.max_abs,
           r.max_rel, r.rtol, r.atol);
    free_side(&a);
    free_side(&b);
    cur = NULL;
    return r.ok;
}

static int find_case(const char *s)
{
    for (int i = 0; i < N_CASES; i++)
        if (!strcmp(cases[i].name, s))
            return i;
    char *end;
    long v = strtol(s, &end, 10);
    if (*s && !*end && v >= 0 && v < N_CASES)
        return (int)v;
    return -1;
}

/* The cuda backend, or 77 when this machine cannot have one. An incomplete backend on a
 * machine WITH a GPU also reports CNN_ENOTSUP: that must fail, not skip, so "auto" (which
 * picks CUDA exactly when a device is visible) tells the two apart. */
static int create_test_backend(backend **out)
{
    cnn_err e = {0};
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
    fprintf(stderr, "gpu_vs_cpu: cannot create the cuda backend: %s\n  at %s\n", e.msg,
            e.trace);
    return 1;
}

int main(int argc, char **argv)
{
    int self_check = 0, list = 0, sel[N_CASES], n_sel = 0;
    dtype dts[3] = {DTYPE_F32, DTYPE_BF16, DTYPE_F16};
    int n_dt = 3;
    layout lays[2] = {LAYOUT_NCHW, LAYOUT_NHWC};
    int n_lay = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--self-check")) {
            self_check = 1;
        } else if (!strcmp(argv[i], "--list")) {
            list = 1;
        } else if (!strcmp(argv[i], "--dtype") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "fp32") || !strcmp(v, "bf16") || !strcmp(v, "fp16")) {
                dts[0] = v[0] == 'b' ? DTYPE_BF16 : v[2] == '1' ? DTYPE_F16 : DTYPE_F32;
            } else {
                fprintf(stderr, "gpu_vs_cpu: --dtype takes fp32, bf16 or fp16, not '%s'\n", v);
                return 2;
            }
            n_dt = 1;
        } else if (!strcmp(argv[i], "--layout") && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "nchw") && strcmp(v, "nhwc")) {
                fprintf(stderr, "gpu_vs_cpu: --layout takes nchw or nhwc, not '%s'\n", v);
                return 2;
            }
            lays[0] = !strcmp(v, "nhwc") ? LAYOUT_NHWC : LAYOUT_NCHW;
            n_lay = 1;
        } else {
            int c = find_case(argv[i]);
            if (c < 0 || n_sel == N_CASES) {
                fprintf(stderr, "gpu_vs_cpu: unknown case '%s' (--list shows them)\n"
                        "usage: gpu_vs_cpu [--self-check] [--list] [--dtype fp32|bf16|fp16] "
                        "[--layout nchw|nhwc] [CASE ...]\n", argv[i]);
                return 2;
            }
            sel[n_sel++] = c;
        }
    }
    if (list) {
        for (int i = 0; i < N_CASES; i++)
            printf("%d %s%s\n", i, cases[i].name, has_4d(&cases[i]) ? " (nchw, nhwc)" : "");
        return 0;
    }
    if (!n_sel)
        for (; n_sel < N_CASES; n_sel++)
            sel[n_sel] = n_sel;

    cnn_err e = {0};
    backend *ref, *test;
    if (backend_create("cpu", 0, &ref, &e) < 0)
        die(&e);
    if (self_check) {
        if (backend_create("cpu", 0, &test, &e) < 0)
            die(&e);
        printf("self-check: cpu against cpu, results must be bit-identical (nchw; nhwc "
               "within the gpu tolerances)\n");
    } else {
        int rc = create_test_backend(&test);
        if (rc) {
            backend_destroy(ref);
            return rc;
        }
    }
    /* A channels-last run only where a 4-D input makes it differ from NCHW. */
    int failed = 0, runs = 0;
    char failures[2048] = "";
    for (int i = 0; i < n_sel; i++)
        for (int l = 0; l < n_lay; l++) {
            if (lays[l] == LAYOUT_NHWC && !has_4d(&cases[sel[i]]))
                continue;
            for (int j = 0; j < n_dt; j++) {
                runs++;
                if (run_case(&cases[sel[i]], dts[j], lays[l], ref, test, self_check))
                    continue;
                failed++;
                size_t used = strlen(failures);
                snprintf(failures + used, sizeof failures - used, "  %s [%s %s]\n",
                         cases[sel[i]].name, dtype_name(dts[j]), layout_name(lays[l]));
            }
        }
    if (runs == 0) {
        printf("skipped: no selected case has a 4-D input to store channels-last\n");
        backend_destroy(test);
        backend_destroy(ref);
        return 77;
    }
    if (runs > 1)
        printf("%d of %d runs (cases x layouts x precisions) passed\n", runs - failed, runs);
    if (failed)
        printf("failed:\n%s", failures);
    backend_destroy(test);
    backend_destroy(ref);
    return failed ? 1 : 0;
}
