/* The model zoo (configs/<model>.yaml) against independent truth; one program, several
 * ctest cases:
 *   zoo_check ref NAME ROOT     the config's `model:` builds (net_create at batch 1, nothing
 *       allocated) into exactly the state_dict of tests/fixtures/zoo/NAME.txt (every key and
 *       shape; tools/fixtures/zoo_reference.py writes it from torchvision or a PyTorch
 *       mirror), with its parameter count, multiply-adds (net_stats) and output shape, and
 *       torchvision's published parameter counts and GFLOPS where they exist;
 *   zoo_check train NAME ROOT BATCH   one forward+backward on the cpu backend: finite loss,
 *       every parameter gradient written, finite and not all zero;
 *   zoo_check args ROOT         `--set model.args.act=relu` reaches `type: $act`, and
 *       `--set model.args.num_classes=10` the classifier;
 *   zoo_check infer NAME ROOT BATCH [H W]   the forward-only net equals the training net's
 *       eval output bit for bit without gradient memory; at H x W for a dense model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/config/config.h"
#include "../../src/net/net.h"
#include "../check.h"

/* torchvision 0.14's weight metadata (num_params) and its documentation's GFLOPS column
 * (printed with two decimals; one multiply-add counted as one FLOP). */
static const struct {
    const char *name;
    int64_t params;
    double gflops;
} published[] = {
    {"alexnet", 61100840, 0.71},    {"vgg11", 132863336, 7.61},
    {"vgg11_bn", 132868840, 7.61},  {"vgg16", 138357544, 15.47},
    {"vgg16_bn", 138365992, 15.47}, {"vgg19", 143667240, 19.63},
    {"vgg19_bn", 143678248, 19.63}, {"resnet18", 11689512, 1.81},
    {"resnet34", 21797672, 3.66},   {"resnet50", 25557032, 4.09},
    {"resnet101", 44549160, 7.80},
};

#define REF_MAX 2048

typedef struct ref_entry {
    char key[NET_KEY_MAX];
    shape s;
} ref_entry;

typedef struct ref {
    shape input, output;
    int64_t params, macs;
    ref_entry *e;
    int n;
} ref;

static shape parse_dims(char *rest)
{
    int64_t d[CNN_MAX_DIMS];
    int nd = 0;
    for (char *t = strtok(rest, " \n"); t; t = strtok(NULL, " \n")) {
        CHECK(nd < CNN_MAX_DIMS);
        d[nd++] = strtoll(t, NULL, 10);
    }
    return shape_make(nd, d);
}

static void ref_load(const char *path, ref *r)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: cannot open (regenerate: /usr/bin/python3 "
                "tools/fixtures/zoo_reference.py)\n", path);
        exit(1);
    }
    memset(r, 0, sizeof *r);
    r->e = cnn_xcalloc(REF_MAX, sizeof *r->e);
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *sp = strchr(line, ' ');
        CHECK(sp);
        *sp = 0;
        if (!strcmp(line, "input"))
            r->input = parse_dims(sp + 1);
        else if (!strcmp(line, "output"))
            r->output = parse_dims(sp + 1);
        else if (!strcmp(line, "params"))
            r->params = strtoll(sp + 1, NULL, 10);
        else if (!strcmp(line, "macs"))
            r->macs = strtoll(sp + 1, NULL, 10);
        else {
            CHECK(r->n < REF_MAX && strlen(line) < NET_KEY_MAX);
            snprintf(r->e[r->n].key, NET_KEY_MAX, "%s", line);
            r->e[r->n++].s = parse_dims(sp + 1);
        }
    }
    fclose(f);
    CHECK(r->n > 0 && r->params > 0 && r->input.nd == 3 && r->output.nd >= 2);
}

/* Loads ROOT/configs/NAME.yaml as cnn-dist does (every key of the run config checked against
 * the schema), with `--set` overrides; rc->model is the `model:` map. */
