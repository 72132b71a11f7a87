/* cuda_xent_soft_kernels.h against the CPU backend: the soft-target cross-entropy forward
 * and backward (a warp per row; rows whose targets sum to 0 do not count) and argmax over
 * channels (ties to the lowest channel, NaN never wins), in f32, f16 and bf16. Reductions are
 * capped at CUDA_XSOFT_RED_BLOCKS = 3 here (grid-stride on small inputs). Tolerances as in
 * test_loss.cpp: prob 4 ulps of f32, loss 1e-6 relative, gradients 2 ulps of the dtype;
 * argmax exact. */
#include "cuda_xent_soft_kernels.h"
#include "emu_test.h"

static void soft(int64_t n, int64_t c, dtype dt)
{
    printf(" (%lld, %lld) %s\n", (long long)n, (long long)c, dtype_name(dt));
    hbuf x(dt, n * c), t(DTYPE_F32, n * c), prob(DTYPE_F32, n * c), rprob(DTYPE_F32, n * c);
    hbuf loss(DTYPE_F32, 1), rloss(DTYPE_F32, 1), scratch(DTYPE_U8, CUDA_XSOFT_SCRATCH);
    x.uniform(70, -5.0f, 5.0f);
    t.uniform(71, 0.0f, 1.0f);
    for (int64_t r = 0; r < n; r += 3) /* padding rows */
        for (int64_t k = 0; k < c; k++)
            t.set(r * c + k, 0.0f);
    prob.poison();
    loss.poison();
    cuda_xent_soft_fwd(0, cu_code(dt), n, c, x.p, t.as<float>(), prob.as<float>(), scratch.p,
                       loss.as<float>());
    tensor tx = view(x, shape2(n, c)), tt = view(t, shape2(n, c)), tp = view(rprob, shape2(n, c));
    tensor tl = view(rloss, shape1(1));
    cpu()->ops->xent_soft_fwd(cpu(), &tx, &tt, &tp, &tl);
    expect_close("prob", prob, rprob, ulps(DTYPE_F32, 4), 0.0);
    expect_close("loss", loss, rloss, 1e-6, 0.0);
    hbuf dl(DTYPE_F32, 1), d(dt, n * c), rd(dt, n * c);
    dl.set(0, 0.5f);
    d.poison();
    cuda_xent_soft_bwd(0, cu_code(dt), n, c, rprob.as<float>(), t.as<float>(), dl.as<float>(),
                       scratch.p, d.p);
    tensor tdl = view(dl, shape1(1)), td = view(rd, shape2(n, c));
    cpu()->ops->xent_soft_bwd(cpu(), &tp, &tt, &tdl, &td);
    expect_close("dlogits", d, rd, ulps(dt, 2), 1e-7);
}

static void argmax()
{
    grids("argmax_channel", true, [](unsigned) {
        for (dtype dt : float_dtypes)
            for (int64_t hw : {1, 221}) {
                int64_t N = 3, C = 5, n = N * C * hw;
                hbuf x(dt, n), idx(DTYPE_I32, N * hw), r(DTYPE_I32, N * hw);
                x.uniform(72, -1.0f, 1.0f);
                for (int64_t i = 0; i < n; i += 7) /* ties (coarse values) and NaN */
                    x.set(i, i % 3 ? 0.5f : NAN);
                idx.poison();
                cuda_argmax_channel(0, cu_code(dt), N, C, hw, x.p, idx.as<int32_t>());
                int64_t dl[3] = {N, 13, 17};
                tensor tx = view(x, hw == 1 ? shape2(N, C) : shape4(N, C, 13, 17));
                tensor ti = view(r, hw == 1 ? shape1(N) : shape_make(3, dl));
                cpu()->ops->argmax_channel(cpu(), &tx, &ti);
                expect_equal("argmax", idx, r);
            }
    });
}

void group_xent_soft()
{
    printf("xent_soft fwd/bwd\n");
    for (dtype dt : float_dtypes) {
        soft(5, 3, dt);
        soft(40, 37, dt); /* 40 rows: 5 warps' worth of blocks, capped at 3 */
    }
    soft(9, 100, DTYPE_F32);
    argmax();
}
