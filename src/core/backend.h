/* The backend interface: the one seam between the CPU and the CUDA implementations.
 * Layers, the graph, the optimizer and comm do all math through these calls and never test
 * which backend runs them. Conventions every implementation keeps:
 * - Tensors are dense; i32 indices and labels, u8 masks. A backend rejects a tensor of
 *   another device with cnn_fatal (a programming fault: layers check user-facing shapes in
 *   infer).
 * - Layout: shapes below are logical, (N, C, H, W) and filters (K, C/groups, R, S); a 4-D
 *   tensor's `lay` says how it is stored (tensor.h: NCHW, or NHWC = channels-last, filters
 *   KRSC). Every 4-D tensor of one call has the same layout (only convert changes it), and
 *   the results are those of the NCHW call: max-pool indices are still h*W + w within the
 *   (n, c) plane (stored in y's layout), dropout's mask is keyed by the logical NCHW index,
 *   a per-pixel (N, C, H, W) loss reduces over C whatever the layout. Tensors of other
 *   ranks ((N, C), (C), labels (N, H, W)) have no layout.
 * - Float tensors: activations, their gradients and the working copies of convolution and
 *   linear weights are in the run's precision, f32, f16 or bf16 (dtype_is_float); an op's
 *   float tensors share one dtype except the ones its comment says are f32 (norm statistics
 *   and scales, losses, softmax probabilities, targets, optimizer state). Math accumulates
 *   in f32 and each output element is rounded once (nearest even) to its dtype, so the CPU
 *   backend's f16/bf16 results are what a GPU gives, within accumulation order. An
 *   unsupported dtype is a fault (cnn_fatal naming the op and dtype).
 * - Ops are queued on the backend's compute stream and may return before the work is done
 *   (CUDA); be_sync waits. Nothing here allocates per call except through the backend's own
 *   caches (cuDNN plans, oneDNN primitives), created once per shape.
 * - `beta` arguments follow cuDNN: out = result + beta * out (beta 0 ignores old contents,
 *   even NaN). Unless an op names beta, outputs are overwritten.
 * - Scalars the device produces (losses) stay in device tensors: no host round trip. */
#ifndef CNN_CORE_BACKEND_H
#define CNN_CORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "rng.h"
#include "tensor.h"

typedef struct backend backend;
struct optim_sgd_args;
struct optim_adamw_args;

/* Convolution geometry, as in cuDNN/PyTorch (symmetric zero padding). A transposed
 * convolution uses the descriptor of the forward convolution whose data gradient it is. */
typedef struct conv_desc {
    int pad_h, pad_w;
    int stride_h, stride_w;
    int dil_h, dil_w;
    int groups;
} conv_desc;

typedef enum pool_kind { POOL_MAX, POOL_AVG } pool_kind;
typedef struct pool_desc {
    pool_kind kind;
    int kh, kw, sh, sw, ph, pw;
    bool count_include_pad; /* avg: divide by kh*kw (PyTorch default) instead of the valid count */
} pool_desc;

typedef enum act_kind { ACT_RELU, ACT_LEAKY_RELU, ACT_TANH, ACT_SIGMOID } act_kind;
typedef enum upsample_mode { UPSAMPLE_NEAREST, UPSAMPLE_BILINEAR } upsample_mode;

/* Statistics of batch norm are per channel over (N, H, W): tensors of shape (C).
 * Instance norm's are per (n, c) over (H, W): shape (N, C). */
typedef enum norm_mode { NORM_BATCH, NORM_INSTANCE } norm_mode;

