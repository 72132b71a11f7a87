/* CUDA dense algebra: row-major GEMM on cuBLAS (column-major, so C^T = op(B)^T op(A)^T is
 * computed with A and B swapped; f32 is IEEE fp32, the handle's math mode excludes TF32;
 * f16/bf16 run cublasGemmEx with f32 compute) and the bias ops of linear and convolution
 * layers (kernels in cuda_dense.cu; the bias may be f32 or the activations' dtype). A
 * channels-last (N, C, H, W) tensor is NCHW (N*H*W, C): the bias add needs nothing else, the
 * bias gradient has a column-tile kernel that reads it coalesced. */
#include "cuda_dense_kernels.h"
#include "cuda_impl.h"

static void cuda_gemm(backend *be, dtype dt, bool trans_a, bool trans_b, int64_t m, int64_t n,
                      int64_t k, float alpha, const void *a, int64_t lda, const void *b,
                      int64_t ldb, float beta, void *c, int64_t ldc)
{
    if (!dtype_is_float(dt))
        cnn_fatal("cuda backend: gemm of dtype %s is not supported (f32, f16, bf16)",
                  dtype_name(dt));
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
    cublasHandle_t h = cuda_of(be)->cublas;
    cublasOperation_t ob = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t oa = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (dt == DTYPE_F32) {
        CNN_CUBLAS(cublasSgemm_64(h, ob, oa, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc));
        return;
    }
    /* 16-bit operands on tensor cores, f32 accumulation (the handle's math mode forbids
     * reductions in the output type), one rounding of each C element. */
    cudaDataType_t t = dt == DTYPE_F16 ? CUDA_R_16F : CUDA_R_16BF;
    CNN_CUBLAS(cublasGemmEx_64(h, ob, oa, n, m, k, &alpha, b, t, ldb, a, t, lda, &beta, c, t,
                               ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

/* Channel count and the size of one (n, c) plane of a (N, C, ...) tensor; channels-last
 * (N, C, H, W) is (N*H*W, C, 1). */
static void nc_inner(const tensor *t, const tensor *b, int64_t *n, int64_t *c, int64_t *inner)
{
    CNN_ASSERT(t->s.nd >= 2 && b->s.nd == 1 && b->s.d[0] == t->s.d[1]);
    *n = t->s.d[0];
    *c = t->s.d[1];
    *inner = shape_inner(&t->s, 2);
    if (tensor_is_nhwc(t)) {
        *n *= *inner;
        *inner = 1;
    }
}

static void cuda_bias_add(backend *be, tensor *y, const tensor *b)
{
    CUDA_EXPECT_FLOAT(y);
    CUDA_EXPECT_FLOAT(b);
    int64_t N, C, inner;
    nc_inner(y, b, &N, &C, &inner);
    cuda_bias_add_launch(cuda_of(be)->stream, cuda_fcode(y->dt), y->data, cuda_fcode(b->dt),
                         b->data, N, C, inner);
    CNN_CUDA_LAUNCHED("bias_add");
}

static void cuda_bias_grad(backend *be, const tensor *dy, tensor *db, float beta)
{
    CUDA_EXPECT_FLOAT(dy);
    CUDA_EXPECT_FLOAT(db);
    int64_t N, C, inner;
    nc_inner(dy, db, &N, &C, &inner);
    if (tensor_is_nhwc(dy)) {
        int64_t pieces = cuda_bias_grad_cl_pieces(N, C);
        float *part = pieces > 1 ? cuda_scratch(be, (size_t)(C * pieces) * sizeof(float))
                                 : NULL;
        cuda_bias_grad_cl_launch(cuda_of(be)->stream, cuda_fcode(dy->dt), dy->data,
                                 cuda_fcode(db->dt), db->data, N, C, beta, part);
        CNN_CUDA_LAUNCHED("bias_grad (channels-last)");
        return;
    }
    int64_t pieces = cuda_bias_grad_pieces(N, C, inner);
    float *part = pieces > 1 ? cuda_scratch(be, (size_t)(C * pieces) * sizeof(float)) : NULL;
    cuda_bias_grad_launch(cuda_of(be)->stream, cuda_fcode(dy->dt), dy->data, cuda_fcode(db->dt),
                          db->data, N, C, inner, beta, part);
    CNN_CUDA_LAUNCHED("bias_grad");
}

void cuda_install_dense(backend_ops *ops)
{
    ops->gemm = cuda_gemm;
    ops->bias_add = cuda_bias_add;
    ops->bias_grad = cuda_bias_grad;
}
