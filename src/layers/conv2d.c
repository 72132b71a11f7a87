/* 2-d convolution as PyTorch's nn.Conv2d: keys out, kernel, stride (1), pad (0), dilation
 * (1), groups (1), bias (true); weight (K, C/groups, R, S), bias (K). Cross-correlation with
 * symmetric zero padding; an output row exists only where the whole (dilated) window fits
 * in the padded input, so trailing rows a stride skips over are never read. */
#include "conv_params.h"

#include <stdlib.h>

typedef struct conv2d_state {
    conv_params p;
} conv2d_state;

static int conv2d_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    conv2d_state *st = cnn_xcalloc(1, sizeof *st);
    l->state = st;
    return conv_params_parse(l, n, false, &st->p, e);
}

static int conv2d_infer(layer *l, cnn_err *e)
{
    const conv_params *p = &((conv2d_state *)l->state)->p;
    CNN_TRY(e, conv_params_check_input(l, p, e));
    const int64_t *in = l->in[0].d;
    int64_t P = layer_window_out(in[2], p->k[0], p->s[0], p->p[0], p->dil[0]);
    int64_t Q = layer_window_out(in[3], p->k[1], p->s[1], p->p[1], p->dil[1]);
    if (P < 1 || Q < 1)
        return LAYER_ERR(l, e, "kernel %lldx%lld (dilation %lldx%lld, spanning %lldx%lld) is "
                         "larger than the padded input %lldx%lld (input %lldx%lld, pad "
                         "%lldx%lld); use a smaller kernel or dilation, or more padding",
                         (long long)p->k[0], (long long)p->k[1], (long long)p->dil[0],
                         (long long)p->dil[1], (long long)(p->dil[0] * (p->k[0] - 1) + 1),
                         (long long)(p->dil[1] * (p->k[1] - 1) + 1),
                         (long long)(in[2] + 2 * p->p[0]), (long long)(in[3] + 2 * p->p[1]),
                         (long long)in[2], (long long)in[3], (long long)p->p[0],
                         (long long)p->p[1]);
    l->out = SHAPE(in[0], p->out, P, Q);
    return conv_params_declare(l, SHAPE(p->out, in[1] / p->groups, p->k[0], p->k[1]), p->bias,
                               p->out, e);
}

static void conv2d_init(layer *l, backend *be, rng_key key)
{
    const conv_params *p = &((conv2d_state *)l->state)->p;
    conv_params_init(l, be, key, l->in[0].d[1] / p->groups * p->k[0] * p->k[1]);
}

static void conv2d_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    const conv_params *p = &((conv2d_state *)l->state)->p;
    conv_desc d = conv_params_desc(p);
    x->be->ops->conv_fwd(x->be, &d, in[0], layer_slot_t(l, "weight"), out, 0.0f);
    if (p->bias)
        x->be->ops->bias_add(x->be, out, layer_slot_t(l, "bias"));
}

static void conv2d_backward(layer *l, const tensor *const *in, const tensor *out,
                            const tensor *dout, tensor *const *din, exec *x)
{
    (void)out;
    const conv_params *p = &((conv2d_state *)l->state)->p;
    conv_desc d = conv_params_desc(p);
    backend *be = x->be;
    if (din[0])
        be->ops->conv_bwd_data(be, &d, dout, layer_slot_t(l, "weight"), din[0], 0.0f);
    be->ops->conv_bwd_filter(be, &d, in[0], dout, conv_params_grad(l, "weight"),
                             x->param_grad_beta);
    if (p->bias)
        be->ops->bias_grad(be, dout, conv_params_grad(l, "bias"), x->param_grad_beta);
}

/* Each output element is a dot product over (C/groups) * R * S inputs. */
static void conv2d_describe(const layer *l, layer_info *info)
{
    const conv_params *p = &((conv2d_state *)l->state)->p;
    *info = layer_info_pointwise();
    info->macs = conv_params_macs(shape_numel(&l->out),
                                  l->in[0].d[1] / p->groups * p->k[0] * p->k[1]);
    info->kh = (int)p->k[0], info->kw = (int)p->k[1];
    info->sh = (int)p->s[0], info->sw = (int)p->s[1];
    info->dh = (int)p->dil[0], info->dw = (int)p->dil[1];
}

const layer_ops layer_conv2d = {.type = "conv2d", .min_in = 1, .max_in = 1,
                                .parse = conv2d_parse, .infer = conv2d_infer,
                                .init = conv2d_init, .forward = conv2d_forward,
                                .backward = conv2d_backward, .describe = conv2d_describe};
