/* One layer case against its PyTorch fixture (tools/fixtures/make_fixtures.py), or, with
 * --gradcheck, against central finite differences on the same inputs and parameters.
 * Usage: layer_fixture [--gradcheck] [--device cpu|cuda] [--dtype f32|f16|bf16]
 *        [--layout nchw|nhwc] [--conv-via-nchw]
 *        FILE.bin [FILE.bin ...]  (several files share one backend: one CUDA context for all;
 *        the exit code is 1 when any case failed, 77 when every one was skipped)
 * On cuda the tolerances are 10x the case's (reductions run in another order on thousands
 * of threads; cuDNN may pick FFT/Winograd algorithms), and without a GPU it exits 77.
 * Outputs, input gradients and parameter gradients are poisoned with NaN (of their dtype)
 * before each pass, so an element a kernel forgets to write fails the comparison.
 * --dtype runs the case in f16 or bf16: float inputs (not loss targets, which stay f32) and
 * parameters are rounded to it, and results are compared with the f32 fixture within
 * LOWP_K units of roundoff of the dtype times the record's largest magnitude, on top of the
 * case's own tolerance (see lowp_atol). --layout nhwc runs the layers channels-last: every
 * 4-D input, activation, weight and saved tensor is stored NHWC (uploads and downloads
 * transpose), and the results must be the fixture's as they are in NCHW. --conv-via-nchw
 * (cuda) runs channels-last convolutions on NCHW copies, the route taken where cuDNN has no
 * channels-last algorithm, which a GPU may never need on the fixtures' shapes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/config/config.h"
#include "../../src/layers/chain.h"
#include "../check.h"
#include "../support/fixture.h"

#define MAX_LAYERS 8

static fixture fx;
static const char *path;
static int n_layers;
static layer *ls[MAX_LAYERS];
static dtype run_dt = DTYPE_F32; /* --dtype */
static layout run_lay = LAYOUT_NCHW; /* --layout */
static double lowp_scale = 1.0;  /* LOWP_K multiplier: 2 on cuda */

/* Low-precision results carry the rounding of every input and parameter (relative u each,
 * u = 2^-8 for bf16, 2^-11 for f16) through the layer, plus one rounding of the output. For
 * a sum of L terms of random sign the error grows like u * sqrt(L) * term, while the result
 * itself grows like sqrt(L) * term: so the error is a few u times the result's typical
 * magnitude, whatever L. The largest magnitude of the record stands in for that scale, and
 * LOWP_K = 16 is about 3x the worst ratio max_abs_err / (u * max|ref|) measured over all
 * 102 layer fixtures on the CPU backend: 5.2 in bf16 and 3.7 in f16, both on
 * batch_norm_train's weight gradient (a sum of dy * xhat over the batch); most are below 2. */
#define LOWP_K 16.0

static double lowp_atol(const float *ref, int64_t n)
{
    if (run_dt == DTYPE_F32)
        return 0.0;
    double m = 0, u = run_dt == DTYPE_BF16 ? 0x1p-8 : 0x1p-11;
    for (int64_t i = 0; i < n; i++)
        m = fabs(ref[i]) > m ? fabs(ref[i]) : m;
    return LOWP_K * lowp_scale * u * m;
}

static void die(const cnn_err *e)
{
    fprintf(stderr, "%s: %s\n  at %s\n", path, e->msg, e->trace);
    exit(1);
}

static const fixture_rec *need(const char *name)
{
    const fixture_rec *r = fixture_find(&fx, name);
    if (!r) {
        fprintf(stderr, "%s: fixture has no record '%s'\n", path, name);
        exit(1);
    }
    return r;
}

/* A record into t; f32 values into an f16/bf16 tensor are rounded to it (--dtype). */
static void upload_checked(backend *be, tensor *t, const fixture_rec *r)
{
    char a[96], b[96];
    bool rounded = r->dt == DTYPE_F32 && t->dt != DTYPE_F32 && dtype_is_float(t->dt);
    if (!shape_eq(&t->s, &r->s) || (t->dt != r->dt && !rounded)) {
        fprintf(stderr, "%s: '%s' is %s %s in the fixture but %s %s here\n", path, r->name,
                dtype_name(r->dt), shape_str(&r->s, a, sizeof a), dtype_name(t->dt),
                shape_str(&t->s, b, sizeof b));
        exit(1);
    }
    if (rounded) {
        layer_upload_f32(be, t, r->data);
        return;
    }
    void *moved = malloc(tensor_bytes(t));
    CHECK(moved);
    layout_permute_host(moved, t->lay, r->data, LAYOUT_NCHW, &t->s, dtype_size(t->dt));
    backend_upload(be, t, moved);
    be->ops->sync(be);
    free(moved);
}

