/* Global average pooling (N, C, H, W) -> (N, C, 1, 1), like nn.AdaptiveAvgPool2d(1): an
 * average pool whose single window is the whole plane (kernel = stride = (H, W)), so the
 * backend's pooling does the work and its non-overlapping backward applies. No keys. State:
 * the pool_desc, set by infer from the input's plane. */
#include "pool_params.h"

static int gap_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const none[] = {NULL};
    CNN_TRY(e, cfg_check_keys(n, none, layer_common_keys, e));
    l->state = cnn_xcalloc(1, sizeof(pool_desc));
    return CNN_OK;
}

static int gap_infer(layer *l, cnn_err *e)
{
    const shape *in = &l->in[0];
    CNN_TRY(e, pool_params_check_input(l, "(more than 2^31 elements)", e));
    int h = (int)in->d[2], w = (int)in->d[3];
    *(pool_desc *)l->state = (pool_desc){.kind = POOL_AVG, .kh = h, .kw = w, .sh = h, .sw = w,
                                         .count_include_pad = true};
    l->out = SHAPE(in->d[0], in->d[1], 1, 1);
    return CNN_OK;
}

static void gap_describe(const layer *l, layer_info *info)
{
    pool_params_describe(l, info);
    info->global = true;
}

const layer_ops layer_global_avg_pool = {.type = "global_avg_pool", .min_in = 1, .max_in = 1,
                                         .parse = gap_parse, .infer = gap_infer,
                                         .forward = pool_params_forward,
                                         .backward = pool_params_backward,
                                         .describe = gap_describe};