static void load_config(const char *root_dir, const char *name, const char *const *sets,
                        int n_sets, run_config *rc)
{
    char path[1024];
    cnn_err e = {0};
    snprintf(path, sizeof path, "%s/configs/%s.yaml", root_dir, name);
    if (run_config_load(path, sets, n_sets, RUN_FOR_INSPECTION, rc, &e) < 0) {
        fprintf(stderr, "%s\n  at %s\n", e.msg, e.trace);
        exit(1);
    }
    CHECK(rc->model && rc->model->kind == CFG_MAP);
}

static net *build(const cfg_node *model, int batch)
{
    net *n = NULL;
    cnn_err e = {0};
    if (net_create(model, batch, &n, &e) < 0) {
        fprintf(stderr, "net_create: %s\n  at %s\n", e.msg, e.trace);
        exit(1);
    }
    return n;
}

/* The model output's shape, known from net_create on (net_output's tensor is bound later). */
static const shape *out_shape(const net *n)
{
    return &n->nodes[n->output].l->out;
}

static const net_entry *find_entry(const net *n, const char *key)
{
    const net_entry *ne = net_entry_find(n, key);
    if (!ne)
        return NULL;
    CHECK(!strcmp(ne->key, key));
    return ne;
}

/* Every reference key exists with its shape, and the net has no key the reference lacks.
 * Reports every difference before failing, so one run shows the whole picture. */
static int compare_keys(const net *n, const ref *r)
{
    int bad = 0;
    char a[96], b[96];
    for (int i = 0; i < r->n; i++) {
        const net_entry *ne = find_entry(n, r->e[i].key);
        if (!ne)
            fprintf(stderr, "  missing: %s %s\n", r->e[i].key, shape_str(&r->e[i].s, a, 96));
        else if (!shape_eq(&ne->slot->t.s, &r->e[i].s))
            fprintf(stderr, "  shape of %s: ours %s, PyTorch %s\n", r->e[i].key,
                    shape_str(&ne->slot->t.s, a, 96), shape_str(&r->e[i].s, b, 96));
        bad += !ne || !shape_eq(&ne->slot->t.s, &r->e[i].s);
    }
    const net_entry *lists[2] = {n->params, n->buffers};
    int counts[2] = {n->n_params, n->n_buffers};
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < counts[l]; i++) {
            int found = 0;
            for (int j = 0; j < r->n && !found; j++)
                found = !strcmp(lists[l][i].key, r->e[j].key);
            if (!found) {
                fprintf(stderr, "  extra: %s %s\n", lists[l][i].key,
                        shape_str(&lists[l][i].slot->t.s, a, 96));
                bad++;
            }
        }
    bad += n->n_params + n->n_buffers != r->n; /* a key the net holds twice */
    if (bad)
        fprintf(stderr, "  %d key differences (ours: %d params + %d buffers, reference: %d)\n",
                bad, n->n_params, n->n_buffers, r->n);
    return bad;
}

static int64_t sum_params(const net *n)
{
    int64_t s = 0;
    for (int i = 0; i < n->n_params; i++)
        s += shape_numel(&n->params[i].slot->t.s);
    return s;
}

/* Dense predictions come at the input's resolution, a denoiser's in the input's shape. The
 * target (MODELS.md): labels (N) or (N, H, W) i32 for softmax_cross_entropy, the output's
 * shape in f32 for mse_loss. */
static void check_target(const net *n, const cfg_node *model)
{
    const char *loss = "softmax_cross_entropy";
    const cfg_node *spec = cfg_get(model, "loss");
    cnn_err e = {0};
    if (spec)
        CHECK(cfg_str(spec, "type", true, NULL, &loss, &e) == CNN_OK);
    const shape *o = out_shape(n);
    if (o->nd == 4)
        CHECK(o->d[2] == n->in_shape.d[2] && o->d[3] == n->in_shape.d[3]);
    shape want = *o;
    if (strcmp(loss, "mse_loss") != 0) {
        CHECK_EQ(n->target_dt, DTYPE_I32);
        want = o->nd == 2 ? SHAPE(o->d[0]) : SHAPE(o->d[0], o->d[2], o->d[3]);
    } else {
        CHECK_EQ(n->target_dt, DTYPE_F32);
        CHECK(shape_eq(o, &n->in_shape));
    }
    CHECK(shape_eq(&n->target_shape, &want));
}