static int compare(backend *be, const tensor *t, const char *name, double rtol, double atol)
{
    const fixture_rec *r = need(name);
    char a[96], b[96];
    if (shape_numel(&r->s) != tensor_numel(t)) {
        fprintf(stderr, "%s: '%s' has shape %s here, %s in PyTorch\n", path, name,
                shape_str(&t->s, a, sizeof a), shape_str(&r->s, b, sizeof b));
        return 0;
    }
    int64_t n = tensor_numel(t);
    void *raw = malloc(tensor_bytes(t));
    float *h = malloc((size_t)n * sizeof *h), *stored = malloc((size_t)n * sizeof *h);
    CHECK(raw && h && stored);
    backend_download(be, t, raw);
    dtype_convert_host(DTYPE_F32, stored, t->dt, raw, n);
    layout_permute_host(h, LAYOUT_NCHW, stored, t->lay, &t->s, sizeof *h);
    free(stored);
    int ok = check_close(name, h, r->data, n, rtol, atol + lowp_atol(r->data, n));
    free(raw);
    free(h);
    return ok;
}

static void poison(backend *be, tensor *t)
{
    if (t->data && dtype_is_float(t->dt))
        be->ops->fill(be, t, NAN);
}

/* The dtype input i runs in: float inputs follow --dtype, except the target (input 1) of a
 * loss, which the layers take in f32 whatever the precision. */
static dtype input_dtype(int i, dtype fixture_dt)
{
    const char *type = ls[0]->ops->type;
    bool target = i > 0 && (!strcmp(type, "mse_loss") || !strcmp(type, "softmax_cross_entropy"));
    return fixture_dt == DTYPE_F32 && !target ? run_dt : fixture_dt;
}

static bool parse_dtype(const char *s)
{
    static const struct { const char *name; dtype dt; } names[] = {
        {"f32", DTYPE_F32}, {"f16", DTYPE_F16}, {"bf16", DTYPE_BF16}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name)) {
            run_dt = names[i].dt;
            return true;
        }
    return false;
}

static void build_layers(void)
{
    cnn_err e = {0};
    const fixture_rec *spec = need("spec");
    cfg_node *root;
    if (config_parse_string(spec->data, strlen(spec->data), "spec", &root, &e) < 0)
        die(&e);
    int n = root->kind == CFG_SEQ ? root->n : 1;
    CHECK(n <= MAX_LAYERS);
    for (int i = 0; i < n; i++) {
        char def[16];
        snprintf(def, sizeof def, "l%d", i);
        if (layer_create(root->kind == CFG_SEQ ? root->items[i] : root, def, &ls[i], &e) < 0)
            die(&e);
    }
    n_layers = n;
    cfg_free(root);
}

