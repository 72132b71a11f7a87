/* Keys, checks, output shape, forward and backward shared by the pooling layers, see
 * pool_params.h. Kernel and stride are bounded at parse time so that pool_desc's ints and
 * every window product stay far inside their types. */
#include "pool_params.h"

int pool_params_check_range(layer *l, const char *key, const int64_t v[2], cnn_err *e)
{
    if (v[0] >= 1 && v[1] >= 1 && v[0] <= POOL_MAX_DIM && v[1] <= POOL_MAX_DIM)
        return CNN_OK;
    char b[48];
    return LAYER_ERR(l, e, "%s=%s must be between 1 and %d", key,
                     layer_pair_str(v, b, sizeof b), POOL_MAX_DIM);
}

int pool_params_parse(layer *l, const cfg_node *n, pool_desc *d, cnn_err *e)
{
    int64_t k[2], s[2], p[2];
    CNN_TRY(e, cfg_int2(n, "kernel", true, 0, k, e));
    CNN_TRY(e, cfg_int2(n, "stride", false, 0, s, e));
    CNN_TRY(e, cfg_int2(n, "pad", false, 0, p, e));
    if (!cfg_get(n, "stride"))
        s[0] = k[0], s[1] = k[1];
    CNN_TRY(e, pool_params_check_range(l, "kernel", k, e));
    CNN_TRY(e, pool_params_check_range(l, "stride", s, e));
    for (int i = 0; i < 2; i++)
        if (p[i] < 0 || p[i] > k[i] / 2) {
            char b[2][48];
            return LAYER_ERR(l, e, "pad=%s must be >= 0 and at most half the kernel (kernel=%s),"
                             " as in PyTorch", layer_pair_str(p, b[0], sizeof b[0]),
                             layer_pair_str(k, b[1], sizeof b[1]));
        }
    d->kh = (int)k[0], d->kw = (int)k[1];
    d->sh = (int)s[0], d->sw = (int)s[1];
    d->ph = (int)p[0], d->pw = (int)p[1];
    return CNN_OK;
}

static int check_plane(layer *l, const char *why, cnn_err *e)
{
    int64_t H = l->in[0].d[2], W = l->in[0].d[3];
    if (H * W > INT32_MAX)
        return LAYER_ERR(l, e, "input plane %lldx%lld is too large %s", (long long)H,
                         (long long)W, why);
    return CNN_OK;
}

int pool_params_check_input(layer *l, const char *why, cnn_err *e)
{
    CNN_TRY(e, layer_expect_nchw(l, e));
    return check_plane(l, why, e);
}

int pool_params_infer(layer *l, const pool_desc *d, const char *why, cnn_err *e)
{
    CNN_TRY(e, layer_expect_nchw(l, e));
    const shape *in = &l->in[0];
    int64_t H = in->d[2], W = in->d[3];
    if (H + 2 * d->ph < d->kh || W + 2 * d->pw < d->kw)
        return LAYER_ERR(l, e, "kernel %dx%d is larger than the padded input %lldx%lld (input "
                         "%lldx%lld, pad %dx%d); use a smaller kernel or a larger input",
                         d->kh, d->kw, (long long)(H + 2 * d->ph), (long long)(W + 2 * d->pw),
                         (long long)H, (long long)W, d->ph, d->pw);
    CNN_TRY(e, check_plane(l, why, e));
    l->out = SHAPE(in->d[0], in->d[1], layer_window_out(H, d->kh, d->sh, d->ph, 1),
                   layer_window_out(W, d->kw, d->sw, d->pw, 1));
    return CNN_OK;
}

static tensor *pool_indices(layer *l, const pool_desc *d)
{
    return d->kind == POOL_MAX ? layer_slot_t(l, "indices") : NULL;
}

void pool_params_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    const pool_desc *d = l->state;
    x->be->ops->pool_fwd(x->be, d, in[0], out, pool_indices(l, d));
}

void pool_params_backward(layer *l, const tensor *const *in, const tensor *out,
                          const tensor *dout, tensor *const *din, exec *x)
{
    (void)in;
    (void)out;
    const pool_desc *d = l->state;
    if (din[0])
        x->be->ops->pool_bwd(x->be, d, dout, pool_indices(l, d), din[0]);
}

void pool_params_describe(const layer *l, layer_info *info)
{
    const pool_desc *d = l->state;
    *info = layer_info_pointwise();
    info->kh = d->kh, info->kw = d->kw;
    info->sh = d->sh, info->sw = d->sw;
}
