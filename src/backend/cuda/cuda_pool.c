/* CUDA pooling, max unpooling and upsampling: operand and geometry checks on the host (the
 * same invariants as cpu_pool.c / cpu_resample.c), kernels in cuda_pool.cu. Our own kernels
 * rather than cuDNN pooling: cuDNN returns no argmax indices, its backward wants x and y,
 * which pool_bwd does not get, and its tie/NaN rules are not documented to be PyTorch's.
 * Every backward is a deterministic gather (no atomics, CPU summation order). Channels-last
 * tensors run the same kernels with plane addressing (cuda_layout.cuh): the same terms in the
 * same order, indices still h*W + w within the plane (backend.h). */
#include "cuda_impl.h"
#include "cuda_pool_kernels.h"

static void plane_dims(const tensor *t, int64_t *planes, int *h, int *w)
{
    CNN_ASSERT(t->s.nd == 4 && t->s.d[1] <= INT32_MAX);
    CNN_ASSERT(t->s.d[2] * t->s.d[3] <= INT32_MAX);
    *planes = t->s.d[0] * t->s.d[1];
    *h = (int)t->s.d[2];
    *w = (int)t->s.d[3];
}

/* The launchers' layout argument: the channel count of a channels-last tensor, 0 for NCHW. */
static int64_t chl(const tensor *t) { return tensor_is_nhwc(t) ? t->s.d[1] : 0; }

/* x on the input side, y and (max only) idx on the output side: checks them as the CPU's
 * pool_geom does (every window holds real input, floor-mode output size). */
static cupool_geom pool_geom(const pool_desc *d, const tensor *x, const tensor *y,
                             const tensor *idx)
{
    cupool_geom g = {.kh = d->kh, .kw = d->kw, .sh = d->sh, .sw = d->sw, .ph = d->ph,
                     .pw = d->pw, .include_pad = d->count_include_pad};
    int64_t out_planes;
    CUDA_SAME_LAYOUT(x, y);
    CUDA_SAME_LAYOUT(idx, y);
    plane_dims(x, &g.planes, &g.H, &g.W);
    g.C = x->s.d[1];
    g.cl = tensor_is_nhwc(x);
    plane_dims(y, &out_planes, &g.P, &g.Q);
    CNN_ASSERT(x->s.d[0] == y->s.d[0] && x->s.d[1] == y->s.d[1]);
    CNN_ASSERT(d->kh >= 1 && d->kw >= 1 && d->sh >= 1 && d->sw >= 1 && d->ph >= 0 &&
               d->pw >= 0 && 2 * d->ph <= d->kh && 2 * d->pw <= d->kw);
    CNN_ASSERT(g.P == (g.H + 2 * d->ph - d->kh) / d->sh + 1 &&
               g.Q == (g.W + 2 * d->pw - d->kw) / d->sw + 1 && g.H + 2 * d->ph >= d->kh &&
               g.W + 2 * d->pw >= d->kw);
    if (d->kind == POOL_MAX) {
        CUDA_EXPECT(idx, DTYPE_I32);
        CNN_ASSERT(shape_eq(&idx->s, &y->s));
    } else {
        CNN_ASSERT(d->kind == POOL_AVG);
    }
    return g;
}

static void cuda_pool_fwd(backend *be, const pool_desc *d, const tensor *x, tensor *y,
                          tensor *idx)
{
    CUDA_EXPECT_FLOAT(x);
    CUDA_EXPECT(y, x->dt);
    cupool_geom g = pool_geom(d, x, y, idx);
    if (g.planes == 0)
        return;
    cudaStream_t s = cuda_of(be)->stream;
    int dt = cuda_fcode(x->dt);
    if (d->kind == POOL_MAX)
        cupool_max_fwd(s, dt, g, x->data, y->data, idx->data);
    else
        cupool_avg_fwd(s, dt, g, x->data, y->data);
    CNN_CUDA_LAUNCHED("pool_fwd");
}

static void cuda_pool_bwd(backend *be, const pool_desc *d, const tensor *dy, const tensor *idx,
                          tensor *dx)
{
    CUDA_EXPECT_FLOAT(dy);
    CUDA_EXPECT(dx, dy->dt);
    cupool_geom g = pool_geom(d, dx, dy, idx);
    if (g.planes == 0)
        return;
    cudaStream_t s = cuda_of(be)->stream;
    int dt = cuda_fcode(dy->dt);
    if (d->kind == POOL_MAX)
        cupool_max_bwd(s, dt, g, dy->data, idx->data, dx->data);
    else
        cupool_avg_bwd(s, dt, g, dy->data, dx->data);
    CNN_CUDA_LAUNCHED("pool_bwd");
}

/* Unpooling maps planes of x (the pooled shape, that of idx) into planes of y; backward
 * reads the same pair as (dx, dy). Returns the plane count; in_sz, out_sz the plane sizes. */
static int64_t unpool_geom(const tensor *x, const tensor *idx, const tensor *y,
                           int64_t *in_sz, int64_t *out_sz)
{
    int64_t planes, out_planes;
    int H, W, Ho, Wo;
    CNN_ASSERT(shape_eq(&x->s, &idx->s));
    CUDA_SAME_LAYOUT(x, idx);
    CUDA_SAME_LAYOUT(x, y);
    plane_dims(x, &planes, &H, &W);
    plane_dims(y, &out_planes, &Ho, &Wo);
    /* equal N and C, not only N*C: channels-last addressing strides by C (chl(x)) */
    CNN_ASSERT(x->s.d[0] == y->s.d[0] && x->s.d[1] == y->s.d[1] && planes == out_planes);
    *in_sz = (int64_t)H * W;
    *out_sz = (int64_t)Ho * Wo;
    return planes;
}