/* The loaded case (fx, ls) on be. */
static int check_case(backend *be, bool gradcheck)
{
    cnn_err e = {0};
    shape in_s[LAYER_MAX_INPUTS];
    dtype in_dt[LAYER_MAX_INPUTS];
    int n_in = 0;
    char name[160];
    for (; n_in < LAYER_MAX_INPUTS; n_in++) {
        snprintf(name, sizeof name, "in.%d", n_in);
        const fixture_rec *r = fixture_find(&fx, name);
        if (!r)
            break;
        in_s[n_in] = r->s;
        in_dt[n_in] = input_dtype(n_in, r->dt);
    }
    if (run_dt != DTYPE_F32 && (n_in == 0 || !dtype_is_float(in_dt[0]))) {
        printf("skipped: %s has no float input to run in %s (integer-only case)\n", path,
               dtype_name(run_dt));
        return 77;
    }
    bool has_4d = false;
    for (int i = 0; i < n_in; i++)
        has_4d |= in_s[i].nd == 4;
    if (run_lay == LAYOUT_NHWC && !has_4d) {
        printf("skipped: %s has no 4-D input to store channels-last\n", path);
        return 77;
    }
    double tol_scale = be->ops->dev == DEVICE_CUDA ? 10.0 : 1.0;
    ls[0]->lay = run_lay;
    layer_chain c;
    if (chain_setup(&c, ls, n_layers, be, in_s, in_dt, n_in, &e) < 0)
        die(&e);
    chain_init(&c, rng_key_from_seed(7));
    for (int i = 0; i < n_in; i++) {
        snprintf(name, sizeof name, "in.%d", i);
        upload_checked(be, &c.in[i], need(name));
    }
    /* Every parameter and buffer comes from the fixture: our own init is not under test. */
    for (int li = 0; li < n_layers; li++)
        for (int s = 0; s < ls[li]->n_slots; s++) {
            layer_slot *sl = &ls[li]->slots[s];
            if (sl->kind != SLOT_PARAM && sl->kind != SLOT_BUFFER)
                continue;
            snprintf(name, sizeof name, "%s.%s", ls[li]->name, sl->name);
            upload_checked(be, &sl->t, need(name));
        }
    const fixture_rec *tr = fixture_find(&fx, "training");
    const fixture_rec *kr = fixture_find(&fx, "key");
    exec x = {.be = be, .training = tr ? *(int32_t *)tr->data != 0 : true,
              .key = rng_key_from_seed(0)};
    if (kr) {
        x.key.k[0] = ((uint32_t *)kr->data)[0];
        x.key.k[1] = ((uint32_t *)kr->data)[1];
    }

    int ok = 1;
    if (gradcheck) {
        gradcheck_opts o = gradcheck_defaults();
        const fixture_rec *fr = fixture_find(&fx, "fd");
        if (fr) {
            const float *v = fr->data;
            o.step = v[0], o.rtol = v[1], o.atol = v[2];
        }
        gradcheck_result r;
        if (chain_gradcheck(&c, &x, &o, &r, &e) < 0)
            die(&e);
        printf("%s: gradcheck checked %d points, skipped %d (kinks), failed %d; max abs err "
               "%.3g (%s)\n", path, r.checked, r.skipped, r.failed, r.max_abs_err, r.worst);
        ok = r.failed == 0 && r.checked > 0 && r.skipped * 4 <= r.checked + r.skipped;
        if (r.skipped * 4 > r.checked + r.skipped)
            fprintf(stderr, "too many points skipped as kinks: nudge the inputs off them\n");
    } else {
        const fixture_rec *tol = need("tol");
        double rtol = tol_scale * ((float *)tol->data)[0];
        double atol = tol_scale * ((float *)tol->data)[1];
        const tensor *out = chain_out(&c);
        for (int i = 0; i < n_layers; i++)
            poison(be, &c.act[i]);
        chain_forward(&c, &x);
        ok &= compare(be, out, "out", rtol, atol);
        for (int li = 0; li < n_layers; li++)
            for (int s = 0; s < ls[li]->n_slots; s++) {
                layer_slot *sl = &ls[li]->slots[s];
                snprintf(name, sizeof name, "after.%s.%s", ls[li]->name, sl->name);
                if (sl->kind == SLOT_BUFFER && fixture_find(&fx, name))
                    ok &= compare(be, &sl->t, name, rtol, atol);
            }
        const fixture_rec *dout = fixture_find(&fx, "dout");
        if (dout) {
            for (int pass = 0; pass < 2; pass++) {
                /* Pass 0 overwrites NaN-poisoned gradients; pass 1 accumulates onto them. */
                x.param_grad_beta = (float)pass;
                upload_checked(be, &c.dact[n_layers - 1], dout);
                for (int i = 0; i < n_in; i++)
                    poison(be, &c.din[i]);
                for (int i = 0; i < n_layers - 1; i++)
                    poison(be, &c.dact[i]);
                for (int li = 0; li < n_layers && pass == 0; li++)
                    for (int s = 0; s < ls[li]->n_slots; s++)
                        poison(be, &ls[li]->slots[s].grad);
                chain_backward(&c, &x);
                if (pass == 1) {
                    for (int li = 0; li < n_layers; li++)
                        for (int s = 0; s < ls[li]->n_slots; s++)
                            if (ls[li]->slots[s].kind == SLOT_PARAM)
                                be->ops->axpby(be, 0.0f, &ls[li]->slots[s].grad, 0.5f,
                                               &ls[li]->slots[s].grad);
                    printf("  (accumulating pass: parameter gradients halved)\n");
                }
                for (int i = 0; i < n_in; i++) {
                    snprintf(name, sizeof name, "din.%d", i);
                    if (c.din[i].data)
                        ok &= compare(be, &c.din[i], name, rtol, atol);
                }
                for (int li = 0; li < n_layers; li++)
                    for (int s = 0; s < ls[li]->n_slots; s++) {
                        layer_slot *sl = &ls[li]->slots[s];
                        snprintf(name, sizeof name, "grad.%s.%s", ls[li]->name, sl->name);
                        if (sl->kind == SLOT_PARAM)
                            ok &= compare(be, &sl->grad, name, rtol, atol);
                    }
            }
        }
    }
    printf("%s: %s\n", path, ok ? "ok" : "FAILED");
    chain_free(&c);
    return ok ? 0 : 1;
}

