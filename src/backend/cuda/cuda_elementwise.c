/* CUDA elementwise ops, activations and dropout: operand checks on the host, the kernels in
 * cuda_elementwise.cu, all on the backend's stream with no host round trip. Semantics are
 * those of the CPU reference (cpu_elementwise.c, cpu_act.c, cpu_cast.c): beta 0 ignores old
 * contents (even NaN), fill covers the dtypes the CPU fill does, the dropout mask is
 * bit-identical. Float operands of one op share a dtype (f32, f16 or bf16); convert crosses
 * dtypes, and layouts (a transpose). Pointwise ops do not care how a tensor is stored as
 * long as all operands are stored alike, so a layout mix is a fault; channel_copy sees a
 * channels-last (N, C, H, W) tensor as NCHW (N*H*W, C, 1, 1), and dropout keys its mask by
 * the logical index. */
#include "cuda_elementwise_kernels.h"
#include "cuda_impl.h"

static void cuda_fill(backend *be, tensor *y, double v)
{
    cudaStream_t s = cuda_of(be)->stream;
    int64_t n = tensor_numel(y);
    if (y->dev != DEVICE_CUDA || !y->data)
        cnn_fatal("cuda backend: fill of a %s tensor", y->data ? device_name(y->dev) : "unbound");
    if (n == 0)
        return;
    switch (y->dt) {
    case DTYPE_F32:
    case DTYPE_F16:
    case DTYPE_BF16:
        cuew_fill_float(s, cuda_fcode(y->dt), y->data, n, (float)v);
        break;
    case DTYPE_I32:
        cuew_fill_i32(s, y->data, n, (int32_t)v);
        break;
    case DTYPE_I64:
        cuew_fill_i64(s, y->data, n, (int64_t)v);
        break;
    case DTYPE_U8: /* as the CPU's memset: the low byte of (int)v */
        CNN_CUDA(cudaMemsetAsync(y->data, (int)v, (size_t)n, s));
        return;
    default:
        cnn_fatal("cuda backend: fill of dtype %s is not supported", dtype_name(y->dt));
    }
    CNN_CUDA_LAUNCHED("fill");
}

/* Between layouts (cpu_cast.c's rule: exactly one side channels-last) both sides must be
 * 4-D of one logical shape. A plane of one pixel, or a single channel, is stored the same
 * way in both layouts (1x1 filters, (N, C, 1, 1) features), so only a real transpose pays
 * for one. */
static void cuda_convert(backend *be, const tensor *x, tensor *y, float beta)
{
    CUDA_EXPECT_FLOAT(x);
    CUDA_EXPECT_FLOAT(y);
    int64_t n = tensor_numel(y);
    CNN_ASSERT(tensor_numel(x) == n);
    if (n == 0)
        return;
    cudaStream_t s = cuda_of(be)->stream;
    if (tensor_is_nhwc(x) != tensor_is_nhwc(y)) {
        char bx[96], by[96];
        if (x->s.nd != 4 || !shape_eq(&x->s, &y->s))
            cnn_fatal("cuda backend: convert between layouts needs two 4-d tensors of one "
                      "logical shape, got x %s (%s) and y %s (%s)",
                      shape_str(&x->s, bx, sizeof bx), layout_name(x->lay),
                      shape_str(&y->s, by, sizeof by), layout_name(y->lay));
        int64_t N = x->s.d[0], C = x->s.d[1], HW = x->s.d[2] * x->s.d[3];
        if (C > 1 && HW > 1) { /* NCHW (N, C, HW) <-> NHWC (N, HW, C) */
            bool to_nhwc = tensor_is_nhwc(y);
            cuew_transpose(s, N, to_nhwc ? C : HW, to_nhwc ? HW : C, cuda_fcode(x->dt),
                           x->data, cuda_fcode(y->dt), y->data, beta);
            CNN_CUDA_LAUNCHED("convert (transpose)");
            return;
        }
    }
    cuew_convert(s, n, cuda_fcode(x->dt), x->data, cuda_fcode(y->dt), y->data, beta);
    CNN_CUDA_LAUNCHED("convert");
}