static int check_ref(const char *name, const char *root_dir)
{
    char path[1024], a[96], b[96];
    ref r;
    snprintf(path, sizeof path, "%s/tests/fixtures/zoo/%s.txt", root_dir, name);
    ref_load(path, &r);
    run_config rc;
    load_config(root_dir, name, NULL, 0, &rc);
    net *n = build(rc.model, 1);

    CHECK_EQ(compare_keys(n, &r), 0);
    CHECK_EQ(sum_params(n), r.params);
    net_node_stats *st = cnn_xcalloc((size_t)n->n_nodes, sizeof *st);
    net_totals t;
    net_stats(n, st, &t);
    CHECK_EQ(t.params, r.params);
    CHECK_EQ(t.macs, r.macs);

    shape in1 = shape_make(4, (int64_t[]){1, r.input.d[0], r.input.d[1], r.input.d[2]});
    if (!shape_eq(&n->in_shape, &in1) || !shape_eq(out_shape(n), &r.output)) {
        fprintf(stderr, "input %s output %s, PyTorch: output %s\n",
                shape_str(&n->in_shape, a, 96), shape_str(out_shape(n), b, 96),
                shape_str(&r.output, path, 96));
        exit(1);
    }
    check_target(n, rc.model);
    for (size_t i = 0; i < sizeof published / sizeof *published; i++)
        if (!strcmp(published[i].name, name)) {
            CHECK_EQ(t.params, published[i].params);
            CHECK_NEAR((double)t.macs / 1e9, published[i].gflops, 0.005);
        }
    printf("%s: %d keys, %lld params, %lld MACs (%.2f G), output %s: as PyTorch\n", name, r.n,
           (long long)t.params, (long long)t.macs, (double)t.macs / 1e9,
           shape_str(&r.output, a, 96));
    free(st);
    net_destroy(n);
    run_config_free(&rc);
    free(r.e);
    return 0;
}

/* Fills the input with U(-1, 1) and the target with labels in [0, K) or U(-1, 1) values. */
static void fill_batch(net *n, backend *be, rng_key key)
{
    int64_t nx = shape_numel(&n->in_shape), nt = shape_numel(&n->target_shape);
    float *x = cnn_xmalloc((size_t)(nx > nt ? nx : nt) * sizeof *x);
    rng_fill_uniform(rng_fold(key, 1), 0, x, (size_t)nx, -1, 1);
    backend_upload(be, &n->input, x);
    rng_fill_uniform(rng_fold(key, 2), 0, x, (size_t)nt, -1, 1);
    if (n->target_dt == DTYPE_I32) {
        int32_t *y = (int32_t *)x;
        int64_t k = out_shape(n)->d[1];
        for (int64_t i = 0; i < nt; i++)
            y[i] = (int32_t)((x[i] + 1) / 2 * (float)k) % (int32_t)k;
    }
    backend_upload(be, &n->target, x);
    free(x);
}

/* Every parameter gradient was written (they start as NaN), is finite and not all zero. */
static void check_grads(net *n, backend *be)
{
    int bad = 0;
    for (int i = 0; i < n->n_params; i++) {
        const tensor *g = &n->params[i].slot->grad;
        int64_t m = tensor_numel(g), nonfinite = 0, nonzero = 0;
        float *h = cnn_xmalloc((size_t)m * sizeof *h);
        backend_download(be, g, h);
        for (int64_t j = 0; j < m; j++) {
            nonfinite += !isfinite(h[j]);
            nonzero += h[j] != 0;
        }
        if (nonfinite || !nonzero) {
            fprintf(stderr, "  grad of %s: %lld of %lld not finite, %lld non-zero\n",
                    n->params[i].key, (long long)nonfinite, (long long)m, (long long)nonzero);
            bad++;
        }
        free(h);
    }
    CHECK_EQ(bad, 0);
}

