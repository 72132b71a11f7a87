/* cuda_norm_kernels.h against the CPU backend's normalisation ops, batch and instance, NCHW
 * and channels-last: norm_reduce (statistics and the backward sums; one piece per statistic
 * and several, short planes and long), norm_coefs with norm_pointwise (apply, backward with
 * batch statistics, eval backward), norm_stats_sums both ways. Tolerances: the reductions
 * sum in double in another order than the CPU, then round to f32: 4 ulps of f32 (atol 1e-6
 * for sums near 0; sum_dy_xhat 1e-6 sqrt(count): the CPU rounds every term to f32). Pointwise outputs use f32 coefficients computed in double, as the CPU:
 * 2 ulps of the dtype, atol 1e-5 where terms cancel. */
#include "cuda_norm_kernels.h"
#include "emu_test.h"

struct norm_case {
    int64_t N, C, H, W;
    bool lowp; /* also in f16 and bf16 (the emulated barriers are slow: not every case) */
    bool cl;   /* also channels-last */
};
/* short planes (len 35 and 1), long planes (272: segment and chunk paths; channels-last
 * batch: 5 pieces), NCHW pieces > 1 */
static const norm_case cases[] = {{2, 3, 5, 7, true, true},
                                  {37, 5, 1, 1, false, true},
                                  {2, 5, 16, 17, true, true},
                                  {2, 3, 64, 65, false, false}};

static cuda_norm_geom geometry(norm_mode m, const norm_case &k, layout lay)
{
    cuda_norm_geom g;
    g.c = k.C;
    g.len = k.H * k.W;
    g.planes = k.N * k.C;
    g.groups = m == NORM_BATCH ? g.c : g.planes;
    g.nseg = m == NORM_BATCH ? k.N : 1;
    g.cl = lay == LAYOUT_NHWC;
    return g;
}

