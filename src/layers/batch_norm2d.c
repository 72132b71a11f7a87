/* Batch normalisation per channel over (N, H, W), as PyTorch's BatchNorm2d; (N, C) input is
 * BatchNorm1d. Keys: momentum (0.1), eps (1e-5), affine (true). Training normalises with the
 * batch statistics and updates running_mean/var as PyTorch (momentum, unbiased variance);
 * eval uses the running statistics. Synchronized BN (exec.reduce_sum set): the moments are
 * summed across ranks shifted by running_mean (identical on every rank), then so are the
 * backward sums; parameter gradients stay local, so comm averages them like any other
 * parameter (as PyTorch's SyncBatchNorm). PyTorch's num_batches_tracked buffer is left out on
 * purpose (it only matters for momentum=None, which we do not offer): checkpoints synthesise it. */
#include "layers.h"

typedef struct bn_state {
    float momentum, eps;
    bool affine;
} bn_state;

static int bn_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const keys[] = {"momentum", "eps", "affine", NULL};
    CNN_TRY(e, cfg_check_keys(n, keys, layer_common_keys, e));
    double momentum, eps;
    bool affine;
    CNN_TRY(e, cfg_float(n, "momentum", false, 0.1, &momentum, e));
    CNN_TRY(e, cfg_float(n, "eps", false, 1e-5, &eps, e));
    CNN_TRY(e, cfg_bool(n, "affine", false, true, &affine, e));
    if (!(momentum >= 0.0 && momentum <= 1.0))
        return LAYER_ERR(l, e, "momentum=%g must be in [0, 1]", momentum);
    if (!(eps > 0.0))
        return LAYER_ERR(l, e, "eps=%g must be > 0", eps);
    bn_state *st = cnn_xcalloc(1, sizeof *st);
    *st = (bn_state){(float)momentum, (float)eps, affine};
    l->state = st;
    return CNN_OK;
}

/* Elements behind each channel's statistic on this rank. */
static int64_t bn_count(const layer *l) { return l->in[0].d[0] * shape_inner(&l->in[0], 2); }

static int bn_infer(layer *l, cnn_err *e)
{
    bn_state *st = l->state;
    const shape *s = &l->in[0];
    char b[96];
    CNN_TRY(e, layer_expect_input(l, 0, LAYER_RANK(2) | LAYER_RANK(4),
                                  "(N, C) or (N, C, H, W)", e));
    if (bn_count(l) < 2)
        return LAYER_ERR(l, e, "input %s has 1 value per channel; batch statistics (the "
                         "unbiased variance) need more than 1: use a batch size > 1",
                         shape_str(s, b, sizeof b));
    shape c = SHAPE(s->d[1]), c2 = SHAPE(2, s->d[1]);
    if (st->affine) {
        layer_declare(l, "weight", SLOT_PARAM, DTYPE_F32, c)->no_decay = true;
        layer_declare(l, "bias", SLOT_PARAM, DTYPE_F32, c)->no_decay = true;
    }
    layer_declare(l, "running_mean", SLOT_BUFFER, DTYPE_F32, c);
    layer_declare(l, "running_var", SLOT_BUFFER, DTYPE_F32, c);
    /* Batch [mean; var], and backward [sum dy; sum dy*xhat]: one tensor each so synchronized
     * BN needs one collective per direction. */
    layer_declare(l, "stats", SLOT_SAVED, DTYPE_F32, c2);
    layer_declare(l, "grad_sums", SLOT_SAVED, DTYPE_F32, c2);
    l->out = *s;
    return CNN_OK;
}

static void bn_init(layer *l, backend *be, rng_key key)
{
    (void)key;
    bn_state *st = l->state;
    if (st->affine) {
        be->ops->fill(be, layer_slot_t(l, "weight"), 1.0);
        be->ops->fill(be, layer_slot_t(l, "bias"), 0.0);
    }
    be->ops->fill(be, layer_slot_t(l, "running_mean"), 0.0);
    be->ops->fill(be, layer_slot_t(l, "running_var"), 1.0);
}

