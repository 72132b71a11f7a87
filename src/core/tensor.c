/* Shape arithmetic and tensor views. */
#include "tensor.h"

#include <stdio.h>
#include <string.h>

shape shape_make(int nd, const int64_t *dims)
{
    CNN_ASSERT(nd >= 0 && nd <= CNN_MAX_DIMS);
    shape s;
    memset(&s, 0, sizeof s);
    s.nd = nd;
    for (int i = 0; i < nd; i++)
        s.d[i] = dims[i];
    return s;
}

int64_t shape_numel(const shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->nd; i++)
        n *= s->d[i];
    return n;
}

int shape_numel_checked(const shape *s, int64_t *out, cnn_err *e)
{
    int64_t n = 1;
    char buf[128];
    for (int i = 0; i < s->nd; i++) {
        if (s->d[i] <= 0)
            return CNN_ERR(e, CNN_EINVAL, "shape %s has a dimension <= 0 (dim %d)",
                           shape_str(s, buf, sizeof buf), i);
        if (n > INT64_MAX / s->d[i])
            return CNN_ERR(e, CNN_EINVAL, "shape %s has more than 2^63 elements",
                           shape_str(s, buf, sizeof buf));
        n *= s->d[i];
    }
    *out = n;
    return CNN_OK;
}

bool shape_eq(const shape *a, const shape *b)
{
    if (a->nd != b->nd)
        return false;
    for (int i = 0; i < a->nd; i++)
        if (a->d[i] != b->d[i])
            return false;
    return true;
}

const char *shape_str(const shape *s, char *buf, size_t n)
{
    size_t off = 0;
    off += (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < s->nd && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, i ? ", %lld" : "%lld", (long long)s->d[i]);
    if (off < n)
        snprintf(buf + off, n - off, ")");
    return buf;
}

int64_t shape_inner(const shape *s, int from)
{
    int64_t n = 1;
    for (int i = from; i < s->nd; i++)
        n *= s->d[i];
    return n;
}

size_t dtype_size(dtype dt)
{
    switch (dt) {
    case DTYPE_F32: return 4;
    case DTYPE_F16: return 2;
    case DTYPE_BF16: return 2;
    case DTYPE_I32: return 4;
    case DTYPE_I64: return 8;
    case DTYPE_U8: return 1;
    }
    cnn_fatal("unknown dtype %d", (int)dt);
}

const char *dtype_name(dtype dt)
{
    static const char *const names[] = {"f32", "f16", "bf16", "i32", "i64", "u8"};
    return (unsigned)dt < sizeof names / sizeof names[0] ? names[dt] : "?";
}

bool dtype_is_float(dtype dt) { return dt == DTYPE_F32 || dt == DTYPE_F16 || dt == DTYPE_BF16; }

const char *device_name(device_kind dev) { return dev == DEVICE_CUDA ? "cuda" : "cpu"; }

tensor tensor_view(void *data, shape s, dtype dt, device_kind dev)
{
    tensor t = {.s = s, .dt = dt, .dev = dev, .lay = LAYOUT_NCHW, .data = data};
    return t;
}

int64_t tensor_numel(const tensor *t) { return shape_numel(&t->s); }

size_t tensor_bytes(const tensor *t) { return (size_t)tensor_numel(t) * dtype_size(t->dt); }

tensor tensor_reshape(const tensor *t, shape s)
{
    CNN_ASSERT(shape_numel(&s) == tensor_numel(t));
    tensor r = *t;
    if (s.nd != t->s.nd)
        r.lay = LAYOUT_NCHW;
    r.s = s;
    return r;
}

bool tensor_is_nhwc(const tensor *t) { return t->s.nd == 4 && t->lay == LAYOUT_NHWC; }

const char *layout_name(layout lay) { return lay == LAYOUT_NHWC ? "nhwc" : "nchw"; }

void layout_permute_host(void *dst, layout dst_lay, const void *src, layout src_lay,
                         const shape *s, size_t elem)
{
    int64_t n = shape_numel(s);
    if (s->nd != 4 || dst_lay == src_lay) {
        memcpy(dst, src, (size_t)n * elem);
        return;
    }
    int64_t N = s->d[0], C = s->d[1], HW = s->d[2] * s->d[3];
    /* (N, A, B) -> (N, B, A) with A, B = C, HW (to NHWC) or HW, C (to NCHW) */
    int64_t A = dst_lay == LAYOUT_NHWC ? C : HW, B = dst_lay == LAYOUT_NHWC ? HW : C;
    const char *in = src;
    char *out = dst;
    for (int64_t i = 0; i < N; i++)
        for (int64_t a = 0; a < A; a++)
            for (int64_t b = 0; b < B; b++)
                memcpy(out + (size_t)((i * B + b) * A + a) * elem,
                       in + (size_t)((i * A + a) * B + b) * elem, elem);
}
