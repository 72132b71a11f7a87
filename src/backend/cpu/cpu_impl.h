/* Private to the CPU backend: each cpu_<group>.c fills its part of the ops table, and
 * keeps its own per-backend state (caches) reachable from cpu_state. */
#ifndef CNN_BACKEND_CPU_IMPL_H
#define CNN_BACKEND_CPU_IMPL_H

#include "cpu.h"

typedef struct cpu_conv_cache cpu_conv_cache; /* oneDNN primitives per shape (cpu_conv.c) */

typedef struct cpu_state {
    backend_ops ops; /* the table this backend's `ops` points at */
    cpu_conv_cache *conv_cache;
} cpu_state;

static inline cpu_state *cpu_of(backend *be) { return (cpu_state *)be->impl; }

/* A CPU op given a tensor of another device or dtype is a programming fault. */
#define CPU_EXPECT(t, want_dt)                                                           \
    do {                                                                                 \
        if ((t)->dev != DEVICE_CPU || (t)->dt != (want_dt) || !(t)->data)                \
            cnn_fatal("cpu backend: tensor '%s' is %s/%s%s, expected cpu/%s", #t,         \
                      device_name((t)->dev), dtype_name((t)->dt),                        \
                      (t)->data ? "" : " (unbound)", dtype_name(want_dt));               \
    } while (0)

void cpu_install_elementwise(backend_ops *ops); /* fill, axpby, add, channel_copy */
void cpu_install_act(backend_ops *ops);         /* act_*, dropout_* */
void cpu_install_dense(backend_ops *ops);       /* gemm, bias_* */
void cpu_install_conv(backend_ops *ops);        /* conv_* */
void cpu_install_pool(backend_ops *ops);        /* pool_*; calls cpu_install_resample */
void cpu_install_resample(backend_ops *ops);    /* unpool_*, upsample_* */
void cpu_install_norm(backend_ops *ops);        /* norm_* */
void cpu_install_loss(backend_ops *ops);        /* xent_*, mse_* */
void cpu_install_xent_soft(backend_ops *ops);   /* xent_soft_*, argmax_channel */
void cpu_install_optim(backend_ops *ops);       /* sumsq, grad_coef, sgd_update, adamw_update */

void cpu_conv_cache_destroy(cpu_conv_cache *c);

#endif
