/* The optimizer against torch.optim (tests/fixtures/optim/optim.bin, written by
 * tools/fixtures/make_optim_fixtures.py): SGD with and without momentum, Nesterov, weight
 * decay exempting biases and norms (4 runs in the flat arena), clipping and a loss scale,
 * AdamW; the weights after each of 5 steps and the final state. Then: a step with
 * non-finite gradients changes nothing; the state survives ckpt_save/ckpt_load and
 * optim_loaded restores PyTorch's "momentum buffer is empty" semantics.
 * Tolerance: rtol 2e-6 + atol 1e-7. Both sides compute in float32 with the same operation
 * order but PyTorch's clip coefficient is formed in float32 (ours in double) and its
 * vectorised loops may round differently; 5 steps accumulate a few ulps.
 * Usage: test_optim [--device cpu|cuda] [FIXTURE]. */
#include "../../src/train/optim.h"
#include "test_checkpoint_util.h"
#include "test_optim_util.h"

#define RTOL 2e-6
#define ATOL 1e-7
#define STEPS 5

static const char *const OPT_MODEL =
    "model:\n"
    "  input: [2, 2, 2]\n"
    "  layers:\n"
    "    - {type: conv2d, name: c1, out: 3, kernel: 1}\n"
    "    - {type: batch_norm2d, name: bn}\n"
    "    - {type: flatten, name: flatten}\n"
    "    - {type: linear, name: fc, out: 2}\n";

typedef struct ocase {
    const fixture *f;
    const char *name;
    const char *cfg;
    run_config rc;
    float inv_scale;
    const float *lr; /* (STEPS) */
} ocase;

static ocase case_of(const fixture *f, const char *name)
{
    ocase c = {.f = f, .name = name};
    c.cfg = ou_rec(f, "opt.%s.config%s", name, "")->data;
    c.lr = ou_rec(f, "opt.%s.lr%s", name, "")->data;
    char buf[32];
    memset(&c.rc, 0, sizeof c.rc);
    c.rc.optim.name = !strcmp(ou_str(c.cfg, "optim", buf, sizeof buf), "adamw")
                          ? RUN_OPTIM_ADAMW
                          : RUN_OPTIM_SGD;
    c.rc.optim.momentum = ou_num(c.cfg, "momentum");
    c.rc.optim.nesterov = ou_num(c.cfg, "nesterov") != 0;
    c.rc.optim.weight_decay = ou_num(c.cfg, "wd");
    c.rc.optim.decay_norm_and_bias = ou_num(c.cfg, "decay_nb") != 0;
    c.rc.optim.betas.n = 2;
    c.rc.optim.betas.v[0] = ou_num(c.cfg, "beta1");
    c.rc.optim.betas.v[1] = ou_num(c.cfg, "beta2");
    c.rc.optim.eps = ou_num(c.cfg, "eps");
    c.rc.train.grad_clip = ou_num(c.cfg, "clip");
    c.inv_scale = (float)ou_num(c.cfg, "inv_scale");
    if (c.inv_scale != 1.0f) { /* fp16's loss scale, held still for the fixture's steps */
        c.rc.precision = RUN_FP16;
        c.rc.amp.init_scale = 1.0 / c.inv_scale;
        c.rc.amp.growth_factor = 2.0;
        c.rc.amp.backoff_factor = 0.5;
        c.rc.amp.growth_interval = 1000000;
    }
    return c;
}

static void upload_all(const ocase *c, net *n, const char *what, bool grads)
{
    for (int i = 0; i < n->n_params; i++) {
        const net_entry *en = &n->params[i];
        char nm[256];
        snprintf(nm, sizeof nm, "opt.%s.%s.%s", c->name, what, en->key);
        const fixture_rec *r = fixture_find(c->f, nm);
        if (!r) {
            fprintf(stderr, "fixture record '%s' missing\n", nm);
            exit(1);
        }
        tensor t = grads ? en->grad : en->value; /* a view of the entry's memory */
        CHECK_EQ(shape_numel(&r->s), tensor_numel(&t));
        backend_upload(n->be, &t, r->data);
    }
}

