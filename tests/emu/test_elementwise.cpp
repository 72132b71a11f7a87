/* cuda_elementwise_kernels.h against the CPU backend: fill, convert and its transposing
 * variant, scale_by, axpby, add, channel_copy, activations and dropout, each in f32, f16 and
 * bf16 (convert and transpose: all nine dtype pairs), NCHW and channels-last where the
 * launcher has a layout. Tolerance: bit for bit (the kernels do the CPU's f32 operations in
 * its order, one rounding per output), except tanh and sigmoid, whose libm calls may differ
 * by an ulp of f32 before the rounding to the dtype: 2 ulps of the dtype. */
#include "cuda_elementwise_kernels.h"
#include "emu_test.h"

static const int64_t sizes[] = {77, 1000}; /* one partial block; four blocks (cap: 2) */

static void fills()
{
    grids("fill", true, [](unsigned) {
        for (dtype dt : float_dtypes)
            for (int64_t n : sizes) {
                hbuf y(dt, n), r(dt, n);
                y.poison();
                cuew_fill_float(0, cu_code(dt), y.p, n, 1.0f / 3.0f);
                for (int64_t i = 0; i < n; i++)
                    r.set(i, 1.0f / 3.0f);
                expect_equal(dtype_name(dt), y, r);
            }
        hbuf a(DTYPE_I32, 1000), ra(DTYPE_I32, 1000), b(DTYPE_I64, 1000), rb(DTYPE_I64, 1000);
        a.poison();
        b.poison();
        cuew_fill_i32(0, a.as<int32_t>(), a.n, -7);
        cuew_fill_i64(0, b.as<int64_t>(), b.n, (int64_t)1 << 40);
        tensor ta = view(ra, shape1(ra.n)), tb = view(rb, shape1(rb.n));
        cpu()->ops->fill(cpu(), &ta, -7);
        cpu()->ops->fill(cpu(), &tb, (double)((int64_t)1 << 40));
        expect_equal("i32", a, ra);
        expect_equal("i64", b, rb);
    });
}

static void converts()
{
    grids("convert", true, [](unsigned) {
        for (dtype xd : float_dtypes)
            for (dtype yd : float_dtypes)
                for (float beta : {0.0f, 0.75f}) {
                    int64_t n = 1000;
                    hbuf x(xd, n), y(yd, n), r(yd, n);
                    x.uniform(1, -70000.0f, 70000.0f); /* f16 overflows to inf */
                    r.uniform(2, -3.0f, 3.0f);
                    if (beta == 0.0f)
                        r.poison();
                    y.copy_from(r);
                    cuew_convert(0, n, cu_code(xd), x.p, cu_code(yd), y.p, beta);
                    tensor tx = view(x, shape1(n)), tr = view(r, shape1(n));
                    cpu()->ops->convert(cpu(), &tx, &tr, beta);
                    char what[64];
                    snprintf(what, sizeof what, "%s->%s beta %g", dtype_name(xd),
                             dtype_name(yd), (double)beta);
                    expect_equal(what, y, r);
                }
    });
}

