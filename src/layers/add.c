/* Residual add (ResNet shortcuts): 2 to 8 f32 inputs of identical shape, out = their sum.
 * No broadcasting: a shape mismatch is a config error that names both shapes. Backward
 * hands dout unchanged to every input that wants a gradient. */
#include "layers.h"

static int add_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const none[] = {NULL};
    (void)l;
    return cfg_check_keys(n, none, layer_common_keys, e);
}

static int add_infer(layer *l, cnn_err *e)
{
    char a[96], b[96];
    for (int i = 0; i < l->n_in; i++) {
        CNN_TRY(e, layer_expect_float(l, i, e));
        if (!shape_eq(&l->in[i], &l->in[0]))
            return LAYER_ERR(l, e, "input %d has shape %s but input 0 has shape %s; add needs "
                             "identical shapes (match them on the shortcut with a 1x1 conv2d: "
                             "out for the channels, stride for the size)", i,
                             shape_str(&l->in[i], a, sizeof a), shape_str(&l->in[0], b, sizeof b));
    }
    l->out = l->in[0];
    return CNN_OK;
}

static void add_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    backend *be = x->be;
    be->ops->add(be, in[0], in[1], out);
    for (int i = 2; i < l->n_in; i++)
        be->ops->axpby(be, 1.0f, in[i], 1.0f, out);
}

static void add_backward(layer *l, const tensor *const *in, const tensor *out,
                         const tensor *dout, tensor *const *din, exec *x)
{
    (void)in;
    (void)out;
    for (int i = 0; i < l->n_in; i++)
        if (din[i])
            x->be->ops->axpby(x->be, 1.0f, dout, 0.0f, din[i]);
}

const layer_ops layer_add = {.type = "add", .min_in = 2, .max_in = LAYER_MAX_INPUTS,
                             .parse = add_parse, .infer = add_infer, .forward = add_forward,
                             .backward = add_backward};