static int check_train(const char *name, const char *root_dir, int batch)
{
    run_config rc;
    load_config(root_dir, name, NULL, 0, &rc);
    net *n = build(rc.model, batch);
    backend *be;
    cnn_err e = {0};
    CHECK(backend_create("cpu", 2, &be, &e) == CNN_OK);
    if (net_alloc(n, be, &e) < 0) {
        fprintf(stderr, "net_alloc: %s\n", e.msg);
        exit(1);
    }
    rng_key key = rng_key_from_seed(7);
    net_init(n, key);
    fill_batch(n, be, key);
    be->ops->fill(be, &n->grads_flat, NAN);
    exec x = {.be = be, .training = true, .key = key, .param_grad_beta = 0,
              .reduce_ranks = 1};
    net_forward(n, &x, true);
    net_backward(n, &x, NULL, NULL);
    float loss;
    backend_download(be, net_loss_value(n), &loss);
    printf("%s: batch %d, loss %.6g, %d parameter tensors\n", name, batch, loss, n->n_params);
    CHECK(isfinite(loss) && loss > 0);
    if (n->target_dt == DTYPE_I32) {
        /* Freshly initialised classifiers give near-uniform scores: loss near ln K. */
        double lnk = log((double)out_shape(n)->d[1]);
        CHECK_NEAR(loss, lnk, 1.0);
    }
    check_grads(n, be);
    net_destroy(n);
    backend_destroy(be);
    run_config_free(&rc);
    return 0;
}

static net *build_alloc(const cfg_node *model, int batch, const net_opts *o, backend *be)
{
    net *n = NULL;
    cnn_err e = {0};
    if (net_create_opts(model, batch, o, &n, &e) < 0 || net_alloc(n, be, &e) < 0) {
        fprintf(stderr, "net setup: %s\n", e.msg);
        exit(1);
    }
    net_init(n, rng_key_from_seed(7));
    return n;
}

static float *forward_output(net *n, backend *be, const float *x)
{
    exec ex = {.be = be, .training = false, .key = rng_key_from_seed(7), .reduce_ranks = 1};
    backend_upload(be, &n->input, x);
    net_forward(n, &ex, false);
    const tensor *out = net_output(n);
    float *h = cnn_xmalloc((size_t)tensor_numel(out) * sizeof *h);
    backend_download(be, out, h);
    return h;
}

/* No two activations of a forward-only net that are live at the same forward step share
 * bytes (intervals recomputed from the wiring: from the node to its last consumer; the
 * output and the loss to the end). */
static void check_act_liveness(const net *n)
{
    int N = n->n_nodes, *to = cnn_xcalloc((size_t)N, sizeof *to);
    for (int i = 0; i < N; i++) {
        to[i] = i == n->output || i == n->loss ? N : i;
        for (int c = i + 1; c < N; c++)
            for (int j = 0; j < n->nodes[c].n_in; j++)
                to[i] = n->nodes[c].in[j] == i && c > to[i] ? c : to[i];
    }
    for (int a = 0; a < N; a++)
        for (int b = a + 1; b < N; b++) {
            const char *pa = n->nodes[a].out.data, *pb = n->nodes[b].out.data;
            bool in_time = b <= to[a];
            bool in_space = pa < pb + tensor_bytes(&n->nodes[b].out) &&
                            pb < pa + tensor_bytes(&n->nodes[a].out);
            if (in_time && in_space) {
                fprintf(stderr, "activations '%s' and '%s' overlap while both live\n",
                        n->nodes[a].l->name, n->nodes[b].l->name);
                exit(1);
            }
        }
    free(to);
}

/* The forward-only net (predict, eval) gives the training net's eval output bit for bit,
 * with no gradient memory and less activation memory; and a fully convolutional model
 * built at another input size (h, w) gives an output of that size. */
