/* The CUDA backend: backend_ops on cuDNN (convolution), cuBLAS (GEMM) and our own kernels
 * (everything cuDNN lacks), all queued on one stream per backend, memory from a caching
 * pool. Compiled only when the CUDA toolkit is present (CNN_HAVE_CUDA). */
#ifndef CNN_BACKEND_CUDA_H
#define CNN_BACKEND_CUDA_H

#include "../../core/core.h"

/* GPUs visible to this process; 0 when there is no driver or no device (never fails). */
int cuda_device_count(void);
/* device: CUDA ordinal (comm picks it from the node-local rank); workspace_limit: bytes the
 * convolution algorithms may use as scratch (0 = 512 MiB). */
int cuda_backend_create(int device, size_t workspace_limit, backend **out, cnn_err *e);

#endif
