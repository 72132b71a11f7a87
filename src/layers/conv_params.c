/* Keys, checks, slots and init shared by conv2d, conv_transpose2d (and linear's slots and
 * init), see conv_params.h. Values are bounded at parse time so that every window product
 * (dilation * (kernel - 1), stride * rows) stays far inside int64 and conv_desc's ints. */
#include "conv_params.h"

#include <math.h>

#define CONV_MAX_WINDOW 65536     /* kernel, stride, pad, dilation, output_pad */
#define CONV_MAX_CHANNELS 16777216 /* out, groups */

static const char *key_where(const cfg_node *n, const char *key, char *w, int len)
{
    const cfg_node *v = cfg_get(n, key);
    return cfg_where(v ? v : n, w, len);
}

static int check_pair(layer *l, const cfg_node *n, const char *key, const int64_t v[2],
                      int64_t lo, cnn_err *e)
{
    if (v[0] >= lo && v[1] >= lo && v[0] <= CONV_MAX_WINDOW && v[1] <= CONV_MAX_WINDOW)
        return CNN_OK;
    char w[256], b[64];
    return LAYER_ERR(l, e, "%s: %s=%s must be between %lld and %d", key_where(n, key, w, 256),
                     key, layer_pair_str(v, b, sizeof b), (long long)lo, CONV_MAX_WINDOW);
}

static int check_channels(layer *l, const cfg_node *n, const conv_params *cp, cnn_err *e)
{
    char w[256];
    if (cp->out < 1 || cp->out > CONV_MAX_CHANNELS)
        return LAYER_ERR(l, e, "%s: out=%lld must be between 1 and %d",
                         key_where(n, "out", w, 256), (long long)cp->out, CONV_MAX_CHANNELS);
    if (cp->groups < 1 || cp->groups > CONV_MAX_CHANNELS)
        return LAYER_ERR(l, e, "%s: groups=%lld must be between 1 and %d",
                         key_where(n, "groups", w, 256), (long long)cp->groups,
                         CONV_MAX_CHANNELS);
    if (cp->out % cp->groups)
        return LAYER_ERR(l, e, "%s: out=%lld is not divisible by groups=%lld",
                         key_where(n, "groups", w, 256), (long long)cp->out,
                         (long long)cp->groups);
    return CNN_OK;
}

/* As PyTorch: each output_pad must be smaller than the stride or the dilation. */
static int check_output_pad(layer *l, const cfg_node *n, const conv_params *cp, cnn_err *e)
{
    CNN_TRY(e, check_pair(l, n, "output_pad", cp->opad, 0, e));
    for (int i = 0; i < 2; i++)
        if (cp->opad[i] >= cp->s[i] && cp->opad[i] >= cp->dil[i]) {
            char w[256], a[64], b[64], c[64];
            return LAYER_ERR(l, e, "%s: output_pad=%s must be smaller than stride=%s or "
                             "dilation=%s in each dimension",
                             key_where(n, "output_pad", w, 256), layer_pair_str(cp->opad, a, 64),
                             layer_pair_str(cp->s, b, 64), layer_pair_str(cp->dil, c, 64));
        }
    return CNN_OK;
}

