/* Channel concatenation (U-Net skips), torch.cat(dim=1): 2 to 8 f32 inputs (N, Ci, ...) that
 * agree on every dimension but 1; typically (N, Ci, H, W) or (N, Ci). Input i occupies
 * output channels [c0_i, c0_i + Ci) with c0_i the sum of the earlier Ci; backward slices
 * dout back along the same ranges. Both directions use the backend's channel_copy. */
#include "layers.h"

static int concat_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const none[] = {NULL};
    (void)l;
    return cfg_check_keys(n, none, layer_common_keys, e);
}

static int concat_check_input(layer *l, int i, cnn_err *e)
{
    const shape *s = &l->in[i], *s0 = &l->in[0];
    char a[96], b[96];
    CNN_TRY(e, layer_expect_float(l, i, e));
    if (s->nd < 2)
        return LAYER_ERR(l, e, "input %d has shape %s; concat needs (N, C, ...) with at least "
                         "2 dimensions", i, shape_str(s, a, sizeof a));
    bool same = s->nd == s0->nd;
    for (int k = 0; same && k < s->nd; k++)
        same = k == 1 || s->d[k] == s0->d[k];
    if (!same)
        return LAYER_ERR(l, e, "input %d has shape %s but input 0 has shape %s; concat joins "
                         "channels (dimension 1) and needs every other dimension (N, H, W) "
                         "equal", i, shape_str(s, a, sizeof a), shape_str(s0, b, sizeof b));
    return CNN_OK;
}

static int concat_infer(layer *l, cnn_err *e)
{
    int64_t c = 0;
    for (int i = 0; i < l->n_in; i++) {
        CNN_TRY(e, concat_check_input(l, i, e));
        c += l->in[i].d[1];
    }
    if (c > INT32_MAX)
        return LAYER_ERR(l, e, "%lld output channels exceed the limit of %d", (long long)c,
                         INT32_MAX);
    l->out = l->in[0];
    l->out.d[1] = c;
    return CNN_OK;
}

static void concat_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    int c0 = 0;
    for (int i = 0; i < l->n_in; i++) {
        int ci = (int)in[i]->s.d[1];
        x->be->ops->channel_copy(x->be, in[i], 0, out, c0, ci, 0.0f);
        c0 += ci;
    }
}

static void concat_backward(layer *l, const tensor *const *in, const tensor *out,
                            const tensor *dout, tensor *const *din, exec *x)
{
    (void)out;
    int c0 = 0;
    for (int i = 0; i < l->n_in; i++) {
        int ci = (int)in[i]->s.d[1];
        if (din[i])
            x->be->ops->channel_copy(x->be, dout, c0, din[i], 0, ci, 0.0f);
        c0 += ci;
    }
}

const layer_ops layer_concat = {.type = "concat", .min_in = 2, .max_in = LAYER_MAX_INPUTS,
                                .parse = concat_parse, .infer = concat_infer,
                                .forward = concat_forward, .backward = concat_backward};
