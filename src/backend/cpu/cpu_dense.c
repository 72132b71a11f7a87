/* CPU dense algebra: row-major GEMM on oneDNN's dnnl_sgemm (threaded with the same OpenMP
 * runtime as our kernels) and the bias ops of linear and convolution layers. Bias gradients
 * sum per channel in a fixed order (float lanes within a plane, double across planes), so
 * the result does not depend on the thread count. */
#include <dnnl.h>
#include <dnnl_debug.h>

#include "cpu_impl.h"

/* f32 only: cpu_lowp.c converts f16/bf16 operands around this. */
static void cpu_gemm(backend *be, dtype dt, bool trans_a, bool trans_b, int64_t m, int64_t n,
                     int64_t k, float alpha, const void *av, int64_t lda, const void *bv,
                     int64_t ldb, float beta, void *cv, int64_t ldc)
{
    (void)be;
    if (dt != DTYPE_F32)
        cnn_fatal("cpu backend: gemm of dtype %s is not supported", dtype_name(dt));
    const float *a = av, *b = bv;
    float *c = cv;
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        /* No products: C = beta * C, where beta 0 clears even NaN. */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a,
                                  lda, b, ldb, beta, c, ldc);
    if (st != dnnl_success)
        cnn_fatal("oneDNN: dnnl_sgemm failed: %s (trans_a %d trans_b %d m %lld n %lld k %lld "
                  "lda %lld ldb %lld ldc %lld)", dnnl_status2str(st), trans_a, trans_b,
                  (long long)m, (long long)n, (long long)k, (long long)lda, (long long)ldb,
                  (long long)ldc);
}

/* Channel count and the size of one (n, c) plane of a (N, C, ...) tensor. */
static void nc_inner(const tensor *t, const tensor *b, int64_t *n, int64_t *c, int64_t *inner)
{
    CNN_ASSERT(t->s.nd >= 2 && b->s.nd == 1 && b->s.d[0] == t->s.d[1]);
    *n = t->s.d[0];
    *c = t->s.d[1];
    *inner = shape_inner(&t->s, 2);
}

static void cpu_bias_add(backend *be, tensor *y, const tensor *b)
{
    (void)be;
    CPU_EXPECT(y, DTYPE_F32);
    CPU_EXPECT(b, DTYPE_F32);
    int64_t N, C, inner;
    nc_inner(y, b, &N, &C, &inner);
    float *yp = y->data;
    const float *bp = b->data;
    if (inner == 1) {
#pragma omp parallel for schedule(static) if (N * C > 65536)
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = 0; c < C; c++)
                yp[n * C + c] += bp[c];
        return;
    }
#pragma omp parallel for schedule(static) if (N * C * inner > 32768)
    for (int64_t p = 0; p < N * C; p++) {
        float v = bp[p % C];
        float *row = yp + p * inner;
        for (int64_t i = 0; i < inner; i++)
            row[i] += v;
    }
}

#define LANES 16

/* Sum of a contiguous run in LANES independent float lanes (vectorisable without
 * reassociation), combined in double. */
static double plane_sum(const float *p, int64_t n)
{
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            acc[j] += p[i + j];
    double s = 0;
    for (int j = 0; j < LANES; j++)
        s += acc[j];
    for (; i < n; i++)
        s += p[i];
    return s;
}

/* (N, C) rows: each task owns LANES channels and walks the rows in order. */
static void bias_grad_rows(const float *g, float *db, int64_t N, int64_t C, float beta)
{
    int64_t blocks = (C + LANES - 1) / LANES;
#pragma omp parallel for schedule(static) if (N * C > 65536)
    for (int64_t bk = 0; bk < blocks; bk++) {
        int64_t c0 = bk * LANES, nc = C - c0 < LANES ? C - c0 : LANES;
        double acc[LANES] = {0};
        for (int64_t n = 0; n < N; n++)
            for (int64_t j = 0; j < nc; j++)
                acc[j] += g[n * C + c0 + j];
        for (int64_t j = 0; j < nc; j++)
            db[c0 + j] = (float)(acc[j] + (beta == 0.0f ? 0.0 : (double)beta * db[c0 + j]));
    }
}

static void cpu_bias_grad(backend *be, const tensor *dy, tensor *db, float beta)
{
    (void)be;
    CPU_EXPECT(dy, DTYPE_F32);
    CPU_EXPECT(db, DTYPE_F32);
    int64_t N, C, inner;
    nc_inner(dy, db, &N, &C, &inner);
    const float *g = dy->data;
    float *d = db->data;
    if (inner == 1) {
        bias_grad_rows(g, d, N, C, beta);
        return;
    }
#pragma omp parallel for schedule(static) if (N * C * inner > 32768)
    for (int64_t c = 0; c < C; c++) {
        double s = 0;
        for (int64_t n = 0; n < N; n++)
            s += plane_sum(g + (n * C + c) * inner, inner);
        d[c] = (float)(s + (beta == 0.0f ? 0.0 : (double)beta * d[c]));
    }
}

void cpu_install_dense(backend_ops *ops)
{
    ops->gemm = cpu_gemm;
    ops->bias_add = cpu_bias_add;
    ops->bias_grad = cpu_bias_grad;
}