static int compare(const ocase *c, backend *be, const char *what, const char *key,
                   const tensor *t)
{
    char nm[256];
    snprintf(nm, sizeof nm, "opt.%s.%s.%s", c->name, what, key);
    const fixture_rec *r = fixture_find(c->f, nm);
    if (!r) {
        fprintf(stderr, "fixture record '%s' missing\n", nm);
        exit(1);
    }
    CHECK_EQ(shape_numel(&r->s), tensor_numel(t));
    float *h = ck_host(be, t);
    int ok = check_close(nm, h, r->data, tensor_numel(t), RTOL, ATOL);
    free(h);
    return ok;
}

static int compare_weights(const ocase *c, net *n, int t)
{
    char what[16];
    snprintf(what, sizeof what, "w%d", t);
    int ok = 1;
    for (int i = 0; i < n->n_params; i++)
        ok &= compare(c, n->be, what, n->params[i].key, &n->params[i].value);
    return ok;
}

static int compare_state(const ocase *c, optim *o, backend *be)
{
    int cnt, ok = 1;
    ckpt_tensor *st = optim_state(o, &cnt);
    int want = c->rc.optim.name == RUN_OPTIM_ADAMW ? 2 : c->rc.optim.momentum != 0 ? 1 : 0;
    bool fp16 = c->rc.precision == RUN_FP16;
    CHECK_EQ(cnt, want * 6 + fp16);
    for (int k = 0; k < want * 6; k++)
        ok &= compare(c, be, st[k].group, st[k].key, st[k].t);
    if (fp16) /* no step overflowed: the scale stayed */
        CHECK_NEAR(optim_loss_scale_value(o), 1.0 / c->inv_scale, 0);
    return ok;
}

/* The unscaled global norm of step t's gradients, in double from the fixture. */
static double fixture_norm(const ocase *c, const net *n, int t)
{
    double ss = 0;
    for (int i = 0; i < n->n_params; i++) {
        char nm[256];
        snprintf(nm, sizeof nm, "opt.%s.grad%d.%s", c->name, t, n->params[i].key);
        const fixture_rec *r = fixture_find(c->f, nm);
        CHECK(r);
        const float *g = r->data;
        for (int64_t j = 0; j < shape_numel(&r->s); j++)
            ss += (double)g[j] * g[j];
    }
    return sqrt(ss) * c->inv_scale;
}

static void grads_of_step(const ocase *c, net *n, int t)
{
    char what[16];
    snprintf(what, sizeof what, "grad%d", t);
    upload_all(c, n, what, true);
}

/* Steps [from, to) of case c on n with o. */
static int run_steps(const ocase *c, net *n, optim *o, int from, int to)
{
    int ok = 1;
    for (int t = from; t < to; t++) {
        grads_of_step(c, n, t);
        optim_step(o, c->lr[t], t + 1);
        ok &= compare_weights(c, n, t);
        double norm = fixture_norm(c, n, t);
        CHECK_NEAR(optim_last_grad_norm(o), norm, 1e-6 * norm);
    }
    return ok;
}

static optim *make_optim(const ocase *c, net *n)
{
    optim *o;
    cnn_err e = {0};
    if (optim_create(&c->rc, n, &o, &e) < 0) {
        fprintf(stderr, "optim_create: %s\n", e.msg);
        exit(1);
    }
    return o;
}

static int check_fixture_case(const fixture *f, backend *be, const char *name)
{
    printf("%s\n", name);
    ocase c = case_of(f, name);
    ck_net m = ck_build_yaml(OPT_MODEL, be);
    upload_all(&c, m.n, "init", false);
    optim *o = make_optim(&c, m.n);
    int ok = run_steps(&c, m.n, o, 0, STEPS);
    ok &= compare_state(&c, o, be);
    optim_destroy(o);
    ck_free(&m);
    return ok;
}

/* NaN or Inf anywhere in the gradients: weights and state stay bit-identical, the norm
 * reads NaN, and the next finite step proceeds as if the bad one never happened. */
