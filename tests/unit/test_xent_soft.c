/* Soft-target cross-entropy and argmax_channel on the CPU backend against PyTorch
 * (tests/fixtures/xent_soft/xent_soft.bin from tools/fixtures/make_xent_soft_fixtures.py:
 * F.cross_entropy with class probabilities, its gradient, torch.argmax), then the
 * softmax_cross_entropy layer in soft mode: its loss through a chain, central finite
 * differences of its logits gradient, the loss bitwise equal for 1 and 4 threads, and its
 * shape errors. Outputs are poisoned with NaN first, so an unwritten element fails. */
#include <math.h>

#include "../../src/config/config.h"
#include "../../src/layers/chain.h"
#include "../check.h"
#include "../support/fixture.h"
#include "../support/layer_util.h"

static fixture fx;

static const fixture_rec *need(const char *c, const char *what)
{
    char name[128];
    snprintf(name, sizeof name, "%s.%s", c, what);
    const fixture_rec *r = fixture_find(&fx, name);
    if (!r) {
        fprintf(stderr, "fixture lacks '%s': rerun /usr/bin/python3 "
                "tools/fixtures/make_xent_soft_fixtures.py\n", name);
        exit(1);
    }
    return r;
}

static tensor view(const fixture_rec *r) { return tensor_view(r->data, r->s, r->dt, DEVICE_CPU); }

/* Loss to 1e-5 relative: both sides accumulate a few ulp of float32 log-softmax terms.
 * Gradients dloss/count * (sum(t) p - t): p carries ~1 ulp, and where p ~ t the difference
 * cancels, so 1e-4 relative with an absolute floor of 1e-7 (the gradients are ~1e-2..1e-6). */
static void check_case(backend *be, const char *c)
{
    const fixture_rec *xr = need(c, "logits");
    tensor x = view(xr), t = view(need(c, "target")), dl = view(need(c, "dloss"));
    int64_t n = tensor_numel(&x);
    float *prob = cnn_xmalloc((size_t)n * sizeof *prob);
    float *dx = cnn_xmalloc((size_t)n * sizeof *dx), loss = NAN;
    tensor p = tensor_view(prob, x.s, DTYPE_F32, DEVICE_CPU);
    tensor d = tensor_view(dx, x.s, DTYPE_F32, DEVICE_CPU);
    tensor l = tensor_view(&loss, SHAPE(1), DTYPE_F32, DEVICE_CPU);
    be->ops->fill(be, &p, NAN);
    be->ops->fill(be, &d, NAN);
    be->ops->xent_soft_fwd(be, &x, &t, &p, &l);
    be->ops->xent_soft_bwd(be, &p, &t, &dl, &d);
    printf("%s (%lld x %lld):\n", c, (long long)x.s.d[0], (long long)x.s.d[1]);
    float want = *(const float *)need(c, "loss")->data;
    CHECK(check_close("loss", &loss, &want, 1, 1e-5, 0.0));
    CHECK(check_close("prob", prob, need(c, "prob")->data, n, 1e-5, 1e-8));
    CHECK(check_close("dlogits", dx, need(c, "dlogits")->data, n, 1e-4, 1e-7));
    free(prob);
    free(dx);
}

static void check_argmax(backend *be, const char *c)
{
    tensor x = view(need(c, "x"));
    const fixture_rec *want = need(c, "idx");
    int32_t got[256];
    CHECK(shape_numel(&want->s) <= 256);
    tensor idx = tensor_view(got, want->s, DTYPE_I32, DEVICE_CPU);
    be->ops->fill(be, &idx, -7);
    be->ops->argmax_channel(be, &x, &idx);
    for (int64_t i = 0; i < shape_numel(&want->s); i++)
        CHECK_EQ(got[i], ((const int32_t *)want->data)[i]);
    printf("%s: %lld indices equal torch.argmax (ties: first)\n", c,
           (long long)shape_numel(&want->s));
}

/* NaN never wins over a number (CUDA does the same; gpu_xent_soft_vs_cpu compares). */
static void check_argmax_nan(backend *be)
{
    float x[2 * 3] = {NAN, 1.0f, 2.0f, -1.0f, NAN, -3.0f};
    int32_t got[2] = {-7, -7};
    tensor tx = tensor_view(x, SHAPE(2, 3), DTYPE_F32, DEVICE_CPU);
    tensor ti = tensor_view(got, SHAPE(2), DTYPE_I32, DEVICE_CPU);
    be->ops->argmax_channel(be, &tx, &ti);
    CHECK_EQ(got[0], 2);
    CHECK_EQ(got[1], 0);
}

