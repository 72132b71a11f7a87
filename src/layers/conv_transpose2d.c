/* Transposed 2-d convolution as PyTorch's nn.ConvTranspose2d: keys out, kernel, stride (1),
 * pad (0), output_pad (0; smaller than stride or dilation), dilation (1), groups (1), bias
 * (true); weight (C_in, C_out/groups, R, S), bias (C_out). It is the data gradient of the
 * convolution from its output back to its input, so forward runs conv_bwd_data, the input
 * gradient conv_fwd and the weight gradient conv_bwd_filter with input and output swapped.
 * Output: (H - 1) * stride - 2 * pad + dilation * (R - 1) + 1 + output_pad rows:
 * output_pad un-crops that many of the bottom/right pad rows (and adds zero rows when it
 * exceeds pad). */
#include "conv_params.h"

#include <stdlib.h>

typedef struct convt_state {
    conv_params p;
} convt_state;

static int convt_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    convt_state *st = cnn_xcalloc(1, sizeof *st);
    l->state = st;
    return conv_params_parse(l, n, true, &st->p, e);
}

/* Rows before output_pad: at least one, or the padding crops away the whole output. */
static int64_t convt_core(int64_t in, const conv_params *p, int i)
{
    return (in - 1) * p->s[i] - 2 * p->p[i] + p->dil[i] * (p->k[i] - 1) + 1;
}

static int convt_infer(layer *l, cnn_err *e)
{
    const conv_params *p = &((convt_state *)l->state)->p;
    CNN_TRY(e, conv_params_check_input(l, p, e));
    const int64_t *in = l->in[0].d;
    int64_t ch = convt_core(in[2], p, 0), cw = convt_core(in[3], p, 1);
    if (ch < 1 || cw < 1)
        return LAYER_ERR(l, e, "pad %lldx%lld removes the whole output: kernel %lldx%lld "
                         "(dilation %lldx%lld) at stride %lldx%lld over the input %lldx%lld "
                         "gives %lldx%lld before padding; reduce pad",
                         (long long)p->p[0], (long long)p->p[1], (long long)p->k[0],
                         (long long)p->k[1], (long long)p->dil[0], (long long)p->dil[1],
                         (long long)p->s[0], (long long)p->s[1], (long long)in[2],
                         (long long)in[3], (long long)(ch + 2 * p->p[0]),
                         (long long)(cw + 2 * p->p[1]));
    l->out = SHAPE(in[0], p->out, ch + p->opad[0], cw + p->opad[1]);
    return conv_params_declare(l, SHAPE(in[1], p->out / p->groups, p->k[0], p->k[1]),
                               p->bias, p->out, e);
}

/* PyTorch's fan_in for this weight layout is weight.size(1) * R * S. */
static void convt_init(layer *l, backend *be, rng_key key)
{
    const conv_params *p = &((convt_state *)l->state)->p;
    conv_params_init(l, be, key, p->out / p->groups * p->k[0] * p->k[1]);
}

static void convt_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    const conv_params *p = &((convt_state *)l->state)->p;
    conv_desc d = conv_params_desc(p);
    x->be->ops->conv_bwd_data(x->be, &d, in[0], layer_slot_t(l, "weight"), out, 0.0f);
    if (p->bias)
        x->be->ops->bias_add(x->be, out, layer_slot_t(l, "bias"));
}

static void convt_backward(layer *l, const tensor *const *in, const tensor *out,
                           const tensor *dout, tensor *const *din, exec *x)
{
    (void)out;
    const conv_params *p = &((convt_state *)l->state)->p;
    conv_desc d = conv_params_desc(p);
    backend *be = x->be;
    if (din[0])
        be->ops->conv_fwd(be, &d, dout, layer_slot_t(l, "weight"), din[0], 0.0f);
    be->ops->conv_bwd_filter(be, &d, dout, in[0], conv_params_grad(l, "weight"),
                             x->param_grad_beta);
    if (p->bias)
        be->ops->bias_grad(be, dout, conv_params_grad(l, "bias"), x->param_grad_beta);
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b, b = t;
    }
    return a;
}

/* Every input element is scattered over (K/groups) * R * S outputs. The output grid is
 * stride times finer (up); one output gathers the taps kk with kk * dil = const (mod stride),
 * i.e. every (stride/g)-th tap, g = gcd(dil, stride): at most ceil(R / (stride/g)) inputs,
 * dil/g input pixels apart. That is its window in input pixels, so that the summary's
 * receptive field is the largest one over the outputs (k=2 s=2: one input, as U-Net's). */
static void convt_describe(const layer *l, layer_info *info)
{
    const conv_params *p = &((convt_state *)l->state)->p;
    *info = layer_info_pointwise();
    info->macs = conv_params_macs(shape_numel(&l->in[0]),
                                  p->out / p->groups * p->k[0] * p->k[1]);
    int *win[2] = {&info->kh, &info->kw}, *dil[2] = {&info->dh, &info->dw};
    int *up[2] = {&info->up_h, &info->up_w};
    for (int i = 0; i < 2; i++) {
        int64_t g = gcd64(p->dil[i], p->s[i]), step = p->s[i] / g;
        *win[i] = (int)((p->k[i] + step - 1) / step);
        *dil[i] = (int)(p->dil[i] / g);
        *up[i] = (int)p->s[i];
    }
}

const layer_ops layer_conv_transpose2d = {.type = "conv_transpose2d", .min_in = 1,
                                          .max_in = 1, .parse = convt_parse,
                                          .infer = convt_infer, .init = convt_init,
                                          .forward = convt_forward,
                                          .backward = convt_backward,
                                          .describe = convt_describe};