/* One fixture file on be: 0 passed, 1 failed, 77 skipped. */
static int run_case(backend *be, bool gradcheck)
{
    cnn_err e = {0};
    if (fixture_load(path, &fx, &e) < 0)
        die(&e);
    build_layers();
    int rc = check_case(be, gradcheck);
    for (int i = 0; i < n_layers; i++)
        layer_destroy(ls[i]);
    fixture_free(&fx);
    return rc;
}

/* The backend of --device; NULL (after printing why) when cuda is asked for and no GPU is
 * visible. An incomplete CUDA backend on a GPU machine is a failure, not a skip. */
static backend *open_backend(const char *device, bool conv_via_nchw)
{
    cnn_err e = {0};
    backend *be = NULL;
    backend_opts o = {.name = device, .conv_via_nchw = conv_via_nchw};
    int brc = backend_create_opts(&o, &be, &e);
    if (brc == CNN_ENOTSUP && !strcmp(device, "cuda")) {
        backend *probe = NULL;
        cnn_err pe = {0};
        int cpu_only = backend_create("auto", 1, &probe, &pe) == CNN_OK &&
                       probe->ops->dev == DEVICE_CPU;
        backend_destroy(probe);
        if (cpu_only) {
            printf("skipped: %s\n", e.msg);
            return NULL;
        }
    }
    if (brc < 0)
        die(&e);
    return be;
}

int main(int argc, char **argv)
{
    bool gradcheck = false, conv_via_nchw = false;
    const char *device = "cpu";
    int i = 1;
    for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
        if (!strcmp(argv[i], "--gradcheck"))
            gradcheck = true;
        else if (!strcmp(argv[i], "--device") && i + 1 < argc)
            device = argv[++i];
        else if (!strcmp(argv[i], "--dtype") && i + 1 < argc && parse_dtype(argv[i + 1]))
            i++;
        else if (!strcmp(argv[i], "--layout") && i + 1 < argc &&
                 (!strcmp(argv[i + 1], "nhwc") || !strcmp(argv[i + 1], "nchw")))
            run_lay = !strcmp(argv[++i], "nhwc") ? LAYOUT_NHWC : LAYOUT_NCHW;
        else if (!strcmp(argv[i], "--conv-via-nchw"))
            conv_via_nchw = true;
        else
            break;
    }
    if (i >= argc || !strncmp(argv[i], "--", 2) || (gradcheck && run_dt != DTYPE_F32)) {
        fprintf(stderr, "usage: layer_fixture [--gradcheck] [--device cpu|cuda] "
                "[--dtype f32|f16|bf16] [--layout nchw|nhwc] [--conv-via-nchw] "
                "FIXTURE.bin [FIXTURE.bin ...] (--gradcheck runs in f32 only)\n");
        return 2;
    }
    backend *be = open_backend(device, conv_via_nchw);
    if (!be)
        return 77;
    if (be->ops->dev == DEVICE_CUDA)
        lowp_scale = 2.0; /* the GPU's accumulation order on top of the same roundings */
    int passed = 0, failed = 0, skipped = 0;
    for (; i < argc; i++) {
        path = argv[i];
        int rc = run_case(be, gradcheck);
        passed += rc == 0;
        failed += rc == 1;
        skipped += rc == 77;
    }
    backend_destroy(be);
    if (passed + failed + skipped > 1)
        printf("layer_fixture: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : passed ? 0 : 77;
}
