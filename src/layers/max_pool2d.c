/* 2-D max pooling, PyTorch's nn.MaxPool2d with ceil_mode=False and dilation 1. Keys: kernel,
 * stride (default: the kernel), pad (default 0, at most half the kernel as PyTorch requires,
 * which keeps every window on real input). The argmax of every output (h*W + w within its
 * (n, c) plane) is kept in the SLOT_SAVED "indices", which backward and a max_unpool2d
 * layer naming this one read. State: the pool_desc. */
#include "pool_params.h"

static int maxpool_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const keys[] = {"kernel", "stride", "pad", NULL};
    CNN_TRY(e, cfg_check_keys(n, keys, layer_common_keys, e));
    pool_desc *d = cnn_xcalloc(1, sizeof *d);
    l->state = d;
    d->kind = POOL_MAX;
    return pool_params_parse(l, n, d, e);
}

static int maxpool_infer(layer *l, cnn_err *e)
{
    CNN_TRY(e, pool_params_infer(l, l->state, "for i32 argmax indices", e));
    layer_declare(l, "indices", SLOT_SAVED, DTYPE_I32, l->out);
    return CNN_OK;
}

const layer_ops layer_max_pool2d = {.type = "max_pool2d", .min_in = 1, .max_in = 1,
                                    .parse = maxpool_parse, .infer = maxpool_infer,
                                    .forward = pool_params_forward,
                                    .backward = pool_params_backward,
                                    .describe = pool_params_describe};
