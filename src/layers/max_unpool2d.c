/* Max unpooling with the argmax of a named max_pool2d layer (SegNet's decoder), like
 * F.max_unpool2d(x, indices, output_size=<the pool's input size>). Key `indices: <name of a
 * max_pool2d layer>` (l->ref once the owner resolves it). The input must have the pool's
 * output shape; the output has the pool's input shape. With overlapping pooling windows two
 * outputs may share an argmax: the later one wins, as in PyTorch's CPU kernel. */
#include <stdio.h>
#include <string.h>

#include "layers.h"

static int unpool_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const keys[] = {"indices", NULL};
    CNN_TRY(e, cfg_check_keys(n, keys, layer_common_keys, e));
    const char *ref;
    CNN_TRY(e, cfg_str(n, "indices", true, NULL, &ref, e));
    if (!ref[0] || strlen(ref) >= LAYER_NAME_MAX)
        return LAYER_ERR(l, e, "indices: '%s' must name a max_pool2d layer (1 to %d "
                         "characters)", ref, LAYER_NAME_MAX - 1);
    snprintf(l->ref_name, sizeof l->ref_name, "%s", ref);
    return CNN_OK;
}

static int unpool_infer(layer *l, cnn_err *e)
{
    char a[96], b[96];
    if (!l->ref)
        return LAYER_ERR(l, e, "indices: '%s' is not a layer before this one; max_unpool2d "
                         "needs the max_pool2d layer whose argmax it uses", l->ref_name);
    if (strcmp(l->ref->ops->type, "max_pool2d") != 0)
        return LAYER_ERR(l, e, "indices: '%s' is a layer of type %s; it must name a max_pool2d "
                         "layer",
                         l->ref_name, l->ref->ops->type);
    CNN_TRY(e, layer_expect_float(l, 0, e));
    if (!shape_eq(&l->in[0], &l->ref->out))
        return LAYER_ERR(l, e, "input %s does not match the output %s of max_pool2d '%s' "
                         "whose indices it uses", shape_str(&l->in[0], a, sizeof a),
                         shape_str(&l->ref->out, b, sizeof b), l->ref_name);
    l->out = l->ref->in[0];
    return CNN_OK;
}

static void unpool_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    x->be->ops->unpool_fwd(x->be, in[0], layer_slot_t(l->ref, "indices"), out);
}

static void unpool_backward(layer *l, const tensor *const *in, const tensor *out,
                            const tensor *dout, tensor *const *din, exec *x)
{
    (void)in;
    (void)out;
    if (din[0])
        x->be->ops->unpool_bwd(x->be, dout, layer_slot_t(l->ref, "indices"), din[0]);
}

/* Each output takes one input value, on a grid as much finer as the pool's stride. */
static void unpool_describe(const layer *l, layer_info *info)
{
    *info = layer_info_pointwise();
    if (l->ref && l->ref->ops->describe) {
        layer_info pool;
        l->ref->ops->describe(l->ref, &pool);
        info->up_h = pool.sh, info->up_w = pool.sw;
    }
}

const layer_ops layer_max_unpool2d = {.type = "max_unpool2d", .min_in = 1, .max_in = 1,
                                      .parse = unpool_parse, .infer = unpool_infer,
                                      .forward = unpool_forward, .backward = unpool_backward,
                                      .describe = unpool_describe};