typedef struct backend_ops {
    const char *name;
    device_kind dev;
    void (*destroy)(backend *be);

    /* ---- memory ---- */
    /* Returns CNN_ENOMEM with the size asked and the size free in e. */
    int (*alloc)(backend *be, size_t bytes, void **out, cnn_err *e);
    void (*free)(backend *be, void *p);
    /* Any direction between host memory (DEVICE_CPU) and this backend's memory. */
    void (*copy)(backend *be, void *dst, device_kind dst_dev, const void *src,
                 device_kind src_dev, size_t bytes);
    void (*sync)(backend *be);
    /* Host memory for batches that this backend copies from often: page-locked on CUDA (so
     * uploads run at full bus speed and can overlap compute), 64-byte aligned plain memory on
     * the CPU. The data loader's batch ring takes these through its alloc callbacks. */
    int (*host_alloc)(backend *be, size_t bytes, void **out, cnn_err *e);
    void (*host_free)(backend *be, void *p);

    /* ---- elementwise (float tensors of one dtype unless said) ---- */
    void (*fill)(backend *be, tensor *y, double v); /* any dtype */
    /* y = x + beta * y between any float dtypes (same element count), computed in f32 and
     * rounded once to y's dtype: master weights to their f16/bf16 working copies, and those
     * copies' gradients back into the f32 gradients (beta 1 accumulates). When x and y are
     * 4-D of one logical shape in different layouts it also transposes (NCHW masters to
     * NHWC working copies, the NCHW input batch into a channels-last net, flatten). */
    void (*convert)(backend *be, const tensor *x, tensor *y, float beta);
    /* y *= s[0]: s is an f32 device scalar (the loss scale), y any float dtype. */
    void (*scale_by)(backend *be, tensor *y, const tensor *s);
    /* y = a*x + b*y; x and y have the same element count. */
    void (*axpby)(backend *be, float a, const tensor *x, float b, tensor *y);
    void (*add)(backend *be, const tensor *a, const tensor *b, tensor *y);
    /* Copy channels [src_c0, src_c0+nc) of src (N, Cs, H, W) into channels
     * [dst_c0, dst_c0+nc) of dst (N, Cd, H, W), beta-accumulating into dst. */
    void (*channel_copy)(backend *be, const tensor *src, int src_c0, tensor *dst, int dst_c0,
                         int nc, float beta);

    /* ---- activations and dropout ---- */
    void (*act_fwd)(backend *be, act_kind k, float alpha, const tensor *x, tensor *y);
    /* dx from dy; x is the forward input, y the forward output (either may be used). */
    void (*act_bwd)(backend *be, act_kind k, float alpha, const tensor *x, const tensor *y,
                    const tensor *dy, tensor *dx);
    /* mask (u8, same count as x): keep[i] = rng_uniform(key, i) >= p;
     * y = keep ? x / (1 - p) : 0. */
    void (*dropout_fwd)(backend *be, rng_key key, float p, const tensor *x, tensor *y,
                        tensor *mask);
    void (*dropout_bwd)(backend *be, float p, const tensor *mask, const tensor *dy, tensor *dx);

    /* ---- dense algebra ---- */
    /* Row-major C (m x n) = alpha * op(A) op(B) + beta * C, pointers in backend memory;
     * A, B and C of float dtype dt, accumulated in f32. */
    void (*gemm)(backend *be, dtype dt, bool trans_a, bool trans_b, int64_t m, int64_t n,
                 int64_t k, float alpha, const void *a, int64_t lda, const void *b,
                 int64_t ldb, float beta, void *c, int64_t ldc);
    /* y (N, C, ...) += b[c]. */
    void (*bias_add)(backend *be, tensor *y, const tensor *b);
    /* db (C) = sum over all dims but 1 of dy (N, C, ...) + beta * db. */
    void (*bias_grad)(backend *be, const tensor *dy, tensor *db, float beta);

    /* ---- convolution: x (N, C, H, W), w (K, C/groups, R, S), y (N, K, P, Q) ---- */
    void (*conv_fwd)(backend *be, const conv_desc *d, const tensor *x, const tensor *w,
                     tensor *y, float beta);
    /* The shape of dx decides the geometry (a transposed convolution's output_padding
     * shows up as extra rows/columns of dx that no output reads). */
    void (*conv_bwd_data)(backend *be, const conv_desc *d, const tensor *dy, const tensor *w,
                          tensor *dx, float beta);
    void (*conv_bwd_filter)(backend *be, const conv_desc *d, const tensor *x, const tensor *dy,
                            tensor *dw, float beta);

    /* ---- pooling and resampling ---- */
    /* idx (i32, shape of y): for POOL_MAX, the argmax as h*W + w within its (n, c) plane,
     * as PyTorch's max_pool2d(return_indices=True); NULL for POOL_AVG. Padding never wins. */
    void (*pool_fwd)(backend *be, const pool_desc *d, const tensor *x, tensor *y, tensor *idx);
    void (*pool_bwd)(backend *be, const pool_desc *d, const tensor *dy, const tensor *idx,
                     tensor *dx);
    /* y (N, C, Ho, Wo) = 0 except y[n, c, idx] = x; idx (i32) has the shape of x. */
    void (*unpool_fwd)(backend *be, const tensor *x, const tensor *idx, tensor *y);
    void (*unpool_bwd)(backend *be, const tensor *dy, const tensor *idx, tensor *dx);
    /* Integer factor = y.H / x.H; bilinear is align_corners=false (PyTorch default). */
    void (*upsample_fwd)(backend *be, upsample_mode m, const tensor *x, tensor *y);
    void (*upsample_bwd)(backend *be, upsample_mode m, const tensor *dy, tensor *dx);

    /* ---- normalisation, in stages so synchronized BN can all-reduce between them ---- */
    /* x, y, dy, dx are float tensors of one dtype; mean, var, gamma, beta and the sums f32. */
    /* mean, var: biased statistics of x, see norm_mode for their shape. */
    void (*norm_stats)(backend *be, norm_mode m, const tensor *x, tensor *mean, tensor *var);
    /* y = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c]; gamma, beta (C) may be NULL. */
    void (*norm_apply)(backend *be, norm_mode m, const tensor *x, const tensor *mean,
                       const tensor *var, float eps, const tensor *gamma, const tensor *beta,
                       tensor *y);
    /* sum_dy = sum dy, sum_dy_xhat = sum dy * (x - mean) / sqrt(var + eps), over the same
     * elements as the statistics (shapes as mean). */
    void (*norm_bwd_reduce)(backend *be, norm_mode m, const tensor *dy, const tensor *x,
                            const tensor *mean, const tensor *var, float eps, tensor *sum_dy,
                            tensor *sum_dy_xhat);
    /* dx for statistics computed from the batch (batch_stats, count = elements per statistic
     * summed over ranks) or fixed (eval: dx = gamma * dy / sqrt(var + eps); the sums are
     * unused and may be NULL). gamma NULL means 1. */
    void (*norm_bwd_data)(backend *be, norm_mode m, const tensor *dy, const tensor *x,
                          const tensor *mean, const tensor *var, float eps, const tensor *gamma,
                          const tensor *sum_dy, const tensor *sum_dy_xhat, double count,
                          bool batch_stats, tensor *dx);
    /* Synchronized BN sums moments across ranks. to_sums: stats (2, C) = [mean; var] of
     * count values each becomes count * [mean - shift; var + (mean - shift)^2], in place;
     * !to_sums turns such sums over count values back into [mean; var]. shift (C) is the
     * same on every rank (the running mean) and keeps float sums well-conditioned; NULL = 0. */
    void (*norm_stats_sums)(backend *be, bool to_sums, const tensor *shift, double count,
                            tensor *stats);

    /* ---- losses: loss (1) f32, mean over counted elements ----
     * logits/pred and dlogits/dpred are float tensors of one dtype; prob, dloss and soft
     * targets f32; mse's target any float dtype (mse_loss's backward for its target swaps
     * the roles). */
    /* logits (N, C) or (N, C, H, W); labels i32 (N) or (N, H, W); labels equal to ignore
     * are not counted. Smoothing as PyTorch's label_smoothing. prob (shape of logits)
     * keeps the softmax for backward. */
    void (*xent_fwd)(backend *be, const tensor *logits, const tensor *labels, float smoothing,
                     int ignore, tensor *prob, tensor *loss);
    /* dlogits = dloss[0] * d(loss)/d(logits). */
    void (*xent_bwd)(backend *be, const tensor *prob, const tensor *labels, float smoothing,
                     int ignore, const tensor *dloss, tensor *dlogits);
    void (*mse_fwd)(backend *be, const tensor *pred, const tensor *target, tensor *loss);
    void (*mse_bwd)(backend *be, const tensor *pred, const tensor *target, const tensor *dloss,
                    tensor *dpred);
    /* Soft targets (mixup, CutMix): target f32 (N, C) rows of probabilities; loss =
     * mean over n of -sum_c target[n, c] * log softmax(logits)[n, c]; rows whose target sums
     * to 0 (padding) are not counted. prob keeps the softmax. */
    void (*xent_soft_fwd)(backend *be, const tensor *logits, const tensor *target, tensor *prob,
                          tensor *loss);
    void (*xent_soft_bwd)(backend *be, const tensor *prob, const tensor *target,
                          const tensor *dloss, tensor *dlogits);

    /* ---- evaluation ---- */
    /* idx i32 (N, ...) = argmax over dim 1 of x (N, C, ...); ties take the lowest c. */
    void (*argmax_channel)(backend *be, const tensor *x, tensor *idx);

    /* ---- optimizer (all on device: no host round trip; every tensor f32) ---- */
    /* out (1) f32 = sum of x^2 (+ beta * out); deterministic for a given backend. */
    void (*sumsq)(backend *be, const tensor *x, tensor *out, float beta);
    /* The gradient multiplier of a step, on device: coef (2) f32 = [c, skip] with
     * inv_scale = 1 / scale[0] (scale NULL: 1), c = inv_scale * min(1, max_norm /
     * (sqrt(sumsq) * inv_scale + 1e-6)) (max_norm <= 0: no clipping, c = inv_scale) and
     * skip = 1 when sumsq is not finite (the update kernels then leave weights and state
     * unchanged), else 0. */
    void (*grad_coef)(backend *be, const tensor *sumsq, float max_norm, const tensor *scale,
                      tensor *coef);
    /* Dynamic loss scaling as PyTorch's GradScaler.update, after the step that used coef:
     * scale (2) f32 = [scale, good steps]. A skipped step (coef[1] != 0) multiplies scale by
     * backoff and zeroes good; otherwise good += 1, and when it reaches interval the scale is
     * multiplied by growth (kept finite: never above 2^126) and good is zeroed. */
    void (*loss_scale_update)(backend *be, tensor *scale, const tensor *coef, float growth,
                              float backoff, int interval);
    /* torch.optim.SGD on one contiguous run of parameters (w, g, mom same count), with the
     * gradient taken as g * coef[0]: d = g' + wd*w; mom = first ? d : m*mom + d (dampening
     * 0); d = nesterov ? d + m*mom : mom (m = 0: d); w -= lr*d. coef NULL = [1, 0]. */
    void (*sgd_update)(backend *be, tensor *w, const tensor *g, tensor *mom,
                       const struct optim_sgd_args *a, const tensor *coef);
    /* torch.optim.AdamW: w *= 1 - lr*wd; m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2;
     * w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps), t = a->step (from 1). */
    void (*adamw_update)(backend *be, tensor *w, const tensor *g, tensor *m, tensor *v,
                         const struct optim_adamw_args *a, const tensor *coef);

    /* ---- interop ---- */
    /* The backend's native compute stream (cudaStream_t on CUDA) for comm's NCCL transport
     * to order against. Optional: the CPU backend leaves it NULL (no stream). */
    void *(*native_stream)(backend *be);
} backend_ops;

