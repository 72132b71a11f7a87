/* Anti-aliased downsampling (Zhang 2019, "Making Convolutional Networks Shift-Invariant
 * Again"): every channel is filtered with the fixed binomial [1 2 1]^T [1 2 1] / 16 and then
 * subsampled, i.e. a depthwise 3x3 convolution (groups = C) with zero padding 1 and stride
 * (key `stride`, default 2; an integer or [h, w]), like F.conv2d(x, filt, stride=s,
 * padding=1, groups=C). The filter is a SLOT_CONST (C, 1, 3, 3) filled by init, not learned
 * and not in checkpoints. */
#include <stdlib.h>

#include "pool_params.h"

typedef struct blur_state {
    conv_desc d;
} blur_state;

static int blur_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const keys[] = {"stride", NULL};
    CNN_TRY(e, cfg_check_keys(n, keys, layer_common_keys, e));
    int64_t s[2];
    CNN_TRY(e, cfg_int2(n, "stride", false, 2, s, e));
    CNN_TRY(e, pool_params_check_range(l, "stride", s, e));
    blur_state *st = cnn_xcalloc(1, sizeof *st);
    st->d = (conv_desc){.pad_h = 1, .pad_w = 1, .stride_h = (int)s[0], .stride_w = (int)s[1],
                        .dil_h = 1, .dil_w = 1, .groups = 1};
    l->state = st;
    return CNN_OK;
}

static int blur_infer(layer *l, cnn_err *e)
{
    blur_state *st = l->state;
    const shape *in = &l->in[0];
    CNN_TRY(e, layer_expect_nchw(l, e));
    if (in->d[1] > INT32_MAX)
        return LAYER_ERR(l, e, "%lld channels are too many", (long long)in->d[1]);
    st->d.groups = (int)in->d[1];
    l->out = SHAPE(in->d[0], in->d[1], layer_window_out(in->d[2], 3, st->d.stride_h, 1, 1),
                   layer_window_out(in->d[3], 3, st->d.stride_w, 1, 1));
    layer_declare(l, "filter", SLOT_CONST, l->in_dt[0], SHAPE(in->d[1], 1, 3, 3));
    return CNN_OK;
}

static void blur_init(layer *l, backend *be, rng_key key)
{
    (void)key;
    static const float taps[3] = {1.0f, 2.0f, 1.0f};
    tensor *t = layer_slot_t(l, "filter");
    int64_t c = t->s.d[0];
    float *h = cnn_xmalloc((size_t)c * 9 * sizeof *h);
    for (int64_t k = 0; k < c; k++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                h[k * 9 + i * 3 + j] = taps[i] * taps[j] / 16.0f;
    layer_upload_f32(be, t, h);
    free(h);
}

static void blur_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    blur_state *st = l->state;
    x->be->ops->conv_fwd(x->be, &st->d, in[0], layer_slot_t(l, "filter"), out, 0.0f);
}

static void blur_backward(layer *l, const tensor *const *in, const tensor *out,
                          const tensor *dout, tensor *const *din, exec *x)
{
    (void)in;
    (void)out;
    blur_state *st = l->state;
    if (din[0])
        x->be->ops->conv_bwd_data(x->be, &st->d, dout, layer_slot_t(l, "filter"), din[0], 0.0f);
}

/* A fixed filter, not a learned convolution: a window, but no MACs by the convention. */
static void blur_describe(const layer *l, layer_info *info)
{
    const blur_state *st = l->state;
    *info = layer_info_pointwise();
    info->kh = info->kw = 3;
    info->sh = st->d.stride_h, info->sw = st->d.stride_w;
}

const layer_ops layer_blur_pool2d = {.type = "blur_pool2d", .min_in = 1, .max_in = 1,
                                     .parse = blur_parse, .infer = blur_infer,
                                     .init = blur_init, .forward = blur_forward,
                                     .backward = blur_backward, .describe = blur_describe};
