/* Private to the CPU backend: each cpu_<group>.c fills its part of the ops table, and
 * keeps its own per-backend state (caches) reachable from cpu_state. */
#ifndef CNN_BACKEND_CPU_IMPL_H
#define CNN_BACKEND_CPU_IMPL_H

#include "cpu.h"

typedef struct cpu_conv_cache cpu_conv_cache; /* oneDNN primitives per shape (cpu_conv.c) */

/* Grow-only f32 buffers of the f16/bf16 emulation (cpu_lowp.c): an op converts each of its
 * low-precision tensors into its own slot, so no call allocates once the sizes are seen. */
#define CPU_SCRATCH_SLOTS 4
typedef struct cpu_scratch {
    float *p;
    size_t n; /* floats */
} cpu_scratch;

typedef struct cpu_state {
    backend_ops ops; /* the table this backend's `ops` points at */
    backend_ops f32; /* the f32 kernels behind it, which cpu_lowp.c's wrappers call */
    cpu_conv_cache *conv_cache;
    cpu_scratch scratch[CPU_SCRATCH_SLOTS];
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
void cpu_install_cast(backend_ops *ops);        /* convert, scale_by */
/* dst = src + beta * dst over two tensors of one logical shape (cpu_cast.c): float dtypes
 * converted in f32 and rounded once to dst's, other dtypes copied (beta 0); a 4-D tensor
 * stored in another layout than dst is transposed on the way. convert, and the
 * emulation's views (cpu_lowp.c), are this. */
void cpu_move(const tensor *dst, const tensor *src, float beta);
void cpu_install_act(backend_ops *ops);         /* act_*, dropout_* */
void cpu_install_dense(backend_ops *ops);       /* gemm, bias_* */
void cpu_install_conv(backend_ops *ops);        /* conv_* */
void cpu_install_pool(backend_ops *ops);        /* pool_*; calls cpu_install_resample */
void cpu_install_resample(backend_ops *ops);    /* unpool_*, upsample_* */
void cpu_install_norm(backend_ops *ops);        /* norm_* */
void cpu_install_loss(backend_ops *ops);        /* xent_*, mse_* */
void cpu_install_xent_soft(backend_ops *ops);   /* xent_soft_*, argmax_channel */
void cpu_install_optim(backend_ops *ops); /* sumsq, grad_coef, loss_scale_update, sgd, adamw */
/* Last: keeps the f32 table in st->f32 and puts f16/bf16 wrappers in front of its ops. */
void cpu_install_lowp(cpu_state *st);
void cpu_lowp_free(cpu_state *st);

void cpu_conv_cache_destroy(cpu_conv_cache *c);

/* Element i of a float tensor's memory as f32, and a store rounded (nearest even) to dt. */
static inline float cpu_load(dtype dt, const void *p, int64_t i)
{
    if (dt == DTYPE_F32)
        return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return dt == DTYPE_F16 ? f16_to_f32(h) : bf16_to_f32(h);
}

static inline void cpu_store(dtype dt, void *p, int64_t i, float v)
{
    if (dt == DTYPE_F32)
        ((float *)p)[i] = v;
    else
        ((uint16_t *)p)[i] = dt == DTYPE_F16 ? f32_to_f16(v) : f32_to_bf16(v);
}

/* Element (n, c, q = h*W + w) of a 4-D tensor with C channels and HW pixels, in its layout. */
static inline int64_t cpu_lay_off(const tensor *t, int64_t n, int64_t c, int64_t q, int64_t C,
                                  int64_t HW)
{
    return tensor_is_nhwc(t) ? (n * HW + q) * C + c : (n * C + c) * HW + q;
}

/* Every 4-D tensor of one op shares one layout (backend.h): layout-agnostic kernels
 * (elementwise, activations) would silently mix elements otherwise. */
#define CPU_SAME_LAYOUT(a, b) backend_same_layout("cpu", __func__, #a, (a), #b, (b))

/* A float tensor on this device, or a fault naming the op. */
#define CPU_EXPECT_FLOAT(op, t)                                                          \
    do {                                                                                 \
        if ((t)->dev != DEVICE_CPU || !dtype_is_float((t)->dt) || !(t)->data)            \
            cnn_fatal("cpu backend: %s: tensor '%s' is %s/%s%s, expected a cpu float "    \
                      "tensor (f32, f16 or bf16)", op, #t, device_name((t)->dev),        \
                      dtype_name((t)->dt), (t)->data ? "" : " (unbound)");               \
    } while (0)

#endif
