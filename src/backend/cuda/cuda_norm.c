/* CUDA batch and instance normalisation (backend.h "normalisation"), the same stages as the
 * CPU reference cpu_norm.c so synchronized BN can all-reduce between them. Kernels in
 * cuda_norm.cu: reductions in double over fixed ranges (deterministic, no atomics), pointwise
 * passes from a per-statistic coefficient table held in cuda_scratch for the one op. The
 * running statistics are updated by the layer (axpby), not here. Channels-last tensors keep
 * the statistics' meaning (per channel, or per (n, c)); their reductions read rows of
 * channels (cuda_norm_kernels.h), so no transposed copy is needed. */
#include "cuda_impl.h"
#include "cuda_norm_kernels.h"

/* Every 4-D activation of a call shares x's layout; a 4-D NHWC x is read channels-last. */
static cuda_norm_geom norm_geometry(norm_mode m, const tensor *x)
{
    CUDA_EXPECT_FLOAT(x);
    CNN_ASSERT(x->s.nd >= 2);
    cuda_norm_geom g = {.c = x->s.d[1], .len = shape_inner(&x->s, 2)};
    g.planes = x->s.d[0] * g.c;
    g.groups = m == NORM_BATCH ? g.c : g.planes;
    g.nseg = m == NORM_BATCH ? x->s.d[0] : 1;
    g.cl = tensor_is_nhwc(x);
    return g;
}

static void norm_check(const tensor *t, int64_t n)
{
    CUDA_EXPECT(t, DTYPE_F32);
    CNN_ASSERT(tensor_numel(t) == n);
}

static void check_affine(const tensor *gamma, const tensor *beta, int64_t c)
{
    if (gamma)
        norm_check(gamma, c);
    if (beta)
        norm_check(beta, c);
}

/* Activations x (and dy) of one float dtype; the rest f32. */
static void act_check(const tensor *t, const tensor *x)
{
    CUDA_EXPECT(t, x->dt);
    CUDA_SAME_LAYOUT(t, x);
    CNN_ASSERT(tensor_numel(t) == tensor_numel(x));
}

static void norm_reduce(backend *be, const cuda_norm_geom *g, const tensor *x, const void *dy,
                        const float *mean, const float *var, float eps, float *out0,
                        float *out1)
{
    int64_t pieces = cuda_norm_pieces(*g);
    void *part = pieces > 1 ? cuda_scratch(be, (size_t)(g->groups * pieces) * 16) : NULL;
    cuda_norm_reduce(cuda_of(be)->stream, cuda_fcode(x->dt), *g, pieces, x->data, dy, mean,
                     var, eps, part, out0, out1);
    CNN_CUDA_LAUNCHED("cuda_norm_reduce");
}

static void cuda_norm_stats(backend *be, norm_mode m, const tensor *x, tensor *mean,
                            tensor *var)
{
    cuda_norm_geom g = norm_geometry(m, x);
    norm_check(mean, g.groups);
    norm_check(var, g.groups);
    norm_reduce(be, &g, x, NULL, NULL, NULL, 0.0f, mean->data, var->data);
}

static void cuda_norm_bwd_reduce(backend *be, norm_mode m, const tensor *dy, const tensor *x,
                                 const tensor *mean, const tensor *var, float eps,
                                 tensor *sum_dy, tensor *sum_dy_xhat)
{
    cuda_norm_geom g = norm_geometry(m, x);
    act_check(dy, x);
    norm_check(mean, g.groups);
    norm_check(var, g.groups);
    norm_check(sum_dy, g.groups);
    norm_check(sum_dy_xhat, g.groups);
    norm_reduce(be, &g, x, dy->data, mean->data, var->data, eps, sum_dy->data,
                sum_dy_xhat->data);
}

/* Coefficients into scratch (16-byte aligned: the pool hands out cudaMalloc'd blocks), then
 * the pointwise pass; both on the stream, so the scratch is free again when it returns. */
static void norm_pointwise(backend *be, const cuda_norm_geom *g, cuda_norm_pw kind,
                           const tensor *x, const tensor *dy, const tensor *mean,
                           const tensor *var, float eps, const tensor *gamma,
                           const tensor *beta, const tensor *sdy, const tensor *sdyx,
                           double count, tensor *out)
{
    cudaStream_t st = cuda_of(be)->stream;
    float *coef = cuda_scratch(be, (size_t)g->groups * 4 * sizeof(float));
    cuda_norm_coefs(st, *g, kind, mean->data, var->data, eps, gamma ? gamma->data : NULL,
                    beta ? beta->data : NULL, sdy ? sdy->data : NULL,
                    sdyx ? sdyx->data : NULL, count, coef);
    CNN_CUDA_LAUNCHED("cuda_norm_coefs");
    cuda_norm_pointwise(st, cuda_fcode(x->dt), *g, coef, x->data, dy ? dy->data : NULL,
                        out->data);
    CNN_CUDA_LAUNCHED("cuda_norm_pointwise");
}

static void cuda_norm_apply(backend *be, norm_mode m, const tensor *x, const tensor *mean,
                            const tensor *var, float eps, const tensor *gamma,
                            const tensor *beta, tensor *y)
{
    cuda_norm_geom g = norm_geometry(m, x);
    norm_check(mean, g.groups);
    norm_check(var, g.groups);
    act_check(y, x);
    check_affine(gamma, beta, g.c);
    norm_pointwise(be, &g, CUDA_NORM_APPLY, x, NULL, mean, var, eps, gamma, beta, NULL, NULL,
                   1.0, y);
}

static void cuda_norm_bwd_data(backend *be, norm_mode m, const tensor *dy, const tensor *x,
                               const tensor *mean, const tensor *var, float eps,
                               const tensor *gamma, const tensor *sum_dy,
                               const tensor *sum_dy_xhat, double count, bool batch_stats,
                               tensor *dx)
{
    cuda_norm_geom g = norm_geometry(m, x);
    act_check(dy, x);
    act_check(dx, x);
    norm_check(mean, g.groups);
    norm_check(var, g.groups);
    check_affine(gamma, NULL, g.c);
    if (batch_stats) {
        norm_check(sum_dy, g.groups);
        norm_check(sum_dy_xhat, g.groups);
        CNN_ASSERT(count > 0);
    }
    norm_pointwise(be, &g, batch_stats ? CUDA_NORM_BWD_BATCH : CUDA_NORM_BWD_EVAL, x, dy, mean,
                   var, eps, gamma, NULL, batch_stats ? sum_dy : NULL,
                   batch_stats ? sum_dy_xhat : NULL, batch_stats ? count : 1.0, dx);
}

static void cuda_norm_stats_sums_op(backend *be, bool to_sums, const tensor *shift,
                                    double count, tensor *stats)
{
    CUDA_EXPECT(stats, DTYPE_F32);
    int64_t c = tensor_numel(stats) / 2;
    if (shift)
        norm_check(shift, c);
    CNN_ASSERT(count > 0 && tensor_numel(stats) == 2 * c);
    cuda_norm_stats_sums(cuda_of(be)->stream, to_sums, shift ? shift->data : NULL, count, c,
                         stats->data);
    CNN_CUDA_LAUNCHED("cuda_norm_stats_sums");
}

void cuda_install_norm(backend_ops *ops)
{
    ops->norm_stats = cuda_norm_stats;
    ops->norm_apply = cuda_norm_apply;
    ops->norm_bwd_reduce = cuda_norm_bwd_reduce;
    ops->norm_bwd_data = cuda_norm_bwd_data;
    ops->norm_stats_sums = cuda_norm_stats_sums_op;
}
