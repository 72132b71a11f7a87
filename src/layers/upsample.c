/* Upsampling by an integer factor, like nn.Upsample(scale_factor=f, mode=...). Keys: factor
 * (an integer >= 1, or [h, w]; required), mode: nearest (default) | bilinear
 * (align_corners=False, PyTorch's default). Output (N, C, H*fh, W*fw). */
#include "layers.h"

#define UPSAMPLE_MAX_FACTOR 4096

typedef struct upsample_state {
    upsample_mode mode;
    int64_t f[2];
} upsample_state;

static int upsample_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const keys[] = {"factor", "mode", NULL};
    static const char *const modes[] = {"nearest", "bilinear", NULL};
    CNN_TRY(e, cfg_check_keys(n, keys, layer_common_keys, e));
    int64_t f[2];
    int mode;
    CNN_TRY(e, cfg_int2(n, "factor", true, 0, f, e));
    CNN_TRY(e, cfg_choice(n, "mode", modes, 0, &mode, e));
    if (f[0] < 1 || f[1] < 1 || f[0] > UPSAMPLE_MAX_FACTOR || f[1] > UPSAMPLE_MAX_FACTOR) {
        char b[48];
        return LAYER_ERR(l, e, "factor=%s must be an integer between 1 and %d",
                         layer_pair_str(f, b, sizeof b), UPSAMPLE_MAX_FACTOR);
    }
    upsample_state *st = cnn_xcalloc(1, sizeof *st);
    st->mode = mode == 0 ? UPSAMPLE_NEAREST : UPSAMPLE_BILINEAR;
    st->f[0] = f[0];
    st->f[1] = f[1];
    l->state = st;
    return CNN_OK;
}

static int upsample_infer(layer *l, cnn_err *e)
{
    upsample_state *st = l->state;
    const shape *in = &l->in[0];
    CNN_TRY(e, layer_expect_nchw(l, e));
    int64_t ho = in->d[2] * st->f[0], wo = in->d[3] * st->f[1];
    if (ho > INT32_MAX || wo > INT32_MAX || ho * wo > INT32_MAX)
        return LAYER_ERR(l, e, "output plane %lldx%lld is too large (more than 2^31 elements)",
                         (long long)ho, (long long)wo);
    l->out = SHAPE(in->d[0], in->d[1], ho, wo);
    return CNN_OK;
}

static void upsample_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    upsample_state *st = l->state;
    x->be->ops->upsample_fwd(x->be, st->mode, in[0], out);
}

static void upsample_backward(layer *l, const tensor *const *in, const tensor *out,
                              const tensor *dout, tensor *const *din, exec *x)
{
    (void)in;
    (void)out;
    upsample_state *st = l->state;
    if (din[0])
        x->be->ops->upsample_bwd(x->be, st->mode, dout, din[0]);
}

/* Nearest reads one input per output; bilinear interpolates between two neighbours along
 * every axis it enlarges (with factor 1 it reads exactly one). */
static void upsample_describe(const layer *l, layer_info *info)
{
    const upsample_state *st = l->state;
    bool lin = st->mode == UPSAMPLE_BILINEAR;
    *info = layer_info_pointwise();
    info->up_h = (int)st->f[0], info->up_w = (int)st->f[1];
    info->kh = lin && st->f[0] > 1 ? 2 : 1;
    info->kw = lin && st->f[1] > 1 ? 2 : 1;
}

const layer_ops layer_upsample = {.type = "upsample", .min_in = 1, .max_in = 1,
                                  .parse = upsample_parse, .infer = upsample_infer,
                                  .forward = upsample_forward, .backward = upsample_backward,
                                  .describe = upsample_describe};
