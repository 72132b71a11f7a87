/* cuda_loss_kernels.h against the CPU backend: softmax cross-entropy forward and backward on
 * (N, C) rows (a warp per row) and (N, C, H, W) pixels (a thread per pixel), with label
 * smoothing and ignored labels; the bad-label flag; the shared count/scale kernel; MSE with
 * targets of every float dtype. The per-block partial sums are capped at
 * CUDA_LOSS_RED_BLOCKS = 3 here, so the reductions run grid-stride on small inputs (the
 * emulator's cap is not used on them: the host sizes their partials from the grid).
 * Tolerances: prob 4 ulps of f32 (expf and the f32 reciprocal of a double sum, as the CPU
 * but in another summation order); losses 1e-6 relative (double sums in another order,
 * one f32 rounding); gradients 2 ulps of the dtype (atol 1e-7 where p - [k == y] cancels). */
#include "cuda_loss_kernels.h"
#include "emu_test.h"

struct xent_case {
    int64_t N, C, H, W; /* H = W = 0: (N, C) rows */
};
static const xent_case cases[] = {{5, 3, 0, 0}, {40, 37, 0, 0}, {2, 5, 7, 9}, {3, 3, 17, 19}};

static void xent_one(const xent_case &k, dtype dt, float smoothing)
{
    bool rows = k.H == 0;
    int64_t hw = rows ? 1 : k.H * k.W, n = k.N * k.C * hw, npix = k.N * hw;
    shape sx = rows ? shape2(k.N, k.C) : shape4(k.N, k.C, k.H, k.W);
    int64_t ld[3] = {k.N, k.H, k.W};
    shape sl = rows ? shape1(k.N) : shape_make(3, ld);
    printf(" (%lld,%lld,%lld,%lld) %s smoothing %g\n", (long long)k.N, (long long)k.C,
           (long long)k.H, (long long)k.W, dtype_name(dt), (double)smoothing);
    hbuf x(dt, n), lab(DTYPE_I32, npix), u(DTYPE_F32, npix);
    x.uniform(60, -6.0f, 6.0f);
    u.uniform(61, 0.0f, (float)k.C + 1.0f);
    for (int64_t q = 0; q < npix; q++) /* class k.C stands for the ignore index */
        lab.as<int32_t>()[q] = (int32_t)u.get(q) >= k.C ? -100 : (int32_t)u.get(q);
    hbuf prob(DTYPE_F32, n), rprob(DTYPE_F32, n), loss(DTYPE_F32, 1), rloss(DTYPE_F32, 1);
    hbuf scratch(DTYPE_U8, CUDA_LOSS_SCRATCH);
    prob.poison();
    loss.poison();
    cuda_xent_geom g = {k.N, k.C, hw};
    cuda_xent_fwd(0, cu_code(dt), g, x.p, lab.as<int32_t>(), smoothing, -100, prob.as<float>(),
                  scratch.p, loss.as<float>());
    tensor tx = view(x, sx), tl = view(lab, sl), tp = view(rprob, sx), tloss = view(rloss, shape1(1));
    cpu()->ops->xent_fwd(cpu(), &tx, &tl, smoothing, -100, &tp, &tloss);
    expect_close("prob", prob, rprob, ulps(DTYPE_F32, 4), 0.0);
    expect_close("loss", loss, rloss, 1e-6, 0.0);

    hbuf dloss(DTYPE_F32, 1), dx(dt, n), rdx(dt, n);
    dloss.set(0, 0.75f);
    dx.poison();
    cuda_xent_bwd(0, cu_code(dt), g, rprob.as<float>(), lab.as<int32_t>(), smoothing, -100,
                  dloss.as<float>(), scratch.p, dx.p);
    tensor tdl = view(dloss, shape1(1)), tdx = view(rdx, sx);
    cpu()->ops->xent_bwd(cpu(), &tp, &tl, smoothing, -100, &tdl, &tdx);
    expect_close("dlogits", dx, rdx, ulps(dt, 2), 1e-7);
}