/* Where the CPU fatals on an index outside the output plane (a programming fault: idx comes
 * from pool_fwd), the kernels skip it, since reporting it would need a host round trip. */
static void cuda_unpool_fwd(backend *be, const tensor *x, const tensor *idx, tensor *y)
{
    CUDA_EXPECT_FLOAT(x);
    CUDA_EXPECT(idx, DTYPE_I32);
    CUDA_EXPECT(y, x->dt);
    int64_t in_sz, out_sz, planes = unpool_geom(x, idx, y, &in_sz, &out_sz);
    if (planes * out_sz == 0)
        return;
    cudaStream_t s = cuda_of(be)->stream;
    int dt = cuda_fcode(x->dt);
    /* int32 claims, -1 (all bytes 0xFF) = unclaimed: in y for f32, else in scratch */
    int *claims = NULL;
    if (dt == CU_F32) {
        CNN_CUDA(cudaMemsetAsync(y->data, 0xFF, tensor_bytes(y), s));
    } else {
        size_t bytes = (size_t)(planes * out_sz) * sizeof(int);
        claims = cuda_scratch(be, bytes);
        CNN_CUDA(cudaMemsetAsync(claims, 0xFF, bytes, s));
    }
    cupool_unpool_fwd(s, dt, planes, chl(x), in_sz, out_sz, x->data, idx->data, y->data,
                      claims);
    CNN_CUDA_LAUNCHED("unpool_fwd");
}

static void cuda_unpool_bwd(backend *be, const tensor *dy, const tensor *idx, tensor *dx)
{
    CUDA_EXPECT_FLOAT(dy);
    CUDA_EXPECT(idx, DTYPE_I32);
    CUDA_EXPECT(dx, dy->dt);
    int64_t in_sz, out_sz, planes = unpool_geom(dx, idx, dy, &in_sz, &out_sz);
    if (planes * in_sz == 0)
        return;
    cupool_unpool_bwd(cuda_of(be)->stream, cuda_fcode(dy->dt), planes, chl(dx), in_sz, out_sz,
                      dy->data, idx->data, dx->data);
    CNN_CUDA_LAUNCHED("unpool_bwd");
}

/* x (planes, H, W) small side, y (planes, H*fh, W*fw) large side, integer factors. */
typedef struct up_geom {
    int64_t planes;
    int H, W, fh, fw;
} up_geom;

static up_geom up_geometry(const tensor *x, const tensor *y)
{
    up_geom g;
    int64_t out_planes;
    int Ho, Wo;
    CUDA_SAME_LAYOUT(x, y);
    plane_dims(x, &g.planes, &g.H, &g.W);
    plane_dims(y, &out_planes, &Ho, &Wo);
    CNN_ASSERT(x->s.d[0] == y->s.d[0] && x->s.d[1] == y->s.d[1]); /* chl(x) strides both */
    CNN_ASSERT(g.planes == out_planes && g.H > 0 && g.W > 0);
    g.fh = Ho / g.H;
    g.fw = Wo / g.W;
    CNN_ASSERT(g.fh >= 1 && g.fw >= 1 && Ho == g.H * g.fh && Wo == g.W * g.fw);
    return g;
}

static void cuda_upsample_fwd(backend *be, upsample_mode m, const tensor *x, tensor *y)
{
    CUDA_EXPECT_FLOAT(x);
    CUDA_EXPECT(y, x->dt);
    CNN_ASSERT(m == UPSAMPLE_NEAREST || m == UPSAMPLE_BILINEAR);
    up_geom g = up_geometry(x, y);
    if (g.planes == 0)
        return;
    cupool_upsample_fwd(cuda_of(be)->stream, cuda_fcode(x->dt), m == UPSAMPLE_BILINEAR,
                        g.planes, chl(x), g.H, g.W, g.fh, g.fw, x->data, y->data);
    CNN_CUDA_LAUNCHED("upsample_fwd");
}

static void cuda_upsample_bwd(backend *be, upsample_mode m, const tensor *dy, tensor *dx)
{
    CUDA_EXPECT_FLOAT(dy);
    CUDA_EXPECT(dx, dy->dt);
    CNN_ASSERT(m == UPSAMPLE_NEAREST || m == UPSAMPLE_BILINEAR);
    up_geom g = up_geometry(dx, dy);
    if (g.planes == 0)
        return;
    cupool_upsample_bwd(cuda_of(be)->stream, cuda_fcode(dy->dt), m == UPSAMPLE_BILINEAR,
                        g.planes, chl(dx), g.H, g.W, g.fh, g.fw, dy->data, dx->data);
    CNN_CUDA_LAUNCHED("upsample_bwd");
}

void cuda_install_pool(backend_ops *ops)
{
    ops->pool_fwd = cuda_pool_fwd;
    ops->pool_bwd = cuda_pool_bwd;
    ops->unpool_fwd = cuda_unpool_fwd;
    ops->unpool_bwd = cuda_unpool_bwd;
    ops->upsample_fwd = cuda_upsample_fwd;
    ops->upsample_bwd = cuda_upsample_bwd;
}
