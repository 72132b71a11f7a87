/* 2-D average pooling, PyTorch's nn.AvgPool2d with ceil_mode=False. Keys: kernel, stride
 * (default: the kernel), pad (default 0, at most half the kernel as PyTorch requires),
 * count_include_pad (default true, PyTorch's default: divide by kh*kw; false divides by the
 * number of real input elements under the window). */
#include <stdio.h>

#include "layers.h"

#define POOL_MAX_DIM (1 << 20)

typedef struct avgpool_state {
    pool_desc d;
} avgpool_state;

static const char *pair_str(const int64_t v[2], char *b, size_t n)
{
    if (v[0] == v[1])
        snprintf(b, n, "%lld", (long long)v[0]);
    else
        snprintf(b, n, "[%lld, %lld]", (long long)v[0], (long long)v[1]);
    return b;
}

static int avgpool_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const keys[] = {"kernel", "stride", "pad", "count_include_pad", NULL};
    CNN_TRY(e, cfg_check_keys(n, keys, layer_common_keys, e));
    int64_t k[2], s[2], p[2];
    bool include_pad;
    char b[2][48];
    CNN_TRY(e, cfg_int2(n, "kernel", true, 0, k, e));
    CNN_TRY(e, cfg_int2(n, "stride", false, 0, s, e));
    CNN_TRY(e, cfg_int2(n, "pad", false, 0, p, e));
    CNN_TRY(e, cfg_bool(n, "count_include_pad", false, true, &include_pad, e));
    if (!cfg_get(n, "stride"))
        s[0] = k[0], s[1] = k[1];
    for (int i = 0; i < 2; i++) {
        if (k[i] < 1 || k[i] > POOL_MAX_DIM)
            return LAYER_ERR(l, e, "kernel=%s must be between 1 and %d",
                             pair_str(k, b[0], sizeof b[0]), POOL_MAX_DIM);
        if (s[i] < 1 || s[i] > POOL_MAX_DIM)
            return LAYER_ERR(l, e, "stride=%s must be between 1 and %d",
                             pair_str(s, b[0], sizeof b[0]), POOL_MAX_DIM);
        if (p[i] < 0 || p[i] > k[i] / 2)
            return LAYER_ERR(l, e, "pad=%s must be >= 0 and at most half the kernel (kernel=%s),"
                             " as in PyTorch", pair_str(p, b[0], sizeof b[0]),
                             pair_str(k, b[1], sizeof b[1]));
    }
    avgpool_state *st = cnn_xcalloc(1, sizeof *st);
    st->d = (pool_desc){.kind = POOL_AVG, .kh = (int)k[0], .kw = (int)k[1], .sh = (int)s[0],
                        .sw = (int)s[1], .ph = (int)p[0], .pw = (int)p[1],
                        .count_include_pad = include_pad};
    l->state = st;
    return CNN_OK;
}

static int avgpool_infer(layer *l, cnn_err *e)
{
    avgpool_state *st = l->state;
    const pool_desc *d = &st->d;
    const shape *in = &l->in[0];
    char b[96];
    if (l->in_dt[0] != DTYPE_F32)
        return LAYER_ERR(l, e, "input must be f32, got %s", dtype_name(l->in_dt[0]));
    if (in->nd != 4)
        return LAYER_ERR(l, e, "input must be (N, C, H, W), got %s", shape_str(in, b, sizeof b));
    int64_t H = in->d[2], W = in->d[3];
    if (H + 2 * d->ph < d->kh || W + 2 * d->pw < d->kw)
        return LAYER_ERR(l, e, "kernel %dx%d is larger than the padded input %lldx%lld (input "
                         "%lldx%lld, pad %dx%d); use a smaller kernel or a larger input",
                         d->kh, d->kw, (long long)(H + 2 * d->ph), (long long)(W + 2 * d->pw),
                         (long long)H, (long long)W, d->ph, d->pw);
    if (H * W > INT32_MAX)
        return LAYER_ERR(l, e, "input plane %lldx%lld is too large (more than 2^31 elements)",
                         (long long)H, (long long)W);
    l->out = SHAPE(in->d[0], in->d[1], layer_window_out(H, d->kh, d->sh, d->ph, 1),
                   layer_window_out(W, d->kw, d->sw, d->pw, 1));
    return CNN_OK;
}

static void avgpool_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    avgpool_state *st = l->state;
    x->be->ops->pool_fwd(x->be, &st->d, in[0], out, NULL);
}

static void avgpool_backward(layer *l, const tensor *const *in, const tensor *out,
                             const tensor *dout, tensor *const *din, exec *x)
{
    (void)in;
    (void)out;
    avgpool_state *st = l->state;
    if (din[0])
        x->be->ops->pool_bwd(x->be, &st->d, dout, NULL, din[0]);
}

const layer_ops layer_avg_pool2d = {.type = "avg_pool2d", .min_in = 1, .max_in = 1,
                                    .parse = avgpool_parse, .infer = avgpool_infer,
                                    .forward = avgpool_forward, .backward = avgpool_backward};