/* NCHW -> NHWC is (R, K) = (C, H*W) per batch item, NHWC -> NCHW (H*W, C). */
static void transposes()
{
    static const int64_t shapes[][4] = {{2, 3, 5, 7}, {3, 37, 3, 11}, {1, 5, 1, 1}};
    grids("transpose", true, [](unsigned) {
        for (const auto &s : shapes)
            for (int to_nhwc = 0; to_nhwc < 2; to_nhwc++)
                for (dtype xd : float_dtypes)
                    for (dtype yd : float_dtypes)
                        for (float beta : {0.0f, 0.5f}) {
                            int64_t N = s[0], C = s[1], HW = s[2] * s[3], n = N * C * HW;
                            hbuf x(xd, n), y(yd, n), r(yd, n);
                            x.uniform(3, -2.0f, 2.0f);
                            r.uniform(4, -1.0f, 1.0f);
                            if (beta == 0.0f)
                                r.poison();
                            y.copy_from(r);
                            cuew_transpose(0, N, to_nhwc ? C : HW, to_nhwc ? HW : C, cu_code(xd),
                                           x.p, cu_code(yd), y.p, beta);
                            layout xl = to_nhwc ? LAYOUT_NCHW : LAYOUT_NHWC;
                            layout yl = to_nhwc ? LAYOUT_NHWC : LAYOUT_NCHW;
                            shape sh = shape4(s[0], s[1], s[2], s[3]);
                            tensor tx = view(x, sh, xl), tr = view(r, sh, yl);
                            cpu()->ops->convert(cpu(), &tx, &tr, beta);
                            char what[96];
                            snprintf(what, sizeof what, "(%lld,%lld,%lld,%lld) %s %s->%s b%g",
                                     (long long)s[0], (long long)s[1], (long long)s[2],
                                     (long long)s[3], to_nhwc ? "to nhwc" : "to nchw",
                                     dtype_name(xd), dtype_name(yd), (double)beta);
                            expect_equal(what, y, r);
                        }
    });
}

static void linear_ops()
{
    grids("scale_by, axpby, add", true, [](unsigned) {
        for (dtype dt : float_dtypes)
            for (int64_t n : sizes) {
                hbuf k(DTYPE_F32, 1), y(dt, n), r(dt, n), x(dt, n), b(dt, n);
                k.set(0, 0.37f);
                r.uniform(5, -3.0f, 3.0f);
                x.uniform(6, -3.0f, 3.0f);
                b.uniform(7, -3.0f, 3.0f);
                y.copy_from(r);
                cuew_scale_by(0, cu_code(dt), n, y.p, k.as<float>());
                tensor tr = view(r, shape1(n)), tk = view(k, shape1(1));
                cpu()->ops->scale_by(cpu(), &tr, &tk);
                expect_equal("scale_by", y, r);
                for (float beta : {0.0f, -0.25f}) {
                    r.uniform(8, -3.0f, 3.0f);
                    if (beta == 0.0f)
                        r.poison();
                    y.copy_from(r);
                    cuew_axpby(0, cu_code(dt), n, 1.5f, x.p, beta, y.p);
                    tensor tx = view(x, shape1(n));
                    cpu()->ops->axpby(cpu(), 1.5f, &tx, beta, &tr);
                    expect_equal("axpby", y, r);
                }
                y.poison();
                cuew_add(0, cu_code(dt), n, x.p, b.p, y.p);
                tensor tx = view(x, shape1(n)), tb = view(b, shape1(n));
                cpu()->ops->add(cpu(), &tx, &tb, &tr);
                expect_equal("add", y, r);
            }
    });
}

static void channel_copies()
{
    grids("channel_copy", true, [](unsigned) {
        for (dtype dt : float_dtypes)
            for (layout lay : {LAYOUT_NCHW, LAYOUT_NHWC})
                for (float beta : {0.0f, 0.5f}) {
                    int64_t N = 2, Cs = 5, Cd = 6, H = 13, W = 17, hw = H * W;
                    hbuf src(dt, N * Cs * hw), dst(dt, N * Cd * hw), r(dt, N * Cd * hw);
                    src.uniform(9, -2.0f, 2.0f);
                    r.uniform(10, -2.0f, 2.0f);
                    if (beta == 0.0f)
                        r.poison(); /* channels not copied stay NaN on both sides */
                    dst.copy_from(r);
                    int64_t n = lay == LAYOUT_NHWC ? N * hw : N, h = lay == LAYOUT_NHWC ? 1 : hw;
                    cuew_channel_copy(0, cu_code(dt), n, Cs, Cd, h, src.p, 1, dst.p, 2, 3, beta);
                    tensor ts = view(src, shape4(N, Cs, H, W), lay);
                    tensor tr = view(r, shape4(N, Cd, H, W), lay);
                    cpu()->ops->channel_copy(cpu(), &ts, 1, &tr, 2, 3, beta);
                    expect_equal(layout_name(lay), dst, r);
                }
    });
}

