/* Tensors: a shape, a dtype, where the memory lives, its layout, and a borrowed pointer.
 * A tensor never owns its memory: arenas (or a test) own it and hand out views. Shapes are
 * int64 and every product of dimensions that came from user input goes through
 * shape_numel_checked. */
#ifndef CNN_CORE_TENSOR_H
#define CNN_CORE_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CNN_MAX_DIMS 6

typedef enum dtype { DTYPE_F32, DTYPE_F16, DTYPE_BF16, DTYPE_I32, DTYPE_I64, DTYPE_U8 } dtype;
typedef enum device_kind { DEVICE_CPU, DEVICE_CUDA } device_kind;
/* The memory order of a 4-D tensor whose shape is always the logical (N, C, H, W), as
 * PyTorch's memory_format: NCHW (contiguous) or NHWC (channels-last: element (n, c, h, w)
 * at ((n*H + h)*W + w)*C + c), which cuDNN's tensor-core kernels want. A filter (K, C, R, S)
 * in NHWC is stored KRSC. Tensors of other ranks ignore it. */
typedef enum layout { LAYOUT_NCHW, LAYOUT_NHWC } layout;

typedef struct shape {
    int nd;
    int64_t d[CNN_MAX_DIMS];
} shape;

typedef struct tensor {
    shape s;
    dtype dt;
    device_kind dev;
    layout lay;
    void *data; /* borrowed; NULL until bound */
} tensor;

shape shape_make(int nd, const int64_t *dims);
#define SHAPE(...) shape_make((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

int64_t shape_numel(const shape *s); /* for shapes already validated */
/* Fails with CNN_EINVAL on a dimension <= 0 or an overflowing product. */
int shape_numel_checked(const shape *s, int64_t *out, cnn_err *e);
bool shape_eq(const shape *a, const shape *b);
/* "(2, 3, 5, 7)"; returns buf. */
const char *shape_str(const shape *s, char *buf, size_t n);
/* Product of dims [from, nd). */
int64_t shape_inner(const shape *s, int from);

size_t dtype_size(dtype dt);
/* f32, f16 or bf16: the dtypes of activations and weights (the run's precision). */
bool dtype_is_float(dtype dt);
const char *dtype_name(dtype dt);
const char *device_name(device_kind dev);

tensor tensor_view(void *data, shape s, dtype dt, device_kind dev);
size_t tensor_bytes(const tensor *t);
int64_t tensor_numel(const tensor *t);
/* The same memory seen with another shape of the same element count. The layout field is
 * kept for a shape of the same rank; another rank reads the memory in plain order, so a 4-D
 * view of a (N, features) tensor is NCHW. */
tensor tensor_reshape(const tensor *t, shape s);
/* A 4-D tensor stored channels-last. */
bool tensor_is_nhwc(const tensor *t);
const char *layout_name(layout lay); /* "nchw", "nhwc" */
/* Host copy of a 4-D (N, C, H, W) tensor of elem-byte elements from src_lay order into
 * dst_lay order (dst and src must not overlap); other ranks, or equal layouts, copy. */
void layout_permute_host(void *dst, layout dst_lay, const void *src, layout src_lay,
                         const shape *s, size_t elem);

/* ---- 16-bit floats on the host (float16.c): round to nearest even, NaN stays NaN,
 * overflow gives inf, as the GPU's conversions do ---- */
uint16_t f32_to_f16(float v);
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float v);
float bf16_to_f32(uint16_t h);
/* n elements of float dtype src_dt at src into float dtype dst_dt at dst (host memory). */
void dtype_convert_host(dtype dst_dt, void *dst, dtype src_dt, const void *src, int64_t n);

#endif
