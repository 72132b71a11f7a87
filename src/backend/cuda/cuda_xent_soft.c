/* CUDA soft-target cross-entropy and argmax over channels (backend.h), the same semantics as
 * the CPU reference cpu_xent_soft.c; kernels in cuda_xent_soft.cu. The loss stays in a (1)
 * device tensor; the counted rows are counted on the device in forward and again in
 * backward (cuda_scratch does not survive other ops in between). argmax of a channels-last
 * (N, C, H, W) tensor reads it as (N*H*W, C) rows, whose pixel order is idx's (N, H, W). */
#include "cuda_impl.h"
#include "cuda_xent_soft_kernels.h"

static void expect_pair(const tensor *a, const tensor *b)
{
    CNN_ASSERT(a->s.nd == 2 && shape_eq(&a->s, &b->s));
}

static void cuda_xent_soft_fwd_op(backend *be, const tensor *logits, const tensor *target,
                                  tensor *prob, tensor *loss)
{
    CUDA_EXPECT_FLOAT(logits);
    CUDA_EXPECT(target, DTYPE_F32);
    CUDA_EXPECT(prob, DTYPE_F32);
    CUDA_EXPECT(loss, DTYPE_F32);
    expect_pair(logits, target);
    CNN_ASSERT(tensor_numel(prob) == tensor_numel(logits) && tensor_numel(loss) == 1);
    void *scratch = cuda_scratch(be, CUDA_XSOFT_SCRATCH);
    cuda_xent_soft_fwd(cuda_of(be)->stream, cuda_fcode(logits->dt), logits->s.d[0],
                       logits->s.d[1], logits->data, target->data, prob->data, scratch,
                       loss->data);
    CNN_CUDA_LAUNCHED("cuda_xent_soft_fwd");
}

static void cuda_xent_soft_bwd_op(backend *be, const tensor *prob, const tensor *target,
                                  const tensor *dloss, tensor *dlogits)
{
    CUDA_EXPECT(prob, DTYPE_F32);
    CUDA_EXPECT(target, DTYPE_F32);
    CUDA_EXPECT(dloss, DTYPE_F32);
    CUDA_EXPECT_FLOAT(dlogits);
    expect_pair(prob, target);
    CNN_ASSERT(tensor_numel(dlogits) == tensor_numel(prob) && tensor_numel(dloss) >= 1);
    void *scratch = cuda_scratch(be, CUDA_XSOFT_SCRATCH);
    cuda_xent_soft_bwd(cuda_of(be)->stream, cuda_fcode(dlogits->dt), prob->s.d[0],
                       prob->s.d[1], prob->data, target->data, dloss->data, scratch,
                       dlogits->data);
    CNN_CUDA_LAUNCHED("cuda_xent_soft_bwd");
}

static void cuda_argmax_channel_op(backend *be, const tensor *x, tensor *idx)
{
    CUDA_EXPECT_FLOAT(x);
    CUDA_EXPECT(idx, DTYPE_I32);
    CNN_ASSERT(x->s.nd >= 2);
    int64_t n = x->s.d[0], c = x->s.d[1], hw = shape_inner(&x->s, 2);
    CNN_ASSERT(tensor_numel(idx) == n * hw);
    if (tensor_is_nhwc(x)) {
        n *= hw;
        hw = 1;
    }
    cuda_argmax_channel(cuda_of(be)->stream, cuda_fcode(x->dt), n, c, hw, x->data, idx->data);
    CNN_CUDA_LAUNCHED("cuda_argmax_channel");
}

void cuda_install_xent_soft(backend_ops *ops)
{
    ops->xent_soft_fwd = cuda_xent_soft_fwd_op;
    ops->xent_soft_bwd = cuda_xent_soft_bwd_op;
    ops->argmax_channel = cuda_argmax_channel_op;
}