static void activations()
{
    static const act_kind kinds[] = {ACT_RELU, ACT_LEAKY_RELU, ACT_TANH, ACT_SIGMOID};
    static const int codes[] = {CUEW_RELU, CUEW_LEAKY_RELU, CUEW_TANH, CUEW_SIGMOID};
    grids("act_fwd, act_bwd", true, [](unsigned) {
        for (dtype dt : float_dtypes)
            for (int k = 0; k < 4; k++) {
                int64_t n = 1000;
                double rtol = k >= 2 ? ulps(dt, 2) : 0.0;
                hbuf x(dt, n), y(dt, n), r(dt, n), dy(dt, n), dx(dt, n), rdx(dt, n);
                x.uniform(11, -4.0f, 4.0f);
                dy.uniform(12, -1.0f, 1.0f);
                y.poison();
                cuew_act_fwd(0, cu_code(dt), codes[k], 0.1f, n, x.p, y.p);
                tensor tx = view(x, shape1(n)), tr = view(r, shape1(n));
                cpu()->ops->act_fwd(cpu(), kinds[k], 0.1f, &tx, &tr);
                expect_close(k >= 2 ? "act_fwd (tanh/sigmoid)" : "act_fwd", y, r, rtol, 0.0);
                dx.poison();
                /* backward from the CPU's forward output, so both see the same y */
                cuew_act_bwd(0, cu_code(dt), codes[k], 0.1f, n, x.p, r.p, dy.p, dx.p);
                tensor tdy = view(dy, shape1(n)), tdx = view(rdx, shape1(n));
                cpu()->ops->act_bwd(cpu(), kinds[k], 0.1f, &tx, &tr, &tdy, &tdx);
                expect_equal("act_bwd", dx, rdx);
            }
    });
}

static void dropouts()
{
    grids("dropout_fwd, dropout_bwd", true, [](unsigned) {
        for (dtype dt : float_dtypes)
            for (layout lay : {LAYOUT_NCHW, LAYOUT_NHWC}) {
                int64_t N = 2, C = 5, H = 19, W = 23, n = N * C * H * W; /* n % 4 != 0 */
                float p = 0.3f, scale = 1.0f / (1.0f - p);
                rng_key key = rng_key_from_seed(42);
                hbuf x(dt, n), y(dt, n), m(DTYPE_U8, n), ry(dt, n), rm(DTYPE_U8, n);
                x.uniform(13, -2.0f, 2.0f);
                y.poison();
                m.poison();
                int64_t c = lay == LAYOUT_NHWC ? C : 0, hw = lay == LAYOUT_NHWC ? H * W : 0;
                cuew_dropout_fwd(0, cu_code(dt), key.k[0], key.k[1], p, scale, n, c, hw, x.p,
                                 y.p, m.as<uint8_t>());
                shape sh = shape4(N, C, H, W);
                tensor tx = view(x, sh, lay), ty = view(ry, sh, lay), tm = view(rm, sh, lay);
                cpu()->ops->dropout_fwd(cpu(), key, p, &tx, &ty, &tm);
                expect_equal(layout_name(lay), m, rm);
                expect_equal(layout_name(lay), y, ry);
                hbuf dy(dt, n), dx(dt, n), rdx(dt, n);
                dy.uniform(14, -1.0f, 1.0f);
                dx.poison();
                cuew_dropout_bwd(0, cu_code(dt), scale, n, rm.as<uint8_t>(), dy.p, dx.p);
                tensor tdy = view(dy, sh, lay), tdx = view(rdx, sh, lay);
                cpu()->ops->dropout_bwd(cpu(), p, &tm, &tdy, &tdx);
                expect_equal("dropout_bwd", dx, rdx);
            }
    });
}

void group_elementwise()
{
    fills();
    converts();
    transposes();
    linear_ops();
    channel_copies();
    activations();
    dropouts();
}
