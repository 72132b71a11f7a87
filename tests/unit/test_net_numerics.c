/* Forward and backward over a graph, against independent truths:
 * - central finite differences of the loss itself w.r.t. sampled elements of every
 *   parameter, on a graph with fan-outs (a producer read by two layers, an add reading the
 *   same node twice), concat, max_pool2d + max_unpool2d by reference, batch norm, linear,
 *   for both losses;
 * - a sequential config through net against the same layers through chain (layers/chain.h):
 *   bit-identical outputs and parameter gradients;
 * - gradient accumulation (param_grad_beta = 1 gives exactly twice the gradients);
 * - the gradient hook: ranges visited in increasing order, tiling the whole gradient arena,
 *   and final when reported. */
#include "../../src/config/config.h"
#include "../../src/layers/chain.h"
#include "../../src/net/net.h"
#include "../check.h"

static backend *be;

static net *make(const char *yaml, int batch, cfg_node **root)
{
    cnn_err e = {0};
    net *n = NULL;
    CHECK_EQ(config_parse_string(yaml, strlen(yaml), "m.yaml", root, &e), CNN_OK);
    if (net_create(cfg_get(*root, "model"), batch, &n, &e) < 0 || net_alloc(n, be, &e) < 0) {
        fprintf(stderr, "net setup failed: %s\n", e.msg);
        exit(1);
    }
    return n;
}

static void fill_random(tensor *t, rng_key k, float lo, float hi)
{
    size_t cnt = (size_t)tensor_numel(t);
    float *h = cnn_xmalloc(cnt * sizeof *h);
    rng_fill_uniform(k, 0, h, cnt, lo, hi);
    backend_upload(be, t, h);
    free(h);
}

static void fill_labels(net *n, int classes)
{
    size_t cnt = (size_t)tensor_numel(&n->target);
    int32_t *h = cnn_xmalloc(cnt * sizeof *h);
    for (size_t i = 0; i < cnt; i++)
        h[i] = (int32_t)((i * 7 + 3) % (size_t)classes);
    backend_upload(be, &n->target, h);
    free(h);
}

static double loss_of(net *n, exec *x)
{
    float v;
    net_forward(n, x, true);
    backend_download(be, net_loss_value(n), &v);
    return v;
}

static float *download(const tensor *t)
{
    float *h = cnn_xmalloc((size_t)tensor_numel(t) * sizeof *h);
    backend_download(be, t, h);
    return h;
}

static void set_elem(tensor *t, int64_t j, float v)
{
    be->ops->copy(be, (float *)t->data + j, t->dev, &v, DEVICE_CPU, sizeof v);
}

/* Loss in float, differences in double. Step 1e-3: the float rounding of a loss near 1
 * (about 1e-7) costs about 1e-4 of slope; a larger step lets batch norm move many ReLU
 * inputs across 0 at once, which showed as 2% errors at 1e-2 (1e-4 at 1e-3). Points where
 * the two one-sided slopes disagree straddle a kink (ReLU at 0, a max-pool switch) and are
 * skipped, as in Caffe's GradientChecker. */
static void finite_differences(const char *yaml, const char *what)
{
    cfg_node *root;
    net *n = make(yaml, 3, &root);
    exec x = {.be = be, .training = true, .key = rng_key_from_seed(5)};
    net_init(n, rng_key_from_seed(1));
    fill_random(&n->input, rng_key_from_seed(2), -1.0f, 1.0f);
    if (n->target_dt == DTYPE_I32)
        fill_labels(n, (int)n->nodes[n->output].l->out.d[1]);
    else
        fill_random(&n->target, rng_key_from_seed(3), -1.0f, 1.0f);
    double l0 = loss_of(n, &x);
    net_backward(n, &x, NULL, NULL);
    int checked = 0, skipped = 0, failed = 0, points = 0;
    double worst = 0;
    char worst_at[160] = "";
    for (int p = 0; p < n->n_params; p++) {
        tensor *v = &n->params[p].slot->t;
        float *val = download(v), *ana = download(&n->params[p].slot->grad);
        int64_t cnt = tensor_numel(v);
        for (int k = 0; k < 6 && k < cnt; k++, points++) {
            int64_t j = cnt <= 6 ? k : (int64_t)(rng_uniform(rng_key_from_seed(9), (uint64_t)(p * 6 + k)) * (float)cnt) % cnt;
            const double h = 1e-3;
            set_elem(v, j, (float)(val[j] + h));
            double lp = loss_of(n, &x);
            set_elem(v, j, (float)(val[j] - h));
            double lm = loss_of(n, &x);
            set_elem(v, j, val[j]);
            double num = (lp - lm) / (2 * h), a = (lp - l0) / h, b = (l0 - lm) / h;
            if (fabs(a - b) > 0.25 * (fabs(a) + fabs(b)) + 1e-2) {
                skipped++;
                continue;
            }
            double err = fabs(num - ana[j]);
            if (err > worst) {
                worst = err;
                snprintf(worst_at, sizeof worst_at, "%s[%lld]: %.6g vs %.6g", n->params[p].key,
                         (long long)j, ana[j], num);
            }
            checked++;
            if (err > 3e-4 + 1e-2 * fabs(ana[j])) { /* atol 3e-4, rtol 1e-2 */
                fprintf(stderr, "  %s %s[%lld]: backward %.6g, numeric %.6g\n", what,
                        n->params[p].key, (long long)j, ana[j], num);
                failed++;
            }
        }
        free(val);
        free(ana);
    }
    printf("  %s: %d params, %d points checked, %d skipped (kinks), max abs err %.3g (%s)\n",
           what, n->n_params, checked, skipped, worst, worst_at);
    CHECK_EQ(failed, 0);
    CHECK_EQ(checked + skipped, points);
    CHECK(skipped * 10 <= points);
    net_destroy(n);
    cfg_free(root);
}