static void cuda_scale_by(backend *be, tensor *y, const tensor *s)
{
    CUDA_EXPECT_FLOAT(y);
    CUDA_EXPECT(s, DTYPE_F32);
    CNN_ASSERT(tensor_numel(s) >= 1);
    int64_t n = tensor_numel(y);
    if (n == 0)
        return;
    cuew_scale_by(cuda_of(be)->stream, cuda_fcode(y->dt), n, y->data, s->data);
    CNN_CUDA_LAUNCHED("scale_by");
}

static void cuda_axpby(backend *be, float a, const tensor *x, float b, tensor *y)
{
    CUDA_EXPECT_FLOAT(y);
    CUDA_EXPECT(x, y->dt);
    CUDA_SAME_LAYOUT(x, y);
    CNN_ASSERT(tensor_numel(x) == tensor_numel(y));
    if (tensor_numel(y) == 0)
        return;
    cuew_axpby(cuda_of(be)->stream, cuda_fcode(y->dt), tensor_numel(y), a, x->data, b, y->data);
    CNN_CUDA_LAUNCHED("axpby");
}

static void cuda_add(backend *be, const tensor *a, const tensor *b, tensor *y)
{
    CUDA_EXPECT_FLOAT(y);
    CUDA_EXPECT(a, y->dt);
    CUDA_EXPECT(b, y->dt);
    CUDA_SAME_LAYOUT(a, y);
    CUDA_SAME_LAYOUT(b, y);
    int64_t n = tensor_numel(y);
    CNN_ASSERT(tensor_numel(a) == n && tensor_numel(b) == n);
    if (n == 0)
        return;
    cuew_add(cuda_of(be)->stream, cuda_fcode(y->dt), n, a->data, b->data, y->data);
    CNN_CUDA_LAUNCHED("add");
}

static void cuda_channel_copy(backend *be, const tensor *src, int src_c0, tensor *dst,
                              int dst_c0, int nc, float beta)
{
    CUDA_EXPECT_FLOAT(dst);
    CUDA_EXPECT(src, dst->dt);
    CUDA_SAME_LAYOUT(src, dst);
    CNN_ASSERT(src->s.nd >= 2 && dst->s.nd >= 2);
    int64_t n = src->s.d[0], cs = src->s.d[1], cd = dst->s.d[1];
    int64_t hw = shape_inner(&src->s, 2);
    CNN_ASSERT(dst->s.d[0] == n && shape_inner(&dst->s, 2) == hw);
    CNN_ASSERT(src_c0 >= 0 && dst_c0 >= 0 && nc >= 0 && src_c0 + nc <= cs &&
               dst_c0 + nc <= cd);
    if (tensor_is_nhwc(src)) { /* channels-last (N, C, H, W) is NCHW (N*H*W, C, 1, 1) */
        n *= hw;
        hw = 1;
    }
    cuew_channel_copy(cuda_of(be)->stream, cuda_fcode(dst->dt), n, cs, cd, hw, src->data,
                      src_c0, dst->data, dst_c0, nc, beta);
    CNN_CUDA_LAUNCHED("channel_copy");
}

static int act_code(act_kind k)
{
    switch (k) {
    case ACT_RELU:
        return CUEW_RELU;
    case ACT_LEAKY_RELU:
        return CUEW_LEAKY_RELU;
    case ACT_TANH:
        return CUEW_TANH;
    case ACT_SIGMOID:
        return CUEW_SIGMOID;
    }
    cnn_fatal("cuda backend: unknown activation kind %d", (int)k);
}

static void cuda_act_fwd(backend *be, act_kind k, float alpha, const tensor *x, tensor *y)
{
    CUDA_EXPECT_FLOAT(x);
    CUDA_EXPECT(y, x->dt);
    CUDA_SAME_LAYOUT(x, y);
    int64_t n = tensor_numel(x);
    CNN_ASSERT(tensor_numel(y) == n);
    if (n == 0)
        return;
    cuew_act_fwd(cuda_of(be)->stream, cuda_fcode(x->dt), act_code(k), alpha, n, x->data,
                 y->data);
    CNN_CUDA_LAUNCHED("act_fwd");
}

