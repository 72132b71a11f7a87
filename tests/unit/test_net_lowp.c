/* Mixed precision in the net (CPU backend's f16/bf16 emulation): the same model built in f32
 * and in bf16/f16 from the same masters. Checked: the working weights are the masters
 * rounded (nearest even); activations and the loss stay close to f32 (a bound derived from
 * the format's unit roundoff); master gradients are f32 and close to the f32 net's; a second
 * accumulated backward doubles them exactly (the sum happens in f32); a power-of-two loss
 * scale multiplies bf16 gradients exactly; the gaps between parameters stay zero; the
 * memory plan counts the working copies. */
#include <math.h>

#include "../../src/config/config.h"
#include "../../src/net/net.h"
#include "../check.h"

#define MODEL                                                                            \
    "model:\n  input: [2, 8, 8]\n  loss: {type: softmax_cross_entropy}\n  layers:\n"     \
    "    - {type: conv2d, name: c1, out: 6, kernel: 3, pad: 1}\n"                    \
    "    - {type: batch_norm2d, name: bn}\n    - {type: relu}\n"                         \
    "    - {type: max_pool2d, kernel: 2}\n    - {type: conv2d, name: c2, out: 5, kernel: 3}\n" \
    "    - {type: relu}\n    - {type: flatten}\n    - {type: linear, name: fc, out: 3}\n"

#define BATCH 4

static backend *be;

