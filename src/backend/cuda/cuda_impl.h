/* Private to the CUDA backend: its state, the checked-call macros and the install functions
 * of each op group. Host code is C (cuDNN/cuBLAS are C APIs); kernels live in .cu files
 * behind the extern "C" launchers of cuda_kernels.h. */
#ifndef CNN_BACKEND_CUDA_IMPL_H
#define CNN_BACKEND_CUDA_IMPL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "cuda.h"
#include "cuda_kernels.h"

typedef struct cuda_pool cuda_pool;             /* cuda_backend.c */
typedef struct cuda_conv_cache cuda_conv_cache; /* cuda_conv.c */

typedef struct cuda_state {
    backend_ops ops;
    int device;
    cudaStream_t stream; /* every op of this backend is queued here */
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    cuda_pool *pool;
    cuda_conv_cache *conv_cache;
    void *workspace; /* convolution scratch, grown up to workspace_limit */
    size_t workspace_bytes, workspace_limit;
    bool deterministic; /* convolution algorithms cuDNN reports deterministic only */
    bool conv_via_nchw; /* backend_opts.conv_via_nchw */
    float *scratch;      /* small device scratch for reductions (cuda_scratch) */
    size_t scratch_bytes;
} cuda_state;

static inline cuda_state *cuda_of(backend *be) { return (cuda_state *)be->impl; }

/* Faults: name the call, the library's own message, file:line and rank (cnn_fatal adds them). */
#define CNN_CUDA(call)                                                                   \
    do {                                                                                 \
        cudaError_t cnn_ce_ = (call);                                                    \
        if (cnn_ce_ != cudaSuccess)                                                      \
            cnn_fatal("%s failed: %s (%s)", #call, cudaGetErrorName(cnn_ce_),            \
                      cudaGetErrorString(cnn_ce_));                                      \
    } while (0)
#define CNN_CUDNN(call)                                                                  \
    do {                                                                                 \
        cudnnStatus_t cnn_cs_ = (call);                                                  \
        if (cnn_cs_ != CUDNN_STATUS_SUCCESS)                                             \
            cnn_fatal("%s failed: %s", #call, cudnnGetErrorString(cnn_cs_));             \
    } while (0)
#define CNN_CUBLAS(call)                                                                 \
    do {                                                                                 \
        cublasStatus_t cnn_bs_ = (call);                                                 \
        if (cnn_bs_ != CUBLAS_STATUS_SUCCESS)                                            \
            cnn_fatal("%s failed: %s (%s)", #call, cublasGetStatusName(cnn_bs_),         \
                      cublasGetStatusString(cnn_bs_));                                   \
    } while (0)
/* A kernel launch: its configuration errors show at once, its faults at the next sync. */
#define CNN_CUDA_LAUNCHED(what) CNN_CUDA(cudaPeekAtLastError())

/* A CUDA op given a host tensor, an unbound one or the wrong dtype is a programming fault. */
#define CUDA_EXPECT(t, want_dt)                                                          \
    do {                                                                                 \
        if ((t)->dev != DEVICE_CUDA || (t)->dt != (want_dt) || !(t)->data)               \
            cnn_fatal("cuda backend: tensor '%s' is %s/%s%s, expected cuda/%s", #t,       \
                      device_name((t)->dev), dtype_name((t)->dt),                        \
                      (t)->data ? "" : " (unbound)", dtype_name(want_dt));               \
    } while (0)

/* A CUDA op's float tensor (f32, f16 or bf16) on this device, bound; else a fault naming
 * the op's function and the tensor's dtype. */
#define CUDA_EXPECT_FLOAT(t)                                                             \
    do {                                                                                 \
        if ((t)->dev != DEVICE_CUDA || !dtype_is_float((t)->dt) || !(t)->data)           \
            cnn_fatal("cuda backend: %s: tensor '%s' is %s/%s%s, expected a cuda float "  \
                      "tensor (f32, f16 or bf16)", __func__, #t, device_name((t)->dev),  \
                      dtype_name((t)->dt), (t)->data ? "" : " (unbound)");               \
    } while (0)

/* Every 4-D tensor of one op shares one layout (backend.h): a mix is a programming fault. */
#define CUDA_SAME_LAYOUT(a, b) backend_same_layout("cuda", __func__, #a, (a), #b, (b))

/* The kernels' element code (CU_F32, CU_F16, CU_BF16) of a float dtype. */
static inline int cuda_fcode(dtype dt)
{
    switch (dt) {
    case DTYPE_F32:
        return CU_F32;
    case DTYPE_F16:
        return CU_F16;
    case DTYPE_BF16:
        return CU_BF16;
    default:
        cnn_fatal("cuda backend: dtype %s is not a float dtype", dtype_name(dt));
    }
}

/* At least `bytes` of device scratch owned by the backend, valid until the next call that
 * asks for scratch (ops on one stream run in order, so reuse is safe). */
void *cuda_scratch(backend *be, size_t bytes);
/* The convolution workspace, grown up to the limit; returns the bytes available. */
size_t cuda_workspace(backend *be, size_t want, void **ws);

/* fill, convert, scale_by, axpby, add, channel_copy, act_*, dropout_* */
void cuda_install_elementwise(backend_ops *ops);
void cuda_install_dense(backend_ops *ops);       /* gemm, bias_* */
void cuda_install_conv(backend_ops *ops);        /* conv_* */
void cuda_install_pool(backend_ops *ops);        /* pool_*, unpool_*, upsample_* */
void cuda_install_norm(backend_ops *ops);        /* norm_* */
void cuda_install_loss(backend_ops *ops);        /* xent_*, mse_* */
void cuda_install_xent_soft(backend_ops *ops);   /* xent_soft_*, argmax_channel */
/* sumsq, grad_coef, loss_scale_update, sgd_update, adamw_update */
void cuda_install_optim(backend_ops *ops);
void cuda_conv_cache_destroy(cuda_conv_cache *c);

#endif
