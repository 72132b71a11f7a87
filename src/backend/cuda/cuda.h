/* The CUDA backend: backend_ops on cuDNN (convolution), cuBLAS (GEMM) and our own kernels
 * (everything cuDNN lacks), all queued on one stream per backend, memory from a caching
 * pool. Compiled only when the CUDA toolkit is present (CNN_HAVE_CUDA). */
#ifndef CNN_BACKEND_CUDA_H
#define CNN_BACKEND_CUDA_H

#include "../../core/core.h"

/* GPUs visible to this process; 0 when there is no driver or no device (never fails). */
int cuda_device_count(void);
/* o->gpu: CUDA ordinal (comm picks it from the node-local rank); o->workspace_bytes: bytes
 * the convolution algorithms may use as scratch (0 = 2 GiB); o->deterministic (backend.h). */
int cuda_backend_create(const backend_opts *o, backend **out, cnn_err *e);

#endif
