/* Instance normalisation per (n, c) plane over (H, W), as PyTorch's InstanceNorm2d with its
 * defaults: statistics always come from the instance (track_running_stats=False), in training
 * and in eval alike. Keys: eps (1e-5), affine (false, PyTorch's default): a per-channel
 * weight and bias, whose gradients sum the per-(n, c) backward sums over n (bias_grad on an
 * (N, C) view). */
#include "layers.h"

typedef struct in_state {
    float eps;
    bool affine;
} in_state;

static int in_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const keys[] = {"eps", "affine", NULL};
    CNN_TRY(e, cfg_check_keys(n, keys, layer_common_keys, e));
    double eps;
    bool affine;
    CNN_TRY(e, cfg_float(n, "eps", false, 1e-5, &eps, e));
    CNN_TRY(e, cfg_bool(n, "affine", false, false, &affine, e));
    if (!(eps > 0.0))
        return LAYER_ERR(l, e, "eps=%g must be > 0", eps);
    in_state *st = cnn_xcalloc(1, sizeof *st);
    *st = (in_state){(float)eps, affine};
    l->state = st;
    return CNN_OK;
}

static int in_infer(layer *l, cnn_err *e)
{
    in_state *st = l->state;
    const shape *s = &l->in[0];
    char b[96];
    CNN_TRY(e, layer_expect_nchw(l, e));
    if (s->d[2] * s->d[3] < 2)
        return LAYER_ERR(l, e, "input %s has 1 spatial element per plane; instance statistics "
                         "need H*W > 1", shape_str(s, b, sizeof b));
    shape c = SHAPE(s->d[1]), nc2 = SHAPE(2, s->d[0], s->d[1]);
    if (st->affine) {
        layer_declare(l, "weight", SLOT_PARAM, DTYPE_F32, c)->no_decay = true;
        layer_declare(l, "bias", SLOT_PARAM, DTYPE_F32, c)->no_decay = true;
    }
    layer_declare(l, "stats", SLOT_SAVED, DTYPE_F32, nc2);     /* [mean; var] */
    layer_declare(l, "grad_sums", SLOT_SAVED, DTYPE_F32, nc2); /* [sum dy; sum dy*xhat] */
    l->out = *s;
    return CNN_OK;
}

static void in_init(layer *l, backend *be, rng_key key)
{
    (void)key;
    if (((in_state *)l->state)->affine) {
        be->ops->fill(be, layer_slot_t(l, "weight"), 1.0);
        be->ops->fill(be, layer_slot_t(l, "bias"), 0.0);
    }
}

/* Row i, an (N, C) tensor, of a (2, N, C) slot. */
static tensor in_row(const tensor *t, int i)
{
    shape s = SHAPE(t->s.d[1], t->s.d[2]);
    return tensor_view((float *)t->data + i * shape_numel(&s), s, t->dt, t->dev);
}

static const tensor *in_param(layer *l, const char *name)
{
    return ((in_state *)l->state)->affine ? layer_slot_t(l, name) : NULL;
}

static void in_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    in_state *st = l->state;
    tensor *stats = layer_slot_t(l, "stats");
    tensor mean = in_row(stats, 0), var = in_row(stats, 1);
    x->be->ops->norm_stats(x->be, NORM_INSTANCE, in[0], &mean, &var);
    x->be->ops->norm_apply(x->be, NORM_INSTANCE, in[0], &mean, &var, st->eps,
                           in_param(l, "weight"), in_param(l, "bias"), out);
}

static void in_backward(layer *l, const tensor *const *in, const tensor *out,
                        const tensor *dout, tensor *const *din, exec *x)
{
    (void)out;
    in_state *st = l->state;
    const backend_ops *ops = x->be->ops;
    if (!din[0] && !st->affine)
        return;
    tensor *stats = layer_slot_t(l, "stats"), *sums = layer_slot_t(l, "grad_sums");
    tensor mean = in_row(stats, 0), var = in_row(stats, 1);
    tensor sdy = in_row(sums, 0), sdyx = in_row(sums, 1);
    ops->norm_bwd_reduce(x->be, NORM_INSTANCE, dout, in[0], &mean, &var, st->eps, &sdy, &sdyx);
    if (st->affine) {
        ops->bias_grad(x->be, &sdyx, &layer_slot_find(l, "weight")->grad, x->param_grad_beta);
        ops->bias_grad(x->be, &sdy, &layer_slot_find(l, "bias")->grad, x->param_grad_beta);
    }
    if (din[0]) {
        double n = (double)(in[0]->s.d[2] * in[0]->s.d[3]);
        ops->norm_bwd_data(x->be, NORM_INSTANCE, dout, in[0], &mean, &var, st->eps,
                           in_param(l, "weight"), &sdy, &sdyx, n, true, din[0]);
    }
}

const layer_ops layer_instance_norm2d = {.type = "instance_norm2d", .min_in = 1, .max_in = 1,
                                         .parse = in_parse, .infer = in_infer,
                                         .init = in_init, .forward = in_forward,
                                         .backward = in_backward};