int conv_params_parse(layer *l, const cfg_node *n, bool transposed, conv_params *cp,
                      cnn_err *e)
{
    static const char *const keys[] = {"out", "kernel", "stride", "pad", "dilation",
                                       "groups", "bias", NULL};
    static const char *const tkeys[] = {"out", "kernel", "stride", "pad", "dilation",
                                        "groups", "bias", "output_pad", NULL};
    CNN_TRY(e, cfg_check_keys(n, transposed ? tkeys : keys, layer_common_keys, e));
    CNN_TRY(e, cfg_int(n, "out", true, 0, &cp->out, e));
    CNN_TRY(e, cfg_int2(n, "kernel", true, 0, cp->k, e));
    CNN_TRY(e, cfg_int2(n, "stride", false, 1, cp->s, e));
    CNN_TRY(e, cfg_int2(n, "pad", false, 0, cp->p, e));
    CNN_TRY(e, cfg_int2(n, "dilation", false, 1, cp->dil, e));
    CNN_TRY(e, cfg_int2(n, "output_pad", false, 0, cp->opad, e));
    CNN_TRY(e, cfg_int(n, "groups", false, 1, &cp->groups, e));
    CNN_TRY(e, cfg_bool(n, "bias", false, true, &cp->bias, e));
    CNN_TRY(e, check_channels(l, n, cp, e));
    CNN_TRY(e, check_pair(l, n, "kernel", cp->k, 1, e));
    CNN_TRY(e, check_pair(l, n, "stride", cp->s, 1, e));
    CNN_TRY(e, check_pair(l, n, "pad", cp->p, 0, e));
    CNN_TRY(e, check_pair(l, n, "dilation", cp->dil, 1, e));
    if (transposed)
        CNN_TRY(e, check_output_pad(l, n, cp, e));
    return CNN_OK;
}

conv_desc conv_params_desc(const conv_params *cp)
{
    conv_desc d = {.pad_h = (int)cp->p[0], .pad_w = (int)cp->p[1],
                   .stride_h = (int)cp->s[0], .stride_w = (int)cp->s[1],
                   .dil_h = (int)cp->dil[0], .dil_w = (int)cp->dil[1],
                   .groups = (int)cp->groups};
    return d;
}

int conv_params_check_input(layer *l, const conv_params *cp, cnn_err *e)
{
    char b[96];
    CNN_TRY(e, layer_expect_input(l, 0, LAYER_RANK(4), "4-d (N, C, H, W)", e));
    if (l->in[0].d[1] % cp->groups)
        return LAYER_ERR(l, e, "input channels C=%lld (input %s) are not divisible by "
                         "groups=%lld", (long long)l->in[0].d[1],
                         shape_str(&l->in[0], b, sizeof b), (long long)cp->groups);
    return CNN_OK;
}

int conv_params_declare(layer *l, shape ws, bool bias, int64_t bias_len, cnn_err *e)
{
    layer_slot *old = layer_slot_find(l, "weight");
    if (old && !shape_eq(&old->t.s, &ws)) {
        char a[96], b[96], c[96];
        return LAYER_ERR(l, e, "input %s needs a weight of shape %s, but the layer was built "
                         "with %s; parameters cannot change shape",
                         shape_str(&l->in[0], a, sizeof a), shape_str(&ws, b, sizeof b),
                         shape_str(&old->t.s, c, sizeof c));
    }
    /* Working weights in the activations' precision (the net keeps f32 masters). */
    layer_declare(l, "weight", SLOT_PARAM, l->in_dt[0], ws);
    if (bias)
        layer_declare(l, "bias", SLOT_PARAM, l->in_dt[0], SHAPE(bias_len))->no_decay = true;
    return CNN_OK;
}

void conv_params_init(layer *l, backend *be, rng_key key, int64_t fan_in)
{
    float bound = (float)(1.0 / sqrt((double)fan_in));
    layer_fill_uniform(be, layer_slot_t(l, "weight"), key, -bound, bound);
    if (layer_slot_find(l, "bias"))
        layer_fill_uniform(be, layer_slot_t(l, "bias"), rng_fold(key, 1), -bound, bound);
}

tensor *conv_params_grad(layer *l, const char *name)
{
    layer_slot *s = layer_slot_find(l, name);
    if (!s || !s->grad.data)
        cnn_fatal("layer '%s' (%s): gradient of '%s' is %s", l->name, l->ops->type, name,
                  s ? "not bound to memory" : "not declared");
    return &s->grad;
}

int64_t conv_params_macs(int64_t numel, int64_t per_elem)
{
    if (per_elem > 0 && numel > INT64_MAX / per_elem)
        return INT64_MAX;
    return numel * per_elem;
}
