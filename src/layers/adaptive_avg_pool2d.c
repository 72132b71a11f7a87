/* Adaptive average pooling to a fixed output size, nn.AdaptiveAvgPool2d(out): torchvision's
 * VGG (7x7) and AlexNet (6x6) put it before their classifiers. Key: out (an integer or
 * [h, w]). Only inputs whose size is a multiple of out per axis are supported: then
 * PyTorch's windows [floor(i*H/h), ceil((i+1)*H/h)) are the plain non-overlapping windows
 * kernel = stride = H/h, so the backend's average pooling does the work (identity when
 * H == h). Other sizes would need windows of unequal length; infer rejects them. State: the
 * requested size and the pool_desc that infer derives from the input. */
#include "pool_params.h"

typedef struct adaptive_state {
    pool_desc d;    /* first: the shared pool code reads l->state as a pool_desc; by infer */
    int64_t out[2]; /* [h, w] */
} adaptive_state;

static int adaptive_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const keys[] = {"out", NULL};
    CNN_TRY(e, cfg_check_keys(n, keys, layer_common_keys, e));
    adaptive_state *st = cnn_xcalloc(1, sizeof *st);
    l->state = st;
    CNN_TRY(e, cfg_int2(n, "out", true, 0, st->out, e));
    return pool_params_check_range(l, "out", st->out, e);
}

static int adaptive_infer(layer *l, cnn_err *e)
{
    adaptive_state *st = l->state;
    CNN_TRY(e, pool_params_check_input(l, "(more than 2^31 elements)", e));
    const shape *in = &l->in[0];
    int64_t H = in->d[2], W = in->d[3];
    if (H % st->out[0] || W % st->out[1])
        return LAYER_ERR(l, e, "input %lldx%lld is not a multiple of out %lldx%lld; adaptive "
                         "pooling with unequal windows is not supported; use an input size "
                         "that is a multiple (e.g. 224 for VGG) or an out that divides the "
                         "input (model.args.pool=1 in the VGG and AlexNet configs)", (long long)H, (long long)W,
                         (long long)st->out[0], (long long)st->out[1]);
    int kh = (int)(H / st->out[0]), kw = (int)(W / st->out[1]);
    st->d = (pool_desc){.kind = POOL_AVG, .kh = kh, .kw = kw, .sh = kh, .sw = kw,
                        .count_include_pad = true};
    l->out = SHAPE(in->d[0], in->d[1], st->out[0], st->out[1]);
    return CNN_OK;
}

/* A 1x1 output is global pooling: every output sees the whole input. */
static void adaptive_describe(const layer *l, layer_info *info)
{
    const adaptive_state *st = l->state;
    pool_params_describe(l, info);
    info->global = st->out[0] == 1 && st->out[1] == 1;
}

const layer_ops layer_adaptive_avg_pool2d = {.type = "adaptive_avg_pool2d", .min_in = 1,
                                             .max_in = 1, .parse = adaptive_parse,
                                             .infer = adaptive_infer,
                                             .forward = pool_params_forward,
                                             .backward = pool_params_backward,
                                             .describe = adaptive_describe};