/* Hyper-parameters of one update call (host values; the step's lr already scheduled). */
typedef struct optim_sgd_args {
    float lr, momentum, weight_decay;
    bool nesterov;
    bool first; /* the momentum buffer is empty: mom = d (PyTorch's first step) */
} optim_sgd_args;
typedef struct optim_adamw_args {
    float lr, beta1, beta2, eps, weight_decay;
    int64_t step; /* 1 on the first update */
} optim_adamw_args;

struct backend {
    const backend_ops *ops;
    int threads; /* CPU worker threads (CPU backend); 0 = library default */
    void *impl;
};

/* What a run chooses about its backend (config keys device, threads, cuda.workspace_mb,
 * cuda.deterministic;
 * comm supplies gpu from the node-local rank so that each rank of a node drives its own GPU). */
typedef struct backend_opts {
    const char *name;       /* "cpu", "cuda" or "auto" (CUDA when a GPU is visible) */
    int threads;            /* CPU worker threads; 0 = library default */
    int gpu;                /* CUDA device index among the visible ones */
    size_t workspace_bytes; /* cuDNN workspace bound; 0 = 2 GiB */
    /* CUDA: only convolution algorithms that cuDNN reports deterministic (every other op
     * already is, as are the CPU backend's), so a run repeats bit for bit and resumes
     * exactly; may be slower (torch.backends.cudnn.deterministic). */
    bool deterministic;
    /* CUDA, for tests: every channels-last convolution runs on NCHW copies, the route cuDNN
     * takes where it has no channels-last algorithm for a shape (cuda_conv.c). */
    bool conv_via_nchw;
} backend_opts;

/* Created by src/backend/registry.c. */
int backend_create_opts(const backend_opts *o, backend **out, cnn_err *e);
/* The common case: device 0, default workspace. */
int backend_create(const char *name, int threads, backend **out, cnn_err *e);
void backend_destroy(backend *be);
/* Faults (cnn_fatal) when a and b are both 4-D and differ in layout: every 4-D tensor of
 * one op shares one layout, only convert changes it (above). NULL passes (an optional
 * operand), as do tensors of other ranks. be_name and fn name the op in the message. */
void backend_same_layout(const char *be_name, const char *fn, const char *an, const tensor *a,
                         const char *bn, const tensor *b);

/* Names the first NULL op, so an incomplete backend fails at creation, not mid-run. */
int backend_check_complete(const backend_ops *ops, cnn_err *e);

/* Convenience: allocate a tensor's memory on be. */
int backend_alloc_tensor(backend *be, tensor *t, cnn_err *e);
void backend_free_tensor(backend *be, tensor *t);
/* Host <-> tensor copies of the whole tensor. */
void backend_upload(backend *be, tensor *t, const void *host);
void backend_download(backend *be, const tensor *t, void *host);

#endif
