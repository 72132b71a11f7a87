/* 2-D average pooling, PyTorch's nn.AvgPool2d with ceil_mode=False. Keys: kernel, stride
 * (default: the kernel), pad (default 0, at most half the kernel as PyTorch requires),
 * count_include_pad (default true, PyTorch's default: divide by kh*kw; false divides by the
 * number of real input elements under the window). State: the pool_desc. */
#include "pool_params.h"

static int avgpool_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const keys[] = {"kernel", "stride", "pad", "count_include_pad", NULL};
    CNN_TRY(e, cfg_check_keys(n, keys, layer_common_keys, e));
    pool_desc *d = cnn_xcalloc(1, sizeof *d);
    l->state = d;
    d->kind = POOL_AVG;
    CNN_TRY(e, pool_params_parse(l, n, d, e));
    CNN_TRY(e, cfg_bool(n, "count_include_pad", false, true, &d->count_include_pad, e));
    return CNN_OK;
}

static int avgpool_infer(layer *l, cnn_err *e)
{
    return pool_params_infer(l, l->state, "(more than 2^31 elements)", e);
}

const layer_ops layer_avg_pool2d = {.type = "avg_pool2d", .min_in = 1, .max_in = 1,
                                    .parse = avgpool_parse, .infer = avgpool_infer,
                                    .forward = pool_params_forward,
                                    .backward = pool_params_backward,
                                    .describe = pool_params_describe};