static int check_skip(const fixture *f, backend *be, const char *name, float bad)
{
    ocase c = case_of(f, name);
    ck_net m = ck_build_yaml(OPT_MODEL, be);
    net *n = m.n;
    upload_all(&c, n, "init", false);
    optim *o = make_optim(&c, n);
    int ok = run_steps(&c, n, o, 0, 2);
    int cnt;
    ckpt_tensor *st = optim_state(o, &cnt);
    bool has_state = c.rc.optim.name == RUN_OPTIM_ADAMW || c.rc.optim.momentum != 0;
    float *w0 = ck_host(be, &n->params_flat), *s0 = has_state ? ck_host(be, st[0].t) : NULL;
    grads_of_step(&c, n, 2);
    float *g = ck_host(be, &n->params[3].grad);
    g[1] = bad;
    backend_upload(be, &n->params[3].grad, g);
    free(g);
    double scale = optim_loss_scale_value(o);
    optim_step(o, c.lr[2], 3);
    CHECK(isnan(optim_last_grad_norm(o)));
    if (c.rc.precision == RUN_FP16) {
        /* GradScaler's backoff; then the scale goes back to the fixture's for the rest,
         * written where a checkpoint load writes it (the state's last entry). */
        CHECK_NEAR(optim_loss_scale_value(o), scale / 2, 0);
        float back[2] = {(float)scale, 0.0f};
        backend_upload(be, st[cnt - 1].t, back);
    }
    float *w1 = ck_host(be, &n->params_flat);
    CHECK(!memcmp(w0, w1, tensor_bytes(&n->params_flat)));
    if (has_state) {
        float *s1 = ck_host(be, st[0].t);
        CHECK(!memcmp(s0, s1, tensor_bytes(st[0].t)));
        free(s1);
    }
    free(w0);
    free(w1);
    free(s0);
    ok &= run_steps(&c, n, o, 2, STEPS);
    optim_destroy(o);
    ck_free(&m);
    printf("skip %s on %g: %s\n", name, (double)bad, ok ? "ok" : "FAILED");
    return ok;
}

static void save(const char *path, net *n, optim *o)
{
    int cnt;
    ckpt_tensor *st = o ? optim_state(o, &cnt) : NULL;
    cnn_err e = {0};
    if (ckpt_save(path, n, NULL, st, o ? cnt : 0, NULL, &e) < 0) {
        fprintf(stderr, "ckpt_save: %s\n", e.msg);
        exit(1);
    }
}

static void load(const char *path, net *n, optim *o)
{
    int cnt;
    ckpt_tensor *st = optim_state(o, &cnt);
    cnn_err e = {0};
    if (ckpt_load(path, n, NULL, st, cnt, NULL, &e) < 0) {
        fprintf(stderr, "ckpt_load: %s\n", e.msg);
        exit(1);
    }
    optim_loaded(o);
}

/* Two steps, save, load into a fresh net and optimizer, three more steps: the fixture's
 * weights and final state (momentum continues, not restarts). */
static int check_resume(const fixture *f, backend *be, const char *name, const char *dir)
{
    ocase c = case_of(f, name);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.h5", dir, name);
    ck_net a = ck_build_yaml(OPT_MODEL, be), b = ck_build_yaml(OPT_MODEL, be);
    upload_all(&c, a.n, "init", false);
    optim *oa = make_optim(&c, a.n), *ob = make_optim(&c, b.n);
    int ok = run_steps(&c, a.n, oa, 0, 2);
    save(path, a.n, oa);
    load(path, b.n, ob);
    int cnt;
    ckpt_tensor *st = optim_state(ob, &cnt);
    for (int k = 0; k < cnt; k++)
        CHECK(st[k].found);
    ok &= run_steps(&c, b.n, ob, 2, STEPS);
    ok &= compare_state(&c, ob, be);
    optim_destroy(oa);
    optim_destroy(ob);
    ck_free(&a);
    ck_free(&b);
    printf("resume %s: %s\n", name, ok ? "ok" : "FAILED");
    return ok;
}

/* A checkpoint without momentum makes the next step a first step (PyTorch: no
 * momentum_buffer), even for an optimizer that had stepped: it must match a fresh one. */
