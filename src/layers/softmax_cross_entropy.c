/* Softmax cross-entropy over dim 1, as torch.nn.functional.cross_entropy with reduction
 * 'mean': logits f32 (N, C) with labels i32 (N), or per pixel (N, C, H, W) with labels
 * (N, H, W). Keys: label_smoothing (default 0, in [0, 1)) and ignore_index (default -100):
 * ignored labels are not counted. Unlike PyTorch, all labels ignored gives loss and gradient
 * 0, not NaN. Soft targets (mixup, CutMix; net_opts.soft_targets): f32 (N, C) targets for
 * (N, C) logits, the mean over rows whose targets sum to nonzero (padding rows are 0); the
 * keys are then not applied (mix_batch folds label_smoothing into the targets: the trainer
 * passes it there) and targets take no gradient (din[1] NULL). The softmax is saved. */
#include <limits.h>

#include "layers.h"

typedef struct xent_state {
    float smoothing;
    double smoothing_key; /* as written, for loss_decl (mixup builds targets in double) */
    int ignore;
    bool soft; /* set by infer: the target is f32 (N, C) probabilities */
} xent_state;

static int xent_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const keys[] = {"label_smoothing", "ignore_index", NULL};
    CNN_TRY(e, cfg_check_keys(n, keys, layer_common_keys, e));
    double eps;
    int64_t ignore;
    CNN_TRY(e, cfg_float(n, "label_smoothing", false, 0.0, &eps, e));
    CNN_TRY(e, cfg_int(n, "ignore_index", false, -100, &ignore, e));
    if (!(eps >= 0.0 && eps < 1.0))
        return LAYER_ERR(l, e, "label_smoothing=%g must be in [0, 1)", eps);
    if (ignore < INT32_MIN || ignore > INT32_MAX)
        return LAYER_ERR(l, e, "ignore_index=%lld does not fit a 32-bit label",
                         (long long)ignore);
    xent_state *st = cnn_xcalloc(1, sizeof *st);
    st->smoothing = (float)eps;
    st->smoothing_key = eps;
    st->ignore = (int)ignore;
    l->state = st;
    return CNN_OK;
}

/* Labels have the logits' shape without dimension 1 (the classes). */
static shape labels_shape(const shape *x)
{
    shape y = {.nd = x->nd - 1};
    y.d[0] = x->d[0];
    for (int k = 1; k < y.nd; k++)
        y.d[k] = x->d[k + 1];
    return y;
}

/* Soft targets: (N, C) logits and a target of the same shape. */
static int soft_infer(layer *l, cnn_err *e)
{
    char a[96], b[96];
    const shape *x = &l->in[0], *y = &l->in[1];
    if (x->nd != 2)
        return LAYER_ERR(l, e, "soft (f32) targets need (N, C) logits, got %s; per-pixel "
                         "logits take i32 labels (mixup and CutMix are for classifiers)",
                         shape_str(x, a, sizeof a));
    if (!shape_eq(x, y)) {
        shape want = labels_shape(x);
        char c[96];
        return LAYER_ERR(l, e, "input 1 must be i32 labels %s or f32 soft targets of the "
                         "logits' shape %s (one probability row per sample), got f32 %s",
                         shape_str(&want, c, sizeof c), shape_str(x, b, sizeof b),
                         shape_str(y, a, sizeof a));
    }
    ((xent_state *)l->state)->soft = true;
    l->out = SHAPE(1);
    layer_declare(l, "prob", SLOT_SAVED, DTYPE_F32, *x);
    return CNN_OK;
}

static int xent_infer(layer *l, cnn_err *e)
{
    char a[96], b[96];
    const shape *x = &l->in[0], *y = &l->in[1];
    if (!dtype_is_float(l->in_dt[0]))
        return LAYER_ERR(l, e, "input 0 (logits) must be f32, f16 or bf16, got %s",
                         dtype_name(l->in_dt[0]));
    l->out_dt = DTYPE_F32; /* the loss, whatever the logits' precision */
    ((xent_state *)l->state)->soft = false;
    if (l->in_dt[1] == DTYPE_F32)
        return soft_infer(l, e);
    if (l->in_dt[1] != DTYPE_I32)
        return LAYER_ERR(l, e, "input 1 (labels) must be i32 class indices (or f32 (N, C) "
                         "soft targets), got %s", dtype_name(l->in_dt[1]));
    if (x->nd < 2)
        return LAYER_ERR(l, e, "logits %s need at least 2 dimensions: (N, C) or (N, C, H, W)",
                         shape_str(x, a, sizeof a));
    if (x->d[1] > INT32_MAX)
        return LAYER_ERR(l, e, "%lld classes exceed the limit of %d", (long long)x->d[1],
                         INT32_MAX);
    shape want = labels_shape(x);
    if (!shape_eq(y, &want)) {
        char c[96];
        return LAYER_ERR(l, e, "labels have shape %s but logits %s need labels %s (one class "
                         "index per sample or pixel: (N) for (N, C), (N, H, W) for (N, C, H, W))",
                         shape_str(y, a, sizeof a), shape_str(x, b, sizeof b),
                         shape_str(&want, c, sizeof c));
    }
    l->out = SHAPE(1);
    layer_declare(l, "prob", SLOT_SAVED, DTYPE_F32, *x);
    return CNN_OK;
}

static void xent_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    xent_state *st = l->state;
    if (st->soft)
        x->be->ops->xent_soft_fwd(x->be, in[0], in[1], layer_slot_t(l, "prob"), out);
    else
        x->be->ops->xent_fwd(x->be, in[0], in[1], st->smoothing, st->ignore,
                             layer_slot_t(l, "prob"), out);
}

static void xent_backward(layer *l, const tensor *const *in, const tensor *out,
                          const tensor *dout, tensor *const *din, exec *x)
{
    (void)out;
    xent_state *st = l->state;
    if (din[1])
        cnn_fatal("layer '%s' (%s): the target was given a gradient tensor; targets take none "
                  "(pass NULL)", l->name, l->ops->type);
    if (din[0] && st->soft)
        x->be->ops->xent_soft_bwd(x->be, layer_slot_t(l, "prob"), in[1], dout, din[0]);
    else if (din[0])
        x->be->ops->xent_bwd(x->be, layer_slot_t(l, "prob"), in[1], st->smoothing, st->ignore,
                             dout, din[0]);
}

static void xent_loss(const layer *l, loss_decl *d)
{
    const xent_state *st = l->state;
    *d = (loss_decl){.target = LOSS_LABELS, .soft_targets = true, .ignore_index = st->ignore,
                     .label_smoothing = st->smoothing_key};
}

const layer_ops layer_softmax_cross_entropy = {
    .type = "softmax_cross_entropy", .min_in = 2, .max_in = 2, .parse = xent_parse,
    .infer = xent_infer, .forward = xent_forward, .backward = xent_backward,
    .loss = xent_loss};
