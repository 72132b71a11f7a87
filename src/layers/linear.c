/* Fully connected layer as PyTorch's nn.Linear: keys out, bias (true); weight (out, in),
 * bias (out). An input (N, ...) is read as (N, in) with in the product of the other
 * dimensions (a flatten in front, as torchvision's classifiers do), so y = x W^T + b. A
 * channels-last (N, C, H, W) input is read in that logical order too, through saved NCHW
 * copies (flatten's rule), so the weights mean the same in either layout. */
#include "conv_params.h"

#include <stdlib.h>

typedef struct linear_state {
    int64_t out;
    bool bias;
} linear_state;

static int linear_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const keys[] = {"out", "bias", NULL};
    CNN_TRY(e, cfg_check_keys(n, keys, layer_common_keys, e));
    linear_state *st = cnn_xcalloc(1, sizeof *st);
    l->state = st;
    CNN_TRY(e, cfg_int(n, "out", true, 0, &st->out, e));
    CNN_TRY(e, cfg_bool(n, "bias", false, true, &st->bias, e));
    if (st->out < 1 || st->out > (1 << 24)) {
        char w[256];
        return LAYER_ERR(l, e, "%s: out=%lld must be between 1 and %d",
                         cfg_where(cfg_get(n, "out"), w, sizeof w), (long long)st->out,
                         1 << 24);
    }
    return CNN_OK;
}

static int64_t linear_in(const layer *l) { return shape_inner(&l->in[0], 1); }

/* A channels-last input with pixels: the features need reordering. */
static bool reorders(const layer *l)
{
    return l->lay == LAYOUT_NHWC && l->in[0].nd == 4 && l->in[0].d[2] * l->in[0].d[3] > 1;
}

static int linear_infer(layer *l, cnn_err *e)
{
    linear_state *st = l->state;
    CNN_TRY(e, layer_expect_input(l, 0, LAYER_RANK_MIN(2), "(N, features...)", e));
    l->out = SHAPE(l->in[0].d[0], st->out);
    if (reorders(l)) { /* the input in feature order, and its gradient before reordering */
        shape f = SHAPE(l->in[0].d[0], linear_in(l));
        layer_declare(l, "input_nchw", SLOT_SAVED, l->in_dt[0], f);
        layer_declare(l, "dinput_nchw", SLOT_SAVED, l->in_dt[0], f);
    }
    return conv_params_declare(l, SHAPE(st->out, linear_in(l)), st->bias, st->out, e);
}

static void linear_init(layer *l, backend *be, rng_key key)
{
    conv_params_init(l, be, key, linear_in(l));
}

static void linear_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    linear_state *st = l->state;
    int64_t N = l->in[0].d[0], F = linear_in(l);
    const tensor *w = layer_slot_t(l, "weight"), *xin = in[0];
    if (reorders(l)) {
        tensor v = tensor_reshape(layer_slot_t(l, "input_nchw"), l->in[0]); /* NCHW */
        x->be->ops->convert(x->be, in[0], &v, 0.0f);
        xin = layer_slot_t(l, "input_nchw");
    }
    x->be->ops->gemm(x->be, xin->dt, false, true, N, st->out, F, 1.0f, xin->data, F,
                     w->data, F, 0.0f, out->data, st->out);
    if (st->bias)
        x->be->ops->bias_add(x->be, out, layer_slot_t(l, "bias"));
}

static void linear_backward(layer *l, const tensor *const *in, const tensor *out,
                            const tensor *dout, tensor *const *din, exec *x)
{
    (void)out;
    linear_state *st = l->state;
    backend *be = x->be;
    int64_t N = l->in[0].d[0], F = linear_in(l), K = st->out;
    const tensor *w = layer_slot_t(l, "weight");
    const tensor *xin = reorders(l) ? layer_slot_t(l, "input_nchw") : in[0];
    be->ops->gemm(be, dout->dt, true, false, K, F, N, 1.0f, dout->data, K, xin->data, F,
                  x->param_grad_beta, conv_params_grad(l, "weight")->data, F);
    if (st->bias)
        be->ops->bias_grad(be, dout, conv_params_grad(l, "bias"), x->param_grad_beta);
    if (!din[0])
        return;
    void *dx = reorders(l) ? layer_slot_t(l, "dinput_nchw")->data : din[0]->data;
    be->ops->gemm(be, dout->dt, false, false, N, F, K, 1.0f, dout->data, K, w->data, F, 0.0f,
                  dx, F);
    if (reorders(l)) {
        tensor v = tensor_reshape(layer_slot_t(l, "dinput_nchw"), l->in[0]);
        be->ops->convert(be, &v, din[0], 0.0f);
    }
}

static void linear_describe(const layer *l, layer_info *info)
{
    const linear_state *st = l->state;
    *info = layer_info_pointwise();
    info->macs = conv_params_macs(l->in[0].d[0] * st->out, linear_in(l));
    info->global = true;
}

const layer_ops layer_linear = {.type = "linear", .min_in = 1, .max_in = 1,
                                .parse = linear_parse, .infer = linear_infer,
                                .init = linear_init, .forward = linear_forward,
                                .backward = linear_backward, .describe = linear_describe};
