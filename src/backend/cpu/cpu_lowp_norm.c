/* The f16/bf16 and channels-last wrappers (cpu_lowp.h) of normalisation, losses and argmax.
 * Their statistics, scales, probabilities, targets and losses are f32 by contract and pass
 * through as they are (a per-pixel softmax in NHWC is transposed, not converted); only x, y,
 * dy, dx, logits, pred and their gradients are converted. mse's target is
 * taken in any float dtype: the mse layer's gradient for its target swaps the operands, so
 * the low-precision pred arrives as `target`. */
#include "cpu_lowp.h"

static void w_norm_stats(backend *be, norm_mode m, const tensor *x, tensor *mean, tensor *var)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "norm_stats", x)) {
        F32->norm_stats(be, m, x, mean, var);
        return;
    }
    F32->norm_stats(be, m, IN(x), mean, var);
}

static void w_norm_apply(backend *be, norm_mode m, const tensor *x, const tensor *mean,
                         const tensor *var, float eps, const tensor *gamma, const tensor *beta,
                         tensor *y)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "norm_apply", x)) {
        F32->norm_apply(be, m, x, mean, var, eps, gamma, beta, y);
        return;
    }
    tensor *xv = IN(x), *yv = OUT(y);
    F32->norm_apply(be, m, xv, mean, var, eps, gamma, beta, yv);
    lowp_done(y, yv);
}

static void w_norm_bwd_reduce(backend *be, norm_mode m, const tensor *dy, const tensor *x,
                              const tensor *mean, const tensor *var, float eps, tensor *sum_dy,
                              tensor *sum_dy_xhat)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "norm_bwd_reduce", dy)) {
        F32->norm_bwd_reduce(be, m, dy, x, mean, var, eps, sum_dy, sum_dy_xhat);
        return;
    }
    tensor *dyv = IN(dy), *xv = IN(x);
    F32->norm_bwd_reduce(be, m, dyv, xv, mean, var, eps, sum_dy, sum_dy_xhat);
}

static void w_norm_bwd_data(backend *be, norm_mode m, const tensor *dy, const tensor *x,
                            const tensor *mean, const tensor *var, float eps,
                            const tensor *gamma, const tensor *sum_dy,
                            const tensor *sum_dy_xhat, double count, bool batch_stats,
                            tensor *dx)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "norm_bwd_data", dy)) {
        F32->norm_bwd_data(be, m, dy, x, mean, var, eps, gamma, sum_dy, sum_dy_xhat, count,
                           batch_stats, dx);
        return;
    }
    tensor *dyv = IN(dy), *xv = IN(x), *dxv = OUT(dx);
    F32->norm_bwd_data(be, m, dyv, xv, mean, var, eps, gamma, sum_dy, sum_dy_xhat, count,
                       batch_stats, dxv);
    lowp_done(dx, dxv);
}

static void w_xent_fwd(backend *be, const tensor *logits, const tensor *labels,
                       float smoothing, int ignore, tensor *prob, tensor *loss)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "xent_fwd", logits)) {
        F32->xent_fwd(be, logits, labels, smoothing, ignore, prob, loss);
        return;
    }
    tensor *lv = IN(logits), *pv = RAW(prob);
    F32->xent_fwd(be, lv, labels, smoothing, ignore, pv, loss);
    lowp_done(prob, pv);
}

static void w_xent_bwd(backend *be, const tensor *prob, const tensor *labels, float smoothing,
                       int ignore, const tensor *dloss, tensor *dlogits)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "xent_bwd", dlogits)) {
        F32->xent_bwd(be, prob, labels, smoothing, ignore, dloss, dlogits);
        return;
    }
    tensor *pv = RAW(prob), *dv = OUT(dlogits);
    F32->xent_bwd(be, pv, labels, smoothing, ignore, dloss, dv);
    lowp_done(dlogits, dv);
}

static void w_mse_fwd(backend *be, const tensor *pred, const tensor *target, tensor *loss)
{
    lowp c;
    bool low = lowp_begin(&c, be, "mse_fwd", pred);
    tensor *tv = ANY(target);
    F32->mse_fwd(be, low ? IN(pred) : pred, tv, loss);
}

static void w_mse_bwd(backend *be, const tensor *pred, const tensor *target,
                      const tensor *dloss, tensor *dpred)
{
    lowp c;
    bool low = lowp_begin(&c, be, "mse_bwd", pred);
    tensor *tv = ANY(target);
    if (!low) {
        F32->mse_bwd(be, pred, tv, dloss, dpred);
        return;
    }
    tensor *pv = IN(pred), *dv = OUT(dpred);
    F32->mse_bwd(be, pv, tv, dloss, dv);
    lowp_done(dpred, dv);
}

static void w_xent_soft_fwd(backend *be, const tensor *logits, const tensor *target,
                            tensor *prob, tensor *loss)
{
    lowp c;
    if (!lowp_begin(&c, be, "xent_soft_fwd", logits)) {
        F32->xent_soft_fwd(be, logits, target, prob, loss);
        return;
    }
    F32->xent_soft_fwd(be, IN(logits), target, prob, loss);
}

static void w_xent_soft_bwd(backend *be, const tensor *prob, const tensor *target,
                            const tensor *dloss, tensor *dlogits)
{
    lowp c;
    if (!lowp_begin(&c, be, "xent_soft_bwd", dlogits)) {
        F32->xent_soft_bwd(be, prob, target, dloss, dlogits);
        return;
    }
    tensor *dv = OUT(dlogits);
    F32->xent_soft_bwd(be, prob, target, dloss, dv);
    lowp_done(dlogits, dv);
}

static void w_argmax_channel(backend *be, const tensor *x, tensor *idx)
{
    lowp c;
    if (!lowp_begin_nchw(&c, be, "argmax_channel", x)) {
        F32->argmax_channel(be, x, idx);
        return;
    }
    F32->argmax_channel(be, IN(x), idx);
}

void cpu_lowp_install_norm(backend_ops *o)
{
    o->norm_stats = w_norm_stats;
    o->norm_apply = w_norm_apply;
    o->norm_bwd_reduce = w_norm_bwd_reduce;
    o->norm_bwd_data = w_norm_bwd_data;
    o->xent_fwd = w_xent_fwd;
    o->xent_bwd = w_xent_bwd;
    o->mse_fwd = w_mse_fwd;
    o->mse_bwd = w_mse_bwd;
    o->xent_soft_fwd = w_xent_soft_fwd;
    o->xent_soft_bwd = w_xent_soft_bwd;
    o->argmax_channel = w_argmax_channel;
}