static net *make(dtype precision)
{
    cnn_err e = {0};
    cfg_node *root;
    CHECK_EQ(config_parse_string(MODEL, strlen(MODEL), "m.yaml", &root, &e), CNN_OK);
    net_opts o = {.precision = precision};
    net *n = NULL;
    if (net_create_opts(cfg_get(root, "model"), BATCH, &o, &n, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    cfg_free(root);
    CHECK_EQ(net_alloc(n, be, &e), CNN_OK);
    net_init(n, rng_key_from_seed(11));
    float in[BATCH * 2 * 8 * 8];
    rng_fill_uniform(rng_key_from_seed(5), 0, in, sizeof in / sizeof in[0], -1.0f, 1.0f);
    int32_t labels[BATCH] = {0, 2, 1, 2};
    backend_upload(be, &n->input, in);
    backend_upload(be, &n->target, labels);
    return n;
}

static float *host(const tensor *t)
{
    float *h = cnn_xmalloc((size_t)tensor_numel(t) * sizeof *h);
    if (t->dt == DTYPE_F32) {
        backend_download(be, t, h);
    } else {
        void *raw = cnn_xmalloc(tensor_bytes(t));
        backend_download(be, t, raw);
        dtype_convert_host(DTYPE_F32, h, t->dt, raw, tensor_numel(t));
        free(raw);
    }
    return h;
}

static float loss_of(net *n, exec *x)
{
    float v;
    net_forward(n, x, true);
    backend_download(be, net_loss_value(n), &v);
    return v;
}

/* The largest |a - b| over the largest |b|. */
static double rel_err(const float *a, const float *b, int64_t cnt)
{
    double d = 0, m = 0;
    for (int64_t i = 0; i < cnt; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return m > 0 ? d / m : d;
}

static void check_precision(dtype dt)
{
    /* u: the format's unit roundoff. Every stage of this small net rounds its outputs once
     * and its reductions are short (<= 54 terms): 4u bounds the loss and 20u the gradients
     * relative to their largest (seen: loss 0.05u, gradients 10u in bf16 and 1.5u in f16;
     * gradients of a near-zero sum lose the most). */
    double u = dt == DTYPE_BF16 ? 1.0 / 256 : 1.0 / 2048;
    net *ref = make(DTYPE_F32), *n = make(dt);
    CHECK_EQ(n->precision, dt);
    CHECK(n->mem.working > 0 && ref->mem.working == 0);
    CHECK_EQ(n->mem.params, ref->mem.params);
    exec x = {.be = be, .training = true, .key = rng_key_from_seed(2)};

    float l32 = loss_of(ref, &x), l16 = loss_of(n, &x);
    printf("%s: loss %.6f vs f32 %.6f (rel %.2e, bound %.2e)\n", dtype_name(dt), l16, l32,
           fabs(l16 - l32) / l32, 4 * u);
    CHECK(fabs(l16 - l32) <= 4 * u * l32);

    /* Working weights: each master rounded once. */
    const net_entry *w = net_entry_find(n, "c2.weight");
    CHECK(w && w->slot->t.dt == dt && w->value.dt == DTYPE_F32 && w->grad.dt == DTYPE_F32);
    float *master = host(&w->value), *work = host(&w->slot->t);
    for (int64_t i = 0; i < tensor_numel(&w->value); i++) {
        uint16_t b;
        float r;
        dtype_convert_host(dt, &b, DTYPE_F32, &master[i], 1);
        dtype_convert_host(DTYPE_F32, &r, dt, &b, 1);
        CHECK(work[i] == r);
    }
    free(master);
    free(work);
    CHECK(net_entry_find(n, "bn.weight")->slot->t.dt == DTYPE_F32);

    /* Master gradients against the f32 net's. */
    x.param_grad_beta = 0;
    net_backward(ref, &x, NULL, NULL);
    net_backward(n, &x, NULL, NULL);
    float *g32 = host(&ref->grads_flat), *g16 = host(&n->grads_flat);
    int64_t cnt = tensor_numel(&n->grads_flat);
    double err = rel_err(g16, g32, cnt);
    printf("%s: master gradients rel err %.2e (bound %.2e)\n", dtype_name(dt), err, 20 * u);
    CHECK(err <= 20 * u);
    for (int i = 0; i < n->n_params; i++) { /* the gaps between parameters */
        int64_t lo = ((char *)n->params[i].grad.data - (char *)n->grads_flat.data) / 4;
        int64_t hi = lo + tensor_numel(&n->params[i].grad);
        int64_t next = cnt;
        for (int j = 0; j < n->n_params; j++) {
            int64_t o = ((char *)n->params[j].grad.data - (char *)n->grads_flat.data) / 4;
            if (o >= hi && o < next)
                next = o;
        }
        for (int64_t k = hi; k < next; k++)
            CHECK(g16[k] == 0.0f);
    }

    /* Accumulation happens in f32: the same micro-batch twice gives exactly twice. */
    x.param_grad_beta = 1;
    loss_of(n, &x);
    net_backward(n, &x, NULL, NULL);
    float *g2 = host(&n->grads_flat);
    for (int64_t i = 0; i < cnt; i++)
        CHECK(g2[i] == 2 * g16[i]);
    free(g2);

    /* A loss scale of 2^10 multiplies every gradient by exactly 2^10 in bf16 (its exponent
     * range is f32's); fp16's small gradients gain precision from it instead. */
    tensor scale = tensor_view(NULL, SHAPE(1), DTYPE_F32, be->ops->dev);
    cnn_err e = {0};
    CHECK_EQ(backend_alloc_tensor(be, &scale, &e), CNN_OK);
    be->ops->fill(be, &scale, 1024.0);
    x.param_grad_beta = 0;
    x.loss_scale = &scale;
    loss_of(n, &x);
    net_backward(n, &x, NULL, NULL);
    float *gs = host(&n->grads_flat);
    if (dt == DTYPE_BF16) {
        for (int64_t i = 0; i < cnt; i++)
            CHECK(gs[i] == 1024 * g16[i]);
    } else {
        for (int64_t i = 0; i < cnt; i++)
            gs[i] /= 1024;
        err = rel_err(gs, g32, cnt);
        printf("f16: scaled master gradients rel err %.2e\n", err);
        CHECK(err <= 20 * u);
    }
    backend_free_tensor(be, &scale);
    free(gs);
    free(g16);
    free(g32);
    net_destroy(ref);
    net_destroy(n);
}

int main(void)
{
    cnn_err e = {0};
    CHECK_EQ(backend_create("cpu", 1, &be, &e), CNN_OK);
    check_precision(DTYPE_BF16);
    check_precision(DTYPE_F16);
    backend_destroy(be);
    return 0;
}
