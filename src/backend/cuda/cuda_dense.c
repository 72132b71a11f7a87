/* CUDA dense algebra: row-major GEMM on cuBLAS (column-major, so C^T = op(B)^T op(A)^T is
 * computed with A and B swapped; IEEE fp32, the handle's math mode excludes TF32) and the
 * bias ops of linear and convolution layers (kernels in cuda_dense.cu). */
#include "cuda_dense_kernels.h"
#include "cuda_impl.h"

static void cuda_gemm(backend *be, bool trans_a, bool trans_b, int64_t m, int64_t n,
                      int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                      int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        /* No products: cuBLAS computes C = beta * C (beta 0 does not read C). A and B are
         * not read, but their leading dimensions must still pass cuBLAS's checks. */
        k = 0;
        lda = ldb = m > n ? m : n;
    }
    /* Row-major X with leading dimension ld is column-major X^T with the same ld: C^T (n x m)
     * = op(B)^T (n x k) * op(A)^T (k x m), so B's transpose flag goes first. */
    CNN_CUBLAS(cublasSgemm_64(cuda_of(be)->cublas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                              trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b, ldb, a,
                              lda, &beta, c, ldc));
}

/* Channel count and the size of one (n, c) plane of a (N, C, ...) tensor. */
static void nc_inner(const tensor *t, const tensor *b, int64_t *n, int64_t *c, int64_t *inner)
{
    CNN_ASSERT(t->s.nd >= 2 && b->s.nd == 1 && b->s.d[0] == t->s.d[1]);
    *n = t->s.d[0];
    *c = t->s.d[1];
    *inner = shape_inner(&t->s, 2);
}

static void cuda_bias_add(backend *be, tensor *y, const tensor *b)
{
    CUDA_EXPECT(y, DTYPE_F32);
    CUDA_EXPECT(b, DTYPE_F32);
    int64_t N, C, inner;
    nc_inner(y, b, &N, &C, &inner);
    cuda_bias_add_launch(cuda_of(be)->stream, y->data, b->data, N, C, inner);
    CNN_CUDA_LAUNCHED("bias_add");
}

static void cuda_bias_grad(backend *be, const tensor *dy, tensor *db, float beta)
{
    CUDA_EXPECT(dy, DTYPE_F32);
    CUDA_EXPECT(db, DTYPE_F32);
    int64_t N, C, inner;
    nc_inner(dy, db, &N, &C, &inner);
    cuda_bias_grad_launch(cuda_of(be)->stream, dy->data, db->data, N, C, inner, beta);
    CNN_CUDA_LAUNCHED("bias_grad");
}

void cuda_install_dense(backend_ops *ops)
{
    ops->gemm = cuda_gemm;
    ops->bias_add = cuda_bias_add;
    ops->bias_grad = cuda_bias_grad;
}
