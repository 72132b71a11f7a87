/* Upsampling by an integer factor, like nn.Upsample(scale_factor=f, mode=...). Keys: factor
 * (an integer >= 1, or [h, w]; required), mode: nearest (default) | bilinear
 * (align_corners=False, PyTorch's default). Output (N, C, H*fh, W*fw). */
#include <stdio.h>

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
    for (int i = 0; i < 2; i++)
        if (f[i] < 1 || f[i] > UPSAMPLE_MAX_FACTOR) {
            char b[48];
            if (f[0] == f[1])
                snprintf(b, sizeof b, "%lld", (long long)f[0]);
            else
                snprintf(b, sizeof b, "[%lld, %lld]", (long long)f[0], (long long)f[1]);
            return LAYER_ERR(l, e, "factor=%s must be an integer between 1 and %d", b,
                             UPSAMPLE_MAX_FACTOR);
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
    char b[96];
    if (l->in_dt[0] != DTYPE_F32)
        return LAYER_ERR(l, e, "input must be f32, got %s", dtype_name(l->in_dt[0]));
    if (in->nd != 4)
        return LAYER_ERR(l, e, "input must be (N, C, H, W), got %s", shape_str(in, b, sizeof b));
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

const layer_ops layer_upsample = {.type = "upsample", .min_in = 1, .max_in = 1,
                                  .parse = upsample_parse, .infer = upsample_infer,
                                  .forward = upsample_forward, .backward = upsample_backward};