/* Row i of a (2, C) slot. */
static tensor bn_row(const tensor *t, int i)
{
    int64_t c = t->s.d[1];
    return tensor_view((float *)t->data + i * c, SHAPE(c), t->dt, t->dev);
}

static const tensor *bn_param(layer *l, const char *name)
{
    return ((bn_state *)l->state)->affine ? layer_slot_t(l, name) : NULL;
}

static void bn_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    bn_state *st = l->state;
    const backend_ops *ops = x->be->ops;
    tensor *rm = layer_slot_t(l, "running_mean"), *rv = layer_slot_t(l, "running_var");
    const tensor *gamma = bn_param(l, "weight"), *beta = bn_param(l, "bias");
    if (!x->training) {
        ops->norm_apply(x->be, NORM_BATCH, in[0], rm, rv, st->eps, gamma, beta, out);
        return;
    }
    tensor *stats = layer_slot_t(l, "stats");
    tensor mean = bn_row(stats, 0), var = bn_row(stats, 1);
    ops->norm_stats(x->be, NORM_BATCH, in[0], &mean, &var);
    double n = (double)bn_count(l);
    if (x->reduce_sum) {
        CNN_ASSERT(x->reduce_ranks >= 1);
        ops->norm_stats_sums(x->be, true, rm, n, stats);
        x->reduce_sum(x->reduce_ctx, stats);
        n *= x->reduce_ranks;
        ops->norm_stats_sums(x->be, false, rm, n, stats);
    }
    float m = st->momentum;
    ops->axpby(x->be, m, &mean, 1.0f - m, rm);
    ops->axpby(x->be, (float)(m * n / (n - 1.0)), &var, 1.0f - m, rv);
    ops->norm_apply(x->be, NORM_BATCH, in[0], &mean, &var, st->eps, gamma, beta, out);
}

static void bn_backward(layer *l, const tensor *const *in, const tensor *out,
                        const tensor *dout, tensor *const *din, exec *x)
{
    (void)out;
    bn_state *st = l->state;
    const backend_ops *ops = x->be->ops;
    if (!din[0] && !st->affine)
        return;
    tensor mean, var;
    if (x->training) {
        tensor *stats = layer_slot_t(l, "stats");
        mean = bn_row(stats, 0), var = bn_row(stats, 1);
    } else {
        mean = *layer_slot_t(l, "running_mean"), var = *layer_slot_t(l, "running_var");
    }
    tensor *sums = layer_slot_t(l, "grad_sums");
    tensor sdy = bn_row(sums, 0), sdyx = bn_row(sums, 1);
    if (st->affine || x->training) /* eval dx needs no sums */
        ops->norm_bwd_reduce(x->be, NORM_BATCH, dout, in[0], &mean, &var, st->eps, &sdy,
                             &sdyx);
    if (st->affine) { /* before the cross-rank sum: local, as every other parameter */
        ops->axpby(x->be, 1.0f, &sdyx, x->param_grad_beta, &layer_slot_find(l, "weight")->grad);
        ops->axpby(x->be, 1.0f, &sdy, x->param_grad_beta, &layer_slot_find(l, "bias")->grad);
    }
    if (!din[0])
        return;
    double n = (double)bn_count(l);
    if (x->training && x->reduce_sum) {
        x->reduce_sum(x->reduce_ctx, sums);
        n *= x->reduce_ranks;
    }
    ops->norm_bwd_data(x->be, NORM_BATCH, dout, in[0], &mean, &var, st->eps,
                       bn_param(l, "weight"), &sdy, &sdyx, n, x->training, din[0]);
}

const layer_ops layer_batch_norm2d = {.type = "batch_norm2d", .min_in = 1, .max_in = 1,
                                      .parse = bn_parse, .infer = bn_infer, .init = bn_init,
                                      .forward = bn_forward, .backward = bn_backward};
