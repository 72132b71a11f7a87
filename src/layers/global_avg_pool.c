/* Global average pooling (N, C, H, W) -> (N, C, 1, 1), like nn.AdaptiveAvgPool2d(1): an
 * average pool whose single window is the whole plane (kernel = stride = (H, W)), so the
 * backend's pooling does the work and its non-overlapping backward applies. No keys. */
#include "layers.h"

typedef struct gap_state {
    pool_desc d; /* set by infer from the input's plane */
} gap_state;

static int gap_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const none[] = {NULL};
    CNN_TRY(e, cfg_check_keys(n, none, layer_common_keys, e));
    l->state = cnn_xcalloc(1, sizeof(gap_state));
    return CNN_OK;
}

static int gap_infer(layer *l, cnn_err *e)
{
    gap_state *st = l->state;
    const shape *in = &l->in[0];
    char b[96];
    if (l->in_dt[0] != DTYPE_F32)
        return LAYER_ERR(l, e, "input must be f32, got %s", dtype_name(l->in_dt[0]));
    if (in->nd != 4)
        return LAYER_ERR(l, e, "input must be (N, C, H, W), got %s", shape_str(in, b, sizeof b));
    if (in->d[2] * in->d[3] > INT32_MAX)
        return LAYER_ERR(l, e, "input plane %lldx%lld is too large (more than 2^31 elements)",
                         (long long)in->d[2], (long long)in->d[3]);
    int h = (int)in->d[2], w = (int)in->d[3];
    st->d = (pool_desc){.kind = POOL_AVG, .kh = h, .kw = w, .sh = h, .sw = w,
                        .count_include_pad = true};
    l->out = SHAPE(in->d[0], in->d[1], 1, 1);
    return CNN_OK;
}

static void gap_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    gap_state *st = l->state;
    x->be->ops->pool_fwd(x->be, &st->d, in[0], out, NULL);
}

static void gap_backward(layer *l, const tensor *const *in, const tensor *out,
                         const tensor *dout, tensor *const *din, exec *x)
{
    (void)in;
    (void)out;
    gap_state *st = l->state;
    if (din[0])
        x->be->ops->pool_bwd(x->be, &st->d, dout, NULL, din[0]);
}

const layer_ops layer_global_avg_pool = {.type = "global_avg_pool", .min_in = 1, .max_in = 1,
                                         .parse = gap_parse, .infer = gap_infer,
                                         .forward = gap_forward, .backward = gap_backward};