static void bad_label()
{
    long long pos = 0;
    CHECK_EQ(cuda_xent_bad_label(0, &pos), cudaSuccess);
    CHECK_EQ(pos, -1); /* nothing recorded by the cases above */
    int64_t N = 2, C = 3, hw = 300, npix = N * hw;
    hbuf x(DTYPE_F32, N * C * hw), lab(DTYPE_I32, npix), prob(DTYPE_F32, N * C * hw);
    hbuf loss(DTYPE_F32, 1), scratch(DTYPE_U8, CUDA_LOSS_SCRATCH);
    x.uniform(62, -1.0f, 1.0f);
    for (int64_t q = 0; q < npix; q++)
        lab.as<int32_t>()[q] = q == 401 || q == 577 ? 3 : q == 450 ? -7 : (int32_t)(q % 3);
    cuda_xent_geom g = {N, C, hw};
    cuda_xent_fwd(0, CU_F32, g, x.p, lab.as<int32_t>(), 0.0f, -100, prob.as<float>(), scratch.p,
                  loss.as<float>());
    CHECK_EQ(cuda_xent_bad_label(0, &pos), cudaSuccess);
    CHECK_EQ(pos, 401); /* the smallest bad pixel */
    printf("  bad label flag: ok\n");
}

static void count_scale()
{
    hbuf pcnt(DTYPE_I64, 5), dloss(DTYPE_F32, 1), scale(DTYPE_F32, 1);
    int64_t counts[5] = {3, 0, 7, 1, 2};
    memcpy(pcnt.p, counts, sizeof counts);
    dloss.set(0, 0.7f);
    scale.poison();
    cuda_loss_count_scale(0, 5, (const long long *)pcnt.p, dloss.as<float>(), scale.as<float>());
    CHECK_EQ(scale.get(0), (float)(0.7f / 13.0));
    memset(pcnt.p, 0, 5 * 8);
    cuda_loss_count_scale(0, 5, (const long long *)pcnt.p, dloss.as<float>(), scale.as<float>());
    CHECK_EQ(scale.get(0), 0.0f);
    printf("  count_scale: ok\n");
}

static void mse()
{
    printf("mse\n");
    for (dtype dt : float_dtypes)
        for (dtype tdt : float_dtypes)
            for (int64_t n : {77, 1000}) {
                hbuf p(dt, n), t(tdt, n), loss(DTYPE_F32, 1), rloss(DTYPE_F32, 1);
                hbuf scratch(DTYPE_U8, CUDA_LOSS_SCRATCH);
                p.uniform(63, -2.0f, 2.0f);
                t.uniform(64, -2.0f, 2.0f);
                loss.poison();
                cuda_mse_fwd(0, cu_code(dt), cu_code(tdt), n, p.p, t.p, scratch.p,
                             loss.as<float>());
                tensor tp = view(p, shape1(n)), tt = view(t, shape1(n));
                tensor tl = view(rloss, shape1(1));
                cpu()->ops->mse_fwd(cpu(), &tp, &tt, &tl);
                expect_close("mse loss", loss, rloss, 1e-6, 0.0);
            }
    grids("mse_bwd", true, [](unsigned) {
        for (dtype dt : float_dtypes)
            for (dtype tdt : float_dtypes) {
                int64_t n = 1000;
                hbuf p(dt, n), t(tdt, n), dl(DTYPE_F32, 1), d(dt, n), rd(dt, n);
                p.uniform(63, -2.0f, 2.0f);
                t.uniform(64, -2.0f, 2.0f);
                dl.set(0, 1.5f);
                d.poison();
                cuda_mse_bwd(0, cu_code(dt), cu_code(tdt), n, p.p, t.p, dl.as<float>(), d.p);
                tensor tp = view(p, shape1(n)), tt = view(t, shape1(n)), tdl = view(dl, shape1(1));
                tensor td = view(rd, shape1(n));
                cpu()->ops->mse_bwd(cpu(), &tp, &tt, &tdl, &td);
                expect_close("mse dpred", d, rd, ulps(dt, 2), 0.0);
            }
    });
}

void group_loss()
{
    printf("xent fwd/bwd\n");
    for (const xent_case &k : cases)
        for (dtype dt : float_dtypes)
            for (float smoothing : {0.0f, 0.1f})
                if (dt == DTYPE_F32 || smoothing == 0.0f)
                    xent_one(k, dt, smoothing);
    bad_label();
    count_scale();
    mse();
}