static int check_loaded_empty(const fixture *f, backend *be, const char *dir)
{
    ocase c = case_of(f, "sgd_nesterov_exempt");
    char path[512];
    snprintf(path, sizeof path, "%s/weights_only.h5", dir);
    ck_net a = ck_build_yaml(OPT_MODEL, be), b = ck_build_yaml(OPT_MODEL, be);
    upload_all(&c, a.n, "init", false);
    save(path, a.n, NULL);
    upload_all(&c, b.n, "init", false);
    optim *oa = make_optim(&c, a.n), *ob = make_optim(&c, b.n);
    run_steps(&c, b.n, ob, 0, 2); /* b's momentum is now far from zero */
    load(path, b.n, ob);
    int cnt;
    ckpt_tensor *st = optim_state(ob, &cnt);
    for (int k = 0; k < cnt; k++)
        CHECK(!st[k].found);
    for (int t = 0; t < 2; t++) {
        grads_of_step(&c, a.n, t);
        grads_of_step(&c, b.n, t);
        optim_step(oa, c.lr[t], t + 1);
        optim_step(ob, c.lr[t], t + 1);
    }
    int ok = ck_same(be, &a.n->params_flat, &b.n->params_flat);
    for (int k = 0; k < cnt; k++)
        ok &= ck_same(be, optim_state(oa, &cnt)[k].t, st[k].t);
    optim_destroy(oa);
    optim_destroy(ob);
    ck_free(&a);
    ck_free(&b);
    printf("loaded without momentum = fresh: %s\n", ok ? "ok" : "FAILED");
    return ok;
}

/* AdamW loaded from a file without its state: m and v restart from zero (PyTorch: no
 * entry in optimizer.state), whatever the optimizer held before. */
static int check_loaded_zero(const fixture *f, backend *be, const char *dir)
{
    ocase c = case_of(f, "adamw_exempt");
    char path[512];
    snprintf(path, sizeof path, "%s/weights_only_adamw.h5", dir);
    ck_net a = ck_build_yaml(OPT_MODEL, be);
    upload_all(&c, a.n, "init", false);
    save(path, a.n, NULL);
    optim *o = make_optim(&c, a.n);
    run_steps(&c, a.n, o, 0, 2);
    load(path, a.n, o);
    int cnt, ok = 1;
    ckpt_tensor *st = optim_state(o, &cnt);
    CHECK_EQ(cnt, 12);
    for (int k = 0; k < cnt; k++) {
        float *h = ck_host(be, st[k].t);
        for (int64_t j = 0; j < tensor_numel(st[k].t); j++)
            ok &= h[j] == 0.0f;
        free(h);
    }
    optim_destroy(o);
    ck_free(&a);
    printf("adamw loaded without state = zero state: %s\n", ok ? "ok" : "FAILED");
    return ok;
}

int main(int argc, char **argv)
{
    /* --device cuda runs the same cases on the GPU (exit 77 when there is none). */
    const char *dev = "cpu";
    if (argc > 2 && !strcmp(argv[1], "--device")) {
        dev = argv[2];
        argc -= 2;
        argv += 2;
    }
    backend *be;
    cnn_err e = {0};
    if (backend_create(dev, 2, &be, &e) < 0) {
        printf("skipped: %s\n", e.msg);
        return strcmp(dev, "cpu") ? 77 : 1;
    }
    fixture f;
    ou_load(argc, argv, &f);
    static const char *const cases[] = {"sgd_nesterov_exempt", "sgd_momentum_decay_all",
                                        "sgd_clip_scaled",     "sgd_plain",
                                        "adamw_exempt",        "adamw_clip_scaled"};
    int ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= check_fixture_case(&f, be, cases[i]);
    ok &= check_skip(&f, be, "sgd_clip_scaled", NAN);
    ok &= check_skip(&f, be, "adamw_exempt", INFINITY);
    ok &= check_skip(&f, be, "sgd_plain", -INFINITY);
    char *dir = ck_tmpdir();
    ok &= check_resume(&f, be, "sgd_nesterov_exempt", dir);
    ok &= check_resume(&f, be, "adamw_clip_scaled", dir);
    ok &= check_loaded_empty(&f, be, dir);
    ok &= check_loaded_zero(&f, be, dir);
    ck_rmdir(dir);
    backend_destroy(be);
    fixture_free(&f);
    if (!ok)
        return 1;
    printf("optim: ok\n");
    return 0;
}
