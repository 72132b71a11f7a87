/* CUDA optimizer ops: operand checks and host scalars here, kernels in cuda_optim.cu, all
 * on the backend's stream with no host round trip (the gradient multiplier and the skip
 * flag stay in device memory). Semantics are those of the CPU reference (cpu_optim.c). */
#include <math.h>

#include "cuda_impl.h"
#include "cuda_optim_kernels.h"

static void cuda_sumsq_op(backend *be, const tensor *x, tensor *out, float beta)
{
    CUDA_EXPECT(x, DTYPE_F32);
    CUDA_EXPECT(out, DTYPE_F32);
    CNN_ASSERT(tensor_numel(out) == 1);
    double *scratch = cuda_scratch(be, CUDA_OPTIM_RED_BLOCKS * sizeof(double));
    cuda_optim_sumsq(cuda_of(be)->stream, tensor_numel(x), x->data, scratch, out->data, beta);
    CNN_CUDA_LAUNCHED("cuda_optim_sumsq");
}

static void cuda_grad_coef_op(backend *be, const tensor *sumsq, float max_norm,
                              const tensor *scale, tensor *coef)
{
    CUDA_EXPECT(sumsq, DTYPE_F32);
    CUDA_EXPECT(coef, DTYPE_F32);
    CNN_ASSERT(tensor_numel(sumsq) == 1 && tensor_numel(coef) == 2);
    if (scale) {
        CUDA_EXPECT(scale, DTYPE_F32);
        CNN_ASSERT(tensor_numel(scale) >= 1);
    }
    cuda_optim_grad_coef(cuda_of(be)->stream, sumsq->data, max_norm,
                         scale ? scale->data : NULL, coef->data);
    CNN_CUDA_LAUNCHED("cuda_optim_grad_coef");
}

static void cuda_loss_scale_update_op(backend *be, tensor *scale, const tensor *coef,
                                      float growth, float backoff, int interval)
{
    CUDA_EXPECT(scale, DTYPE_F32);
    CUDA_EXPECT(coef, DTYPE_F32);
    CNN_ASSERT(tensor_numel(scale) == 2 && tensor_numel(coef) == 2 && interval >= 1);
    cuda_optim_loss_scale_update(cuda_of(be)->stream, scale->data, coef->data, growth, backoff,
                                 interval);
    CNN_CUDA_LAUNCHED("cuda_optim_loss_scale_update");
}

static const float *coef_ptr(const tensor *coef)
{
    if (!coef)
        return NULL;
    CUDA_EXPECT(coef, DTYPE_F32);
    CNN_ASSERT(tensor_numel(coef) == 2);
    return coef->data;
}

static void cuda_sgd_update_op(backend *be, tensor *w, const tensor *g, tensor *mom,
                               const optim_sgd_args *a, const tensor *coef)
{
    CUDA_EXPECT(w, DTYPE_F32);
    CUDA_EXPECT(g, DTYPE_F32);
    int64_t n = tensor_numel(w);
    CNN_ASSERT(tensor_numel(g) == n);
    float *mp = NULL;
    if (a->momentum != 0.0f) {
        CUDA_EXPECT(mom, DTYPE_F32);
        CNN_ASSERT(tensor_numel(mom) == n);
        mp = mom->data;
    }
    if (n == 0)
        return;
    cuda_optim_sgd(cuda_of(be)->stream, n, w->data, g->data, mp, a->lr, a->momentum,
                   a->weight_decay, a->nesterov, a->first, coef_ptr(coef));
    CNN_CUDA_LAUNCHED("cuda_optim_sgd");
}

static void cuda_adamw_update_op(backend *be, tensor *w, const tensor *g, tensor *m, tensor *v,
                                 const optim_adamw_args *a, const tensor *coef)
{
    CUDA_EXPECT(w, DTYPE_F32);
    CUDA_EXPECT(g, DTYPE_F32);
    CUDA_EXPECT(m, DTYPE_F32);
    CUDA_EXPECT(v, DTYPE_F32);
    int64_t n = tensor_numel(w);
    CNN_ASSERT(tensor_numel(g) == n && tensor_numel(m) == n && tensor_numel(v) == n);
    CNN_ASSERT(a->step >= 1);
    if (n == 0)
        return;
    /* The same host scalars as cpu_optim.c, so both backends round identically. */
    float decay = (float)(1.0 - (double)a->lr * a->weight_decay);
    float step_size = (float)(a->lr / (1.0 - pow(a->beta1, (double)a->step)));
    float bc2_sqrt = (float)sqrt(1.0 - pow(a->beta2, (double)a->step));
    float k1 = (float)(1.0 - (double)a->beta1), k2 = (float)(1.0 - (double)a->beta2);
    cuda_optim_adamw(cuda_of(be)->stream, n, w->data, g->data, m->data, v->data, decay,
                     step_size, bc2_sqrt, a->beta1, a->beta2, k1, k2, a->eps, coef_ptr(coef));
    CNN_CUDA_LAUNCHED("cuda_optim_adamw");
}

void cuda_install_optim(backend_ops *ops)
{
    ops->sumsq = cuda_sumsq_op;
    ops->grad_coef = cuda_grad_coef_op;
    ops->loss_scale_update = cuda_loss_scale_update_op;
    ops->sgd_update = cuda_sgd_update_op;
    ops->adamw_update = cuda_adamw_update_op;
}
