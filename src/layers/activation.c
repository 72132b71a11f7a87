/* Pointwise activations: relu, leaky_relu (key `slope`, PyTorch's negative_slope, default
 * 0.01), tanh, sigmoid. One file, four types: they differ only in the backend act_kind.
 * Backward of relu/leaky_relu reads the input (derivative at exactly 0 is 0, as PyTorch);
 * tanh/sigmoid read the output. */
#include <stdlib.h>

#include "layers.h"

typedef struct act_state {
    act_kind kind;
    float alpha;
} act_state;

static int act_parse_kind(layer *l, const cfg_node *n, act_kind kind, cnn_err *e)
{
    static const char *const none[] = {NULL};
    static const char *const leaky[] = {"slope", NULL};
    CNN_TRY(e, cfg_check_keys(n, kind == ACT_LEAKY_RELU ? leaky : none, layer_common_keys, e));
    act_state *st = cnn_xcalloc(1, sizeof *st);
    l->state = st;
    st->kind = kind;
    double slope = 0.01;
    if (kind == ACT_LEAKY_RELU)
        CNN_TRY(e, cfg_float(n, "slope", false, 0.01, &slope, e));
    st->alpha = (float)slope;
    return CNN_OK;
}

static int parse_relu(layer *l, const cfg_node *n, cnn_err *e) { return act_parse_kind(l, n, ACT_RELU, e); }
static int parse_leaky(layer *l, const cfg_node *n, cnn_err *e) { return act_parse_kind(l, n, ACT_LEAKY_RELU, e); }
static int parse_tanh(layer *l, const cfg_node *n, cnn_err *e) { return act_parse_kind(l, n, ACT_TANH, e); }
static int parse_sigmoid(layer *l, const cfg_node *n, cnn_err *e) { return act_parse_kind(l, n, ACT_SIGMOID, e); }

static int act_infer(layer *l, cnn_err *e)
{
    CNN_TRY(e, layer_expect_float(l, 0, e));
    l->out = l->in[0];
    return CNN_OK;
}

static void act_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    act_state *st = l->state;
    x->be->ops->act_fwd(x->be, st->kind, st->alpha, in[0], out);
}

static void act_backward(layer *l, const tensor *const *in, const tensor *out,
                         const tensor *dout, tensor *const *din, exec *x)
{
    act_state *st = l->state;
    if (din[0])
        x->be->ops->act_bwd(x->be, st->kind, st->alpha, in[0], out, dout, din[0]);
}

#define ACT_OPS(var, name, parser)                                                       \
    const layer_ops var = {.type = name, .min_in = 1, .max_in = 1, .parse = parser,      \
                           .infer = act_infer, .forward = act_forward,                  \
                           .backward = act_backward};
ACT_OPS(layer_relu, "relu", parse_relu)
ACT_OPS(layer_leaky_relu, "leaky_relu", parse_leaky)
ACT_OPS(layer_tanh, "tanh", parse_tanh)
ACT_OPS(layer_sigmoid, "sigmoid", parse_sigmoid)
