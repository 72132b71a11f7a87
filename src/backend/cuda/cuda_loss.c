/* CUDA losses (backend.h "losses"), the same semantics as the CPU reference cpu_loss.c:
 * softmax cross-entropy over dim 1 with label smoothing and ignore index, and mean squared
 * error. The loss stays in a (1) device tensor; the counted pixels are counted on the device
 * in forward and again in backward (cuda_scratch does not survive other ops in between).
 * Logits and predictions (and their gradients) may be f16/bf16, prob and losses stay f32; mse
 * takes a target of any float dtype (the layer swaps pred and target for d/dtarget).
 * Known cost (TODO(#3)): a label outside [0, C) that is not the ignore index is flagged on
 * the device, and xent_fwd waits for the stream to read that flag, one small sync per step.
 * Channels-last logits (N, C, H, W) are (N*H*W, C) rows with the pixels in label order, so
 * the per-pixel loss runs the classification kernels (a warp per pixel); mse is pointwise. */
#include "cuda_impl.h"
#include "cuda_loss_kernels.h"

/* other: prob or dlogits, stored as the logits are. */
static cuda_xent_geom xent_geometry(const tensor *logits, const tensor *labels,
                                    const tensor *other)
{
    CNN_ASSERT(logits->s.nd >= 2);
    CUDA_SAME_LAYOUT(logits, other);
    cuda_xent_geom g = {.n = logits->s.d[0], .c = logits->s.d[1],
                        .hw = shape_inner(&logits->s, 2)};
    CNN_ASSERT(tensor_numel(labels) == g.n * g.hw);
    if (tensor_is_nhwc(logits)) { /* pixel q = n*H*W + hw is row q of (N*H*W, C) */
        g.n *= g.hw;
        g.hw = 1;
    }
    return g;
}

/* Reads the device's bad-label flag (waits for the stream) and fails with cpu_loss.c's
 * message when a label was outside [0, C) in this or an earlier cross-entropy call. */
static void xent_check_labels(backend *be, const tensor *logits, const tensor *labels,
                              int ignore)
{
    cudaStream_t st = cuda_of(be)->stream;
    long long q;
    CNN_CUDA(cuda_xent_bad_label(st, &q));
    if (q < 0)
        return;
    int32_t y = 0;
    if (q < tensor_numel(labels)) {
        CNN_CUDA(cudaMemcpyAsync(&y, (const int32_t *)labels->data + q, sizeof y,
                                 cudaMemcpyDeviceToHost, st));
        CNN_CUDA(cudaStreamSynchronize(st));
    }
    const shape *s = &logits->s;
    int64_t hw = shape_inner(s, 2), c = s->d[1];
    if (hw == 1)
        cnn_fatal("cross-entropy: label %d of sample %lld is outside [0, %lld) and is not the "
                  "ignore index %d; check the dataset's labels against the number of classes",
                  (int)y, q, (long long)c, ignore);
    long long n = q / hw, p = q % hw, w = s->d[s->nd - 1];
    cnn_fatal("cross-entropy: label %d at sample %lld, pixel %lld (row %lld, column %lld) is "
              "outside [0, %lld) and is not the ignore index %d; check the dataset's masks "
              "against the number of classes", (int)y, n, p, p / w, p % w, (long long)c,
              ignore);
}

static void cuda_xent_fwd_op(backend *be, const tensor *logits, const tensor *labels,
                             float smoothing, int ignore, tensor *prob, tensor *loss)
{
    CUDA_EXPECT_FLOAT(logits);
    CUDA_EXPECT(labels, DTYPE_I32);
    CUDA_EXPECT(prob, DTYPE_F32);
    CUDA_EXPECT(loss, DTYPE_F32);
    cuda_xent_geom g = xent_geometry(logits, labels, prob);
    CNN_ASSERT(tensor_numel(prob) == tensor_numel(logits) && tensor_numel(loss) == 1);
    void *scratch = cuda_scratch(be, CUDA_LOSS_SCRATCH);
    cuda_xent_fwd(cuda_of(be)->stream, cuda_fcode(logits->dt), g, logits->data, labels->data,
                  smoothing, ignore, prob->data, scratch, loss->data);
    CNN_CUDA_LAUNCHED("cuda_xent_fwd");
    xent_check_labels(be, logits, labels, ignore);
}

static void cuda_xent_bwd_op(backend *be, const tensor *prob, const tensor *labels,
                             float smoothing, int ignore, const tensor *dloss, tensor *dlogits)
{
    CUDA_EXPECT(prob, DTYPE_F32);
    CUDA_EXPECT(labels, DTYPE_I32);
    CUDA_EXPECT(dloss, DTYPE_F32);
    CUDA_EXPECT_FLOAT(dlogits);
    cuda_xent_geom g = xent_geometry(prob, labels, dlogits);
    CNN_ASSERT(tensor_numel(dlogits) == tensor_numel(prob) && tensor_numel(dloss) >= 1);
    void *scratch = cuda_scratch(be, CUDA_LOSS_SCRATCH);
    cuda_xent_bwd(cuda_of(be)->stream, cuda_fcode(dlogits->dt), g, prob->data, labels->data,
                  smoothing, ignore, dloss->data, scratch, dlogits->data);
    CNN_CUDA_LAUNCHED("cuda_xent_bwd");
}

static void cuda_mse_fwd_op(backend *be, const tensor *pred, const tensor *target,
                            tensor *loss)
{
    CUDA_EXPECT_FLOAT(pred);
    CUDA_EXPECT_FLOAT(target);
    CUDA_EXPECT(loss, DTYPE_F32);
    CUDA_SAME_LAYOUT(pred, target);
    int64_t n = tensor_numel(pred);
    CNN_ASSERT(tensor_numel(target) == n && tensor_numel(loss) == 1);
    void *scratch = cuda_scratch(be, CUDA_LOSS_SCRATCH);
    cuda_mse_fwd(cuda_of(be)->stream, cuda_fcode(pred->dt), cuda_fcode(target->dt), n,
                 pred->data, target->data, scratch, loss->data);
    CNN_CUDA_LAUNCHED("cuda_mse_fwd");
}

/* dpred = dloss * 2 (pred - target) / numel; the layer gets d/dtarget by swapping. */
static void cuda_mse_bwd_op(backend *be, const tensor *pred, const tensor *target,
                            const tensor *dloss, tensor *dpred)
{
    CUDA_EXPECT_FLOAT(pred);
    CUDA_EXPECT_FLOAT(target);
    CUDA_EXPECT(dloss, DTYPE_F32);
    CUDA_EXPECT(dpred, pred->dt);
    CUDA_SAME_LAYOUT(pred, target);
    CUDA_SAME_LAYOUT(pred, dpred);
    int64_t n = tensor_numel(pred);
    CNN_ASSERT(tensor_numel(target) == n && tensor_numel(dpred) == n);
    cuda_mse_bwd(cuda_of(be)->stream, cuda_fcode(pred->dt), cuda_fcode(target->dt), n,
                 pred->data, target->data, dloss->data, dpred->data);
    CNN_CUDA_LAUNCHED("cuda_mse_bwd");
}

void cuda_install_loss(backend_ops *ops)
{
    ops->xent_fwd = cuda_xent_fwd_op;
    ops->xent_bwd = cuda_xent_bwd_op;
    ops->mse_fwd = cuda_mse_fwd_op;
    ops->mse_bwd = cuda_mse_bwd_op;
}
