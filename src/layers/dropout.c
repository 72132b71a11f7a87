/* Inverted dropout (key `p`, the drop probability, default 0.5). The mask is a pure function
 * of (step key, layer name, element index) through the keyed RNG, so it is the same on every
 * backend and under any thread count; evaluation passes the input through. */
#include "layers.h"

typedef struct dropout_state {
    float p;
} dropout_state;

static int dropout_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const keys[] = {"p", NULL};
    CNN_TRY(e, cfg_check_keys(n, keys, layer_common_keys, e));
    double p;
    CNN_TRY(e, cfg_float(n, "p", false, 0.5, &p, e));
    if (!(p >= 0.0 && p < 1.0))
        return LAYER_ERR(l, e, "p=%g must be in [0, 1)", p);
    dropout_state *st = cnn_xcalloc(1, sizeof *st);
    st->p = (float)p;
    l->state = st;
    return CNN_OK;
}

static int dropout_infer(layer *l, cnn_err *e)
{
    CNN_TRY(e, layer_expect_float(l, 0, e));
    l->out = l->in[0];
    layer_declare(l, "mask", SLOT_SAVED, DTYPE_U8, l->in[0]);
    return CNN_OK;
}

static void dropout_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    dropout_state *st = l->state;
    if (x->training)
        x->be->ops->dropout_fwd(x->be, rng_fold_str(x->key, l->name), st->p, in[0], out,
                                layer_slot_t(l, "mask"));
    else
        x->be->ops->axpby(x->be, 1.0f, in[0], 0.0f, out);
}

static void dropout_backward(layer *l, const tensor *const *in, const tensor *out,
                             const tensor *dout, tensor *const *din, exec *x)
{
    (void)in;
    (void)out;
    dropout_state *st = l->state;
    if (!din[0])
        return;
    if (x->training)
        x->be->ops->dropout_bwd(x->be, st->p, layer_slot_t(l, "mask"), dout, din[0]);
    else
        x->be->ops->axpby(x->be, 1.0f, dout, 0.0f, din[0]);
}

const layer_ops layer_dropout = {.type = "dropout", .min_in = 1, .max_in = 1,
                                 .parse = dropout_parse, .infer = dropout_infer,
                                 .forward = dropout_forward, .backward = dropout_backward};