#define GRAPH(LOSS, OUT)                                                                   \
    "model:\n"                                                                             \
    "  input: [2, 6, 6]\n"                                                                 \
    "  loss: " LOSS "\n"                                                                   \
    "  layers:\n"                                                                          \
    "    - {type: conv2d, name: c1, out: 3, kernel: 3, pad: 1}\n"                          \
    "    - {type: batch_norm2d, name: bn}\n"                                               \
    "    - {type: relu, name: r}\n"                                                        \
    "    - {type: max_pool2d, name: pool, kernel: 2}\n"                                    \
    "    - {type: conv2d, name: c2, out: 3, kernel: 3, pad: 1}\n"                          \
    "    - {type: add, name: twice, inputs: [c2, c2]}\n"                                   \
    "    - {type: max_unpool2d, name: unpool, indices: pool}\n"                            \
    "    - {type: concat, name: cat, inputs: [unpool, r]}\n"                               \
    "    - {type: conv2d, name: c3, out: 3, kernel: 1}\n"                                  \
    "    - {type: add, name: res, inputs: [c3, bn]}\n"                                     \
    "    - {type: flatten, name: flat}\n"                                                  \
    "    - {type: linear, name: fc, out: " OUT "}\n"

/* Sequential: the same layers built by net and by chain give the same bits. */
static const char *const seq_yaml =
    "model:\n"
    "  input: [3, 8, 8]\n"
    "  layers:\n"
    "    - {type: conv2d, out: 4, kernel: 3, pad: 1}\n"
    "    - batch_norm2d\n"
    "    - relu\n"
    "    - {type: max_pool2d, kernel: 2}\n"
    "    - flatten\n"
    "    - {type: linear, out: 5}\n";

/* The output's gradient while it is live (its memory is reused later in backward). */
static void keep_dout(void *ctx, const net *n, int node)
{
    if (node == n->output)
        backend_download(be, &n->nodes[node].dout, ctx);
}

static void against_chain(void)
{
    cfg_node *root;
    net *n = make(seq_yaml, 4, &root);
    exec x = {.be = be, .training = true, .key = rng_key_from_seed(5)};
    rng_key init = rng_key_from_seed(11);
    net_init(n, init);
    fill_random(&n->input, rng_key_from_seed(2), -1.0f, 1.0f);
    fill_labels(n, 5);
    net_forward(n, &x, true);
    float *dout = cnn_xmalloc(tensor_bytes(net_output(n)));
    net_backward(n, &x, keep_dout, dout);

    const cfg_node *items = cfg_get(cfg_get(root, "model"), "layers");
    int nl = items->n;
    layer *ls[8];
    cnn_err e = {0};
    for (int i = 0; i < nl; i++) {
        char name[8];
        snprintf(name, sizeof name, "%d", i); /* the net's names for unnamed top items */
        cfg_node *m = items->items[i];
        cfg_node *tmp = NULL;
        if (m->kind == CFG_SCALAR) {
            tmp = cfg_new(CFG_MAP, m->mark, NULL);
            CHECK_EQ(cfg_map_put(tmp, "type", m->mark, cfg_new(CFG_SCALAR, m->mark, m->str), &e),
                     CNN_OK);
        }
        CHECK_EQ(layer_create(tmp ? tmp : m, name, &ls[i], &e), CNN_OK);
        cfg_free(tmp);
    }
    layer_chain c;
    CHECK_EQ(chain_setup(&c, ls, nl, be, &n->in_shape, &n->in_dt, 1, &e), CNN_OK);
    chain_init(&c, init);
    be->ops->copy(be, c.in[0].data, c.in[0].dev, n->input.data, n->input.dev,
                  tensor_bytes(&n->input));
    chain_forward(&c, &x);
    const tensor *out = net_output(n);
    /* The chain starts from the gradient the loss gave the net's output. */
    backend_upload(be, &c.dact[nl - 1], dout);
    free(dout);
    chain_backward(&c, &x);
    float *a = download(out), *b = download(chain_out(&c));
    CHECK(memcmp(a, b, tensor_bytes(out)) == 0);
    free(a);
    free(b);
    int compared = 0;
    for (int i = 0; i < nl; i++)
        for (int s = 0; s < ls[i]->n_slots; s++) {
            if (ls[i]->slots[s].kind != SLOT_PARAM)
                continue;
            char key[NET_KEY_MAX];
            snprintf(key, sizeof key, "%d.%s", i, ls[i]->slots[s].name);
            const net_entry *t = net_entry_find(n, key);
            CHECK(t != NULL);
            float *g1 = download(&t->slot->grad), *g2 = download(&ls[i]->slots[s].grad);
            float *v1 = download(&t->slot->t), *v2 = download(&ls[i]->slots[s].t);
            size_t bytes = tensor_bytes(&t->slot->grad);
            CHECK(memcmp(v1, v2, bytes) == 0);
            if (memcmp(g1, g2, bytes)) {
                fprintf(stderr, "gradient of %s differs between net and chain\n", key);
                exit(1);
            }
            free(g1);
            free(g2);
            free(v1);
            free(v2);
            compared++;
        }
    CHECK_EQ(compared, n->n_params);
    printf("  net vs chain: output and %d parameter gradients bit-identical\n", compared);
    chain_free(&c);
    for (int i = 0; i < nl; i++)
        layer_destroy(ls[i]);
    net_destroy(n);
    cfg_free(root);
}

