/* Flatten as PyTorch's nn.Flatten(): (N, ...) -> (N, product of the rest), no keys.
 * Features come out in the logical (C, H, W) order, as in PyTorch whatever the memory format,
 * so a classifier's weights do not depend on the layout: from NCHW memory that is a plain
 * copy (the output is a separate tensor owned by the net), from channels-last a transpose. */
#include "layers.h"

static int flatten_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    (void)l;
    static const char *const none[] = {NULL};
    return cfg_check_keys(n, none, layer_common_keys, e);
}

static int flatten_infer(layer *l, cnn_err *e)
{
    CNN_TRY(e, layer_expect_input(l, 0, LAYER_RANK_MIN(2),
                                  "(N, ...) with at least 2 dimensions", e));
    l->out = SHAPE(l->in[0].d[0], shape_inner(&l->in[0], 1));
    return CNN_OK;
}

static void flatten_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    if (tensor_is_nhwc(in[0])) {
        tensor o = tensor_reshape(out, l->in[0]); /* NCHW: the feature order */
        x->be->ops->convert(x->be, in[0], &o, 0.0f);
        return;
    }
    x->be->ops->copy(x->be, out->data, out->dev, in[0]->data, in[0]->dev, tensor_bytes(out));
}

static void flatten_backward(layer *l, const tensor *const *in, const tensor *out,
                             const tensor *dout, tensor *const *din, exec *x)
{
    (void)in;
    (void)out;
    if (!din[0])
        return;
    if (tensor_is_nhwc(din[0])) {
        tensor d = tensor_reshape(dout, l->in[0]);
        x->be->ops->convert(x->be, &d, din[0], 0.0f);
        return;
    }
    x->be->ops->copy(x->be, din[0]->data, din[0]->dev, dout->data, dout->dev,
                     tensor_bytes(dout));
}

/* Every output feature is a whole (C, H, W) input: spatial structure ends here. */
static void flatten_describe(const layer *l, layer_info *info)
{
    (void)l;
    *info = layer_info_pointwise();
    info->global = true;
}

const layer_ops layer_flatten = {.type = "flatten", .min_in = 1, .max_in = 1,
                                 .parse = flatten_parse, .infer = flatten_infer,
                                 .forward = flatten_forward, .backward = flatten_backward,
                                 .describe = flatten_describe};