static int check_infer(const char *name, const char *root_dir, int batch, int h, int w)
{
    run_config rc;
    load_config(root_dir, name, NULL, 0, &rc);
    backend *be;
    cnn_err e = {0};
    CHECK(backend_create("cpu", 2, &be, &e) == CNN_OK);
    net_opts train = {0}, infer = {.inference = true};
    net *a = build_alloc(rc.model, batch, &train, be), *b = build_alloc(rc.model, batch, &infer, be);
    int64_t nx = shape_numel(&a->in_shape);
    float *x = cnn_xmalloc((size_t)nx * sizeof *x);
    rng_fill_uniform(rng_key_from_seed(3), 0, x, (size_t)nx, -1, 1);
    float *ya = forward_output(a, be, x), *yb = forward_output(b, be, x);
    int64_t ny = tensor_numel(net_output(a));
    CHECK(memcmp(ya, yb, (size_t)ny * sizeof *ya) == 0);
    CHECK(b->mem.grads == 0 && b->mem.act_grads == 0 && b->mem.scratch == 0);
    CHECK(b->grads_flat.data == NULL && b->mem.activations < a->mem.activations);
    check_act_liveness(b);
    printf("%s: forward-only output equal bit for bit; memory %.1f MiB instead of %.1f "
           "(activations %.1f instead of %.1f)\n", name, (double)b->mem.total / 1048576.0,
           (double)a->mem.total / 1048576.0, (double)b->mem.activations / 1048576.0,
           (double)a->mem.activations / 1048576.0);
    if (h > 0) {
        net_opts sized = {.inference = true, .input_h = h, .input_w = w};
        net *c = build_alloc(rc.model, 1, &sized, be);
        const shape *o = out_shape(c);
        CHECK(o->nd == 4 && o->d[2] == h && o->d[3] == w);
        net_destroy(c);
    }
    free(x);
    free(ya);
    free(yb);
    net_destroy(a);
    net_destroy(b);
    backend_destroy(be);
    run_config_free(&rc);
    return 0;
}

static void expect_act(const cfg_node *model, const char *type)
{
    net *n = build(model, 2);
    static const char *const acts[] = {"act1", "act2", "act3", "act4"};
    for (int i = 0; i < 4; i++) {
        int k = net_find(n, acts[i]);
        CHECK(k >= 0);
        CHECK_STR_CONTAINS(n->nodes[k].l->ops->type, type);
        CHECK_EQ(strlen(n->nodes[k].l->ops->type), strlen(type));
    }
    CHECK_EQ(sum_params(n), 61706);
    net_destroy(n);
}

static int check_args(const char *root_dir)
{
    run_config rc;
    load_config(root_dir, "lenet5", NULL, 0, &rc);
    expect_act(rc.model, "tanh");
    run_config_free(&rc);
    const char *relu[] = {"model.args.act=relu"};
    load_config(root_dir, "lenet5", relu, 1, &rc);
    expect_act(rc.model, "relu");
    run_config_free(&rc);

    const char *ten[] = {"model.args.num_classes=10"};
    load_config(root_dir, "resnet18", ten, 1, &rc);
    net *n = build(rc.model, 1);
    const net_entry *fc = find_entry(n, "fc.weight");
    shape want = SHAPE(10, 512);
    CHECK(fc && shape_eq(&fc->slot->t.s, &want));
    CHECK_EQ(out_shape(n)->d[1], 10);
    net_destroy(n);
    run_config_free(&rc);
    printf("lenet5: act tanh -> relu switches all four activations; resnet18: 10 classes\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "ref"))
        return check_ref(argv[2], argv[3]);
    if (argc == 5 && !strcmp(argv[1], "train"))
        return check_train(argv[2], argv[3], atoi(argv[4]));
    if (argc == 3 && !strcmp(argv[1], "args"))
        return check_args(argv[2]);
    if ((argc == 5 || argc == 7) && !strcmp(argv[1], "infer"))
        return check_infer(argv[2], argv[3], atoi(argv[4]), argc == 7 ? atoi(argv[5]) : 0,
                           argc == 7 ? atoi(argv[6]) : 0);
    fprintf(stderr, "usage: zoo_check ref NAME ROOT | train NAME ROOT BATCH | args ROOT | "
                    "infer NAME ROOT BATCH [H W]\n");
    return 2;
}