typedef struct hook_log {
    int calls;
    size_t lo[64], hi[64];
    float *snap; /* grads as each node reported them ready */
} hook_log;

static void hook(void *ctx, const net *n, int node)
{
    hook_log *h = ctx;
    CHECK(h->calls < 64);
    h->lo[h->calls] = n->nodes[node].param_lo;
    h->hi[h->calls] = n->nodes[node].param_hi;
    h->calls++;
    size_t bytes = n->nodes[node].param_hi - n->nodes[node].param_lo;
    be->ops->copy(be, (char *)h->snap + n->nodes[node].param_lo, DEVICE_CPU,
                  (const char *)n->grads_flat.data + n->nodes[node].param_lo, n->grads_flat.dev,
                  bytes);
}

static void accumulation_and_hook(void)
{
    cfg_node *root;
    net *n = make(GRAPH("softmax_cross_entropy", "4"), 2, &root);
    exec x = {.be = be, .training = true, .key = rng_key_from_seed(5)};
    net_init(n, rng_key_from_seed(1));
    fill_random(&n->input, rng_key_from_seed(2), -1.0f, 1.0f);
    fill_labels(n, 4);
    net_forward(n, &x, true);
    hook_log h = {.snap = cnn_xcalloc(n->mem.grads, 1)};
    net_backward(n, &x, hook, &h);
    float *g1 = download(&n->grads_flat);
    CHECK_EQ(tensor_numel(&n->grads_flat) * 4, (long long)n->mem.grads);
    /* Increasing, contiguous, covering [0, grads); each range already final when reported. */
    CHECK(h.calls > 0);
    CHECK_EQ(h.lo[0], 0);
    for (int i = 1; i < h.calls; i++)
        CHECK_EQ(h.lo[i], h.hi[i - 1]);
    CHECK_EQ(h.hi[h.calls - 1], n->mem.grads);
    CHECK(memcmp(h.snap, g1, n->mem.grads) == 0);
    printf("  hook: %d nodes with parameters, ranges tile %zu bytes in increasing order\n",
           h.calls, n->mem.grads);

    x.param_grad_beta = 1.0f;
    net_backward(n, &x, NULL, NULL);
    float *g2 = download(&n->grads_flat);
    int64_t cnt = tensor_numel(&n->grads_flat), nonzero = 0;
    for (int64_t i = 0; i < cnt; i++) {
        if (g2[i] != 2.0f * g1[i]) {
            fprintf(stderr, "accumulated gradient [%lld]: %.9g, want 2 * %.9g\n", (long long)i,
                    g2[i], g1[i]);
            exit(1);
        }
        nonzero += g1[i] != 0;
    }
    CHECK(nonzero > cnt / 2);
    free(g1);
    free(g2);
    free(h.snap);
    net_destroy(n);
    cfg_free(root);
}

int main(void)
{
    cnn_err e = {0};
    CHECK_EQ(backend_create("cpu", 1, &be, &e), CNN_OK);
    finite_differences(GRAPH("softmax_cross_entropy", "4"), "cross-entropy graph");
    finite_differences(GRAPH("mse_loss", "5"), "mse graph");
    against_chain();
    accumulation_and_hook();
    backend_destroy(be);
    printf("net numerics: ok\n");
    return 0;
}