/* The layer through a chain, inputs from the fixture's padded case. */
static layer_chain *chain_of(backend *be, const char *c, layer **l)
{
    static layer_chain ch;
    cnn_err e = {0};
    cfg_node *root;
    const char *y = "{type: softmax_cross_entropy, label_smoothing: 0.2}";
    CHECK_EQ(config_parse_string(y, strlen(y), "t.yaml", &root, &e), CNN_OK);
    CHECK_EQ(layer_create(root, "loss", l, &e), CNN_OK);
    cfg_free(root);
    const fixture_rec *xr = need(c, "logits"), *tr = need(c, "target");
    shape in[2] = {xr->s, tr->s};
    dtype dt[2] = {DTYPE_F32, DTYPE_F32};
    if (chain_setup(&ch, l, 1, be, in, dt, 2, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    backend_upload(be, &ch.in[0], xr->data);
    backend_upload(be, &ch.in[1], tr->data);
    backend_free_tensor(be, &ch.din[1]); /* targets take no gradient */
    return &ch;
}

/* label_smoothing is not applied in soft mode (mix_batch folds it into the targets). */
static void check_layer(backend *be)
{
    layer *l;
    layer_chain *c = chain_of(be, "padded", &l);
    exec x = {.be = be, .training = true, .key = rng_key_from_seed(1)};
    chain_forward(c, &x);
    float loss;
    backend_download(be, chain_out(c), &loss);
    float want = *(const float *)need("padded", "loss")->data;
    CHECK(check_close("layer loss (smoothing off)", &loss, &want, 1, 1e-5, 0.0));
    /* Logits ~N(0, 4) and smooth targets: the loss has no kinks. With h = 0.1 the central
     * difference's truncation error is h^2/6 * |d3 loss| < 2e-4 / count, float32 rounding
     * of the loss over 2h ~5e-7 (cases_loss.py's LOSS_FD). */
    gradcheck_opts o = gradcheck_defaults();
    o.step = 1e-1, o.rtol = 1e-2, o.atol = 2e-6, o.max_points = 54;
    gradcheck_result r;
    cnn_err e = {0};
    CHECK_EQ(chain_gradcheck(c, &x, &o, &r, &e), CNN_OK);
    printf("gradcheck: %d points, %d skipped, %d failed, max abs err %.3g (%s)\n", r.checked,
           r.skipped, r.failed, r.max_abs_err, r.worst);
    CHECK_EQ(r.failed, 0);
    /* Points whose one-sided differences disagree by the curvature are skipped as kinks
     * (a few at h = 0.1); layer_fixture's bar: at most a quarter. */
    CHECK(r.checked + r.skipped == 54 && r.skipped * 4 <= 54);
    chain_free(c);
    layer_destroy(l);
}

/* 300 x 200 > the parallel threshold: fixed partial blocks make the sum order fixed. */
static void check_threads(void)
{
    enum { N = 300, C = 200 };
    float *x = cnn_xmalloc(N * C * sizeof *x), *t = cnn_xmalloc(N * C * sizeof *t);
    float *p = cnn_xmalloc(N * C * sizeof *p), loss[2];
    rng_fill_normal(rng_key_from_seed(5), 0, x, N * C, 0.0f, 3.0f);
    rng_fill_uniform(rng_key_from_seed(6), 0, t, N * C, 0.0f, 0.01f);
    for (int k = 0; k < 2; k++) {
        backend *be;
        cnn_err e = {0};
        CHECK_EQ(backend_create("cpu", k ? 4 : 1, &be, &e), CNN_OK);
        tensor tx = tensor_view(x, SHAPE(N, C), DTYPE_F32, DEVICE_CPU);
        tensor tt = tensor_view(t, SHAPE(N, C), DTYPE_F32, DEVICE_CPU);
        tensor tp = tensor_view(p, SHAPE(N, C), DTYPE_F32, DEVICE_CPU);
        tensor tl = tensor_view(&loss[k], SHAPE(1), DTYPE_F32, DEVICE_CPU);
        be->ops->xent_soft_fwd(be, &tx, &tt, &tp, &tl);
        backend_destroy(be);
    }
    CHECK(memcmp(&loss[0], &loss[1], sizeof loss[0]) == 0);
    printf("threads: loss %.9g bitwise equal for 1 and 4 threads\n", loss[0]);
    free(x);
    free(t);
    free(p);
}

static void check_errors(void)
{
    dtype f2[2] = {DTYPE_F32, DTYPE_F32};
    shape a[2] = {SHAPE(2, 3, 4, 4), SHAPE(2, 3, 4, 4)};
    EXPECT_ERROR("{type: softmax_cross_entropy}", a, f2, 2, "soft (f32) targets need (N, C) "
                 "logits", "(2, 3, 4, 4)", "per-pixel");
    shape b[2] = {SHAPE(4, 10), SHAPE(4, 9)};
    EXPECT_ERROR("{type: softmax_cross_entropy}", b, f2, 2, "must be i32 labels (4)",
                 "f32 soft targets of the logits' shape (4, 10)", "got f32 (4, 9)");
    dtype u8[2] = {DTYPE_F32, DTYPE_U8};
    shape c[2] = {SHAPE(4, 10), SHAPE(4)};
    EXPECT_ERROR("{type: softmax_cross_entropy}", c, u8, 2, "i32 class indices",
                 "f32 (N, C) soft targets", "got u8");
}

int main(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", __FILE__);
    char *s = strstr(path, "tests/unit/");
    CHECK(s != NULL);
    snprintf(s, sizeof path - (size_t)(s - path), "tests/fixtures/xent_soft/xent_soft.bin");
    cnn_err e = {0};
    if (fixture_load(path, &fx, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    backend *be;
    CHECK_EQ(backend_create("cpu", 2, &be, &e), CNN_OK);
    const char *cases[] = {"dense", "padded", "mixup_smooth", "huge_logits", "unnormalised",
                           "wide", "batch_rows"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_case(be, cases[i]);
    check_argmax(be, "argmax_2d");
    check_argmax(be, "argmax_4d");
    check_argmax_nan(be);
    check_layer(be);
    check_threads();
    check_errors();
    backend_destroy(be);
    fixture_free(&fx);
    printf("xent_soft: ok\n");
    return 0;
}