/* relu and leaky relu read x, tanh and sigmoid y (the other may be NULL), as the CPU. */
static void cuda_act_bwd(backend *be, act_kind k, float alpha, const tensor *x,
                         const tensor *y, const tensor *dy, tensor *dx)
{
    CUDA_EXPECT_FLOAT(dy);
    CUDA_EXPECT(dx, dy->dt);
    CUDA_SAME_LAYOUT(dy, dx);
    CUDA_SAME_LAYOUT(x, dx);
    CUDA_SAME_LAYOUT(y, dx);
    int64_t n = tensor_numel(dy);
    CNN_ASSERT(tensor_numel(dx) == n);
    int code = act_code(k);
    const void *xp = NULL, *yp = NULL;
    if (code == CUEW_RELU || code == CUEW_LEAKY_RELU) {
        CUDA_EXPECT(x, dy->dt);
        CNN_ASSERT(tensor_numel(x) == n);
        xp = x->data;
    } else {
        CUDA_EXPECT(y, dy->dt);
        CNN_ASSERT(tensor_numel(y) == n);
        yp = y->data;
    }
    if (n == 0)
        return;
    cuew_act_bwd(cuda_of(be)->stream, cuda_fcode(dy->dt), code, alpha, n, xp, yp, dy->data,
                 dx->data);
    CNN_CUDA_LAUNCHED("act_bwd");
}

/* The CPU's scale, computed the same way so kept values match bit for bit. */
static float dropout_scale(float p) { return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f; }

static void cuda_dropout_fwd(backend *be, rng_key key, float p, const tensor *x, tensor *y,
                             tensor *mask)
{
    CUDA_EXPECT_FLOAT(x);
    CUDA_EXPECT(y, x->dt);
    CUDA_EXPECT(mask, DTYPE_U8);
    CUDA_SAME_LAYOUT(x, y);
    CUDA_SAME_LAYOUT(x, mask);
    int64_t n = tensor_numel(x);
    CNN_ASSERT(tensor_numel(y) == n && tensor_numel(mask) == n);
    if (n == 0)
        return;
    /* channels-last: the kernel maps each logical index to its stored position */
    bool cl = tensor_is_nhwc(x);
    CNN_ASSERT(!cl || (shape_eq(&x->s, &y->s) && shape_eq(&x->s, &mask->s)));
    int64_t c = cl ? x->s.d[1] : 0, hw = cl ? x->s.d[2] * x->s.d[3] : 0;
    cuew_dropout_fwd(cuda_of(be)->stream, cuda_fcode(x->dt), key.k[0], key.k[1], p,
                     dropout_scale(p), n, c, hw, x->data, y->data, mask->data);
    CNN_CUDA_LAUNCHED("dropout_fwd");
}

static void cuda_dropout_bwd(backend *be, float p, const tensor *mask, const tensor *dy,
                             tensor *dx)
{
    CUDA_EXPECT(mask, DTYPE_U8);
    CUDA_EXPECT_FLOAT(dy);
    CUDA_EXPECT(dx, dy->dt);
    CUDA_SAME_LAYOUT(mask, dx);
    CUDA_SAME_LAYOUT(dy, dx);
    int64_t n = tensor_numel(dy);
    CNN_ASSERT(tensor_numel(dx) == n && tensor_numel(mask) == n);
    if (n == 0)
        return;
    cuew_dropout_bwd(cuda_of(be)->stream, cuda_fcode(dy->dt), dropout_scale(p), n, mask->data,
                     dy->data, dx->data);
    CNN_CUDA_LAUNCHED("dropout_bwd");
}

void cuda_install_elementwise(backend_ops *ops)
{
    ops->fill = cuda_fill;
    ops->convert = cuda_convert;
    ops->scale_by = cuda_scale_by;
    ops->axpby = cuda_axpby;
    ops->add = cuda_add;
    ops->channel_copy = cuda_channel_copy;
    ops->act_fwd = cuda_act_fwd;
    ops->act_bwd = cuda_act_bwd;
    ops->dropout_fwd = cuda_dropout_fwd;
    ops->dropout_bwd = cuda_dropout_bwd;
}
