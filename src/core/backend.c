/* Backend helpers shared by every implementation and caller. */
#include "backend.h"

#include <stdio.h>

#define OPS_LIST(X)                                                                      \
    X(destroy) X(alloc) X(free) X(copy) X(sync) X(host_alloc) X(host_free) X(fill) X(convert) X(scale_by) X(axpby) X(add) X(channel_copy)  \
    X(act_fwd) X(act_bwd) X(dropout_fwd) X(dropout_bwd) X(gemm) X(bias_add) X(bias_grad) \
    X(conv_fwd) X(conv_bwd_data) X(conv_bwd_filter) X(pool_fwd) X(pool_bwd)              \
    X(unpool_fwd) X(unpool_bwd) X(upsample_fwd) X(upsample_bwd) X(norm_stats)            \
    X(norm_apply) X(norm_bwd_reduce) X(norm_bwd_data) X(norm_stats_sums) X(xent_fwd)     \
    X(xent_bwd) X(mse_fwd) X(mse_bwd)                                          \
    X(sumsq) X(grad_coef) X(loss_scale_update) X(sgd_update) X(adamw_update)                        \
    X(xent_soft_fwd) X(xent_soft_bwd) X(argmax_channel)

int backend_check_complete(const backend_ops *ops, cnn_err *e)
{
#define CHECK_OP(op)                                                                     \
    if (!ops->op)                                                                        \
        return CNN_ERR(e, CNN_ENOTSUP, "backend '%s' does not implement '%s'; this build " \
                       "cannot run on it (use device: cpu)", ops->name, #op);
    OPS_LIST(CHECK_OP)
#undef CHECK_OP
    return CNN_OK;
}

void backend_destroy(backend *be)
{
    if (be)
        be->ops->destroy(be);
}

int backend_alloc_tensor(backend *be, tensor *t, cnn_err *e)
{
    t->dev = be->ops->dev;
    t->data = NULL;
    return be->ops->alloc(be, tensor_bytes(t), &t->data, e);
}

void backend_free_tensor(backend *be, tensor *t)
{
    if (t && t->data) {
        be->ops->free(be, t->data);
        t->data = NULL;
    }
}

void backend_upload(backend *be, tensor *t, const void *host)
{
    be->ops->copy(be, t->data, t->dev, host, DEVICE_CPU, tensor_bytes(t));
}

void backend_download(backend *be, const tensor *t, void *host)
{
    be->ops->copy(be, host, DEVICE_CPU, t->data, t->dev, tensor_bytes(t));
    be->ops->sync(be);
}

void backend_same_layout(const char *be_name, const char *fn, const char *an, const tensor *a,
                         const char *bn, const tensor *b)
{
    if (a && b && a->s.nd == 4 && b->s.nd == 4 && a->lay != b->lay)
        cnn_fatal("%s backend: %s: 4-d tensors '%s' (%s) and '%s' (%s) differ in layout; every "
                  "4-d tensor of one op shares one layout, only convert changes it", be_name, fn,
                  an, layout_name(a->lay), bn, layout_name(b->lay));
}
