/* Mean squared error (denoising), as torch.nn.functional.mse_loss with reduction 'mean':
 * inputs pred and target, f32 of the same shape, output (1). The target gets a gradient
 * too when it asks for one (PyTorch: d/dtarget = -d/dpred), computed by swapping the
 * arguments of the backend's mse_bwd. */
#include "layers.h"

static int mse_parse(layer *l, const cfg_node *n, cnn_err *e)
{
    static const char *const none[] = {NULL};
    (void)l;
    return cfg_check_keys(n, none, layer_common_keys, e);
}

static int mse_infer(layer *l, cnn_err *e)
{
    char a[96], b[96];
    if (!dtype_is_float(l->in_dt[0]))
        return LAYER_ERR(l, e, "input 0 (pred) must be f32, f16 or bf16, got %s",
                         dtype_name(l->in_dt[0]));
    if (l->in_dt[1] != DTYPE_F32)
        return LAYER_ERR(l, e, "input 1 (target) must be f32, got %s", dtype_name(l->in_dt[1]));
    if (!shape_eq(&l->in[0], &l->in[1]))
        return LAYER_ERR(l, e, "pred has shape %s but target has shape %s; they must be equal",
                         shape_str(&l->in[0], a, sizeof a), shape_str(&l->in[1], b, sizeof b));
    l->out = SHAPE(1);
    l->out_dt = DTYPE_F32;
    return CNN_OK;
}

static void mse_forward(layer *l, const tensor *const *in, tensor *out, exec *x)
{
    (void)l;
    x->be->ops->mse_fwd(x->be, in[0], in[1], out);
}

static void mse_backward(layer *l, const tensor *const *in, const tensor *out,
                         const tensor *dout, tensor *const *din, exec *x)
{
    (void)l;
    (void)out;
    if (din[0])
        x->be->ops->mse_bwd(x->be, in[0], in[1], dout, din[0]);
    if (din[1])
        x->be->ops->mse_bwd(x->be, in[1], in[0], dout, din[1]);
}

static void mse_loss(const layer *l, loss_decl *d)
{
    (void)l;
    *d = (loss_decl){.target = LOSS_DENSE, .ignore_index = -100};
}

const layer_ops layer_mse_loss = {.type = "mse_loss", .min_in = 2, .max_in = 2,
                                  .parse = mse_parse, .infer = mse_infer,
                                  .forward = mse_forward, .backward = mse_backward,
                                  .loss = mse_loss};