static void one(const norm_case &k, dtype dt, layout lay, norm_mode m)
{
    cuda_norm_geom g = geometry(m, k, lay);
    int64_t n = k.N * k.C * k.H * k.W, S = g.groups, P = cuda_norm_pieces(g);
    shape sx = shape4(k.N, k.C, k.H, k.W), ss = m == NORM_BATCH ? shape1(k.C) : shape2(k.N, k.C);
    const char *mode = m == NORM_BATCH ? "batch" : "instance";
    printf(" %s (%lld,%lld,%lld,%lld) %s %s pieces %lld\n", mode, (long long)k.N,
           (long long)k.C, (long long)k.H, (long long)k.W, dtype_name(dt), layout_name(lay),
           (long long)P);
    hbuf x(dt, n), dy(dt, n), gamma(DTYPE_F32, k.C), beta(DTYPE_F32, k.C);
    x.uniform(40, 999.5f, 1000.5f); /* a large mean: the shift must keep the variance */
    dy.uniform(41, -1.0f, 1.0f);
    gamma.uniform(42, 0.5f, 1.5f);
    beta.uniform(43, -0.5f, 0.5f);
    tensor tx = view(x, sx, lay), tdy = view(dy, sx, lay);
    hbuf part(DTYPE_F32, S * P * 4); /* double2 per (statistic, piece) */
    hbuf mean(DTYPE_F32, S), var(DTYPE_F32, S), rmean(DTYPE_F32, S), rvar(DTYPE_F32, S);
    mean.poison();
    var.poison();
    part.poison();
    cuda_norm_reduce(0, cu_code(dt), g, P, x.p, NULL, NULL, NULL, 0.0f, part.p,
                     mean.as<float>(), var.as<float>());
    tensor tm = view(rmean, ss), tv = view(rvar, ss);
    cpu()->ops->norm_stats(cpu(), m, &tx, &tm, &tv);
    expect_close("mean", mean, rmean, ulps(DTYPE_F32, 4), 1e-6);
    expect_close("var", var, rvar, ulps(DTYPE_F32, 4), 1e-6);

    float eps = 1e-5f;
    hbuf sdy(DTYPE_F32, S), sdyx(DTYPE_F32, S), rsdy(DTYPE_F32, S), rsdyx(DTYPE_F32, S);
    sdy.poison();
    sdyx.poison();
    cuda_norm_reduce(0, cu_code(dt), g, P, x.p, dy.p, rmean.as<float>(), rvar.as<float>(), eps,
                     part.p, sdy.as<float>(), sdyx.as<float>());
    tensor tsdy = view(rsdy, ss), tsdyx = view(rsdyx, ss);
    cpu()->ops->norm_bwd_reduce(cpu(), m, &tdy, &tx, &tm, &tv, eps, &tsdy, &tsdyx);
    expect_close("sum_dy", sdy, rsdy, ulps(DTYPE_F32, 4), 1e-6);
    /* the CPU rounds each term dy * xhat to f32 before its double sum (|terms| <= ~2): a
     * random walk of f32 roundings, sqrt(count) of them */
    expect_close("sum_dy_xhat", sdyx, rsdyx, ulps(DTYPE_F32, 4),
                 1e-6 * sqrt((double)(g.nseg * g.len)));

    tensor tg = view(gamma, shape1(k.C)), tb = view(beta, shape1(k.C));
    hbuf coef(DTYPE_F32, S * 4), out(dt, n), rout(dt, n);
    tensor to = view(rout, sx, lay);
    double count = (double)(g.nseg * g.len);
    for (int kind = 0; kind < 3; kind++) {
        coef.poison();
        out.poison();
        const float *ga = kind == 1 ? NULL : gamma.as<float>(); /* gamma NULL means 1 */
        cuda_norm_coefs(0, g, (cuda_norm_pw)kind, rmean.as<float>(), rvar.as<float>(), eps, ga,
                        beta.as<float>(), rsdy.as<float>(), rsdyx.as<float>(), count,
                        coef.as<float>());
        cuda_norm_pointwise(0, cu_code(dt), g, coef.as<float>(), x.p, kind ? dy.p : NULL, out.p);
        if (kind == CUDA_NORM_APPLY)
            cpu()->ops->norm_apply(cpu(), m, &tx, &tm, &tv, eps, &tg, &tb, &to);
        else
            cpu()->ops->norm_bwd_data(cpu(), m, &tdy, &tx, &tm, &tv, eps, ga ? &tg : NULL,
                                      &tsdy, &tsdyx, count, kind == CUDA_NORM_BWD_BATCH, &to);
        static const char *names[] = {"apply", "bwd_data (batch stats)", "bwd_data (eval)"};
        expect_close(names[kind], out, rout, ulps(dt, 2), 1e-5);
    }
}

static void stats_sums()
{
    for (int shifted = 0; shifted < 2; shifted++)
        for (int to_sums = 0; to_sums < 2; to_sums++) {
            int64_t C = 300; /* two blocks */
            hbuf st(DTYPE_F32, 2 * C), r(DTYPE_F32, 2 * C), shift(DTYPE_F32, C);
            r.uniform(44, 0.5f, 2.0f);
            shift.uniform(45, 0.0f, 1.0f);
            st.copy_from(r);
            double count = 1234.0;
            cuda_norm_stats_sums(0, to_sums, shifted ? shift.as<float>() : NULL, count, C,
                                 st.as<float>());
            tensor ts = view(r, shape2(2, C)), tsh = view(shift, shape1(C));
            cpu()->ops->norm_stats_sums(cpu(), to_sums, shifted ? &tsh : NULL, count, &ts);
            expect_close(to_sums ? "to sums" : "from sums", st, r, ulps(DTYPE_F32, 2), 0.0);
        }
}

void group_norm()
{
    grids("norm", true, [](unsigned) {
        for (const norm_case &k : cases)
            for (dtype dt : float_dtypes)
                for (layout lay : {LAYOUT_NCHW, LAYOUT_NHWC})
                    for (norm_mode m : {NORM_BATCH, NORM_INSTANCE}) {
                        if ((dt != DTYPE_F32 && !k.lowp) || (lay == LAYOUT_NHWC && !k.cl) ||
                            (m == NORM_INSTANCE && k.H * k.W == 1))
                            continue;
                        one(k, dt, lay, m);
                    }
        stats_sums();
    });
}
