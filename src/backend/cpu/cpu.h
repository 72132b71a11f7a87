/* The CPU backend: the reference implementation of backend_ops, written for clarity, with
 * convolution and GEMM on oneDNN (the library Debian's PyTorch uses for its CPU convolutions)
 * and OpenMP loops elsewhere. */
#ifndef CNN_BACKEND_CPU_H
#define CNN_BACKEND_CPU_H

#include "../../core/core.h"

/* threads: OpenMP/oneDNN worker threads; 0 keeps the OpenMP default (OMP_NUM_THREADS). */
int cpu_backend_create(int threads, backend **out, cnn_err *e);

#endif
