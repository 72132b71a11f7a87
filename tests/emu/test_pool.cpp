/* cuda_pool_kernels.h against the CPU backend: max and average pooling forward and backward,
 * max unpooling forward and backward, nearest and bilinear upsampling forward and backward, in
 * f32, f16 and bf16, NCHW and channels-last. Bit for bit everywhere: the kernels promise the
 * CPU's terms in the CPU's order (cuda_pool.cu), one rounding per output. */
#include "cuda_pool_kernels.h"
#include "emu_test.h"

struct pool_case {
    int64_t N, C;
    int H, W, kh, kw, sh, sw, ph, pw;
    bool include_pad;
};
static const pool_case cases[] = {{2, 3, 9, 11, 3, 3, 2, 2, 1, 1, false},
                                  {1, 5, 8, 7, 2, 3, 2, 1, 0, 1, true},
                                  {3, 5, 6, 6, 2, 2, 2, 2, 0, 0, false}};

static void pooling()
{
    grids("pool max/avg fwd/bwd", true, [](unsigned) {
        for (const pool_case &k : cases)
            for (dtype dt : float_dtypes)
                for (layout lay : {LAYOUT_NCHW, LAYOUT_NHWC}) {
                    int P = (k.H + 2 * k.ph - k.kh) / k.sh + 1;
                    int Q = (k.W + 2 * k.pw - k.kw) / k.sw + 1;
                    cupool_geom g = {k.N * k.C, k.C, lay == LAYOUT_NHWC, k.H, k.W, P, Q,
                                     k.kh, k.kw, k.sh, k.sw, k.ph, k.pw, k.include_pad};
                    int64_t nx = k.N * k.C * k.H * k.W, ny = k.N * k.C * P * Q;
                    shape sx = shape4(k.N, k.C, k.H, k.W), sy = shape4(k.N, k.C, P, Q);
                    hbuf x(dt, nx), y(dt, ny), idx(DTYPE_I32, ny), ry(dt, ny), ridx(DTYPE_I32, ny);
                    x.uniform(30, -2.0f, 2.0f);
                    x.set(5, NAN); /* NaN propagates, and takes the index */
                    tensor tx = view(x, sx, lay), ty = view(ry, sy, lay), ti = view(ridx, sy, lay);
                    for (pool_kind kind : {POOL_MAX, POOL_AVG}) {
                        pool_desc d = {kind, k.kh, k.kw, k.sh, k.sw, k.ph, k.pw, k.include_pad};
                        y.poison();
                        idx.poison();
                        if (kind == POOL_MAX)
                            cupool_max_fwd(0, cu_code(dt), g, x.p, y.p, idx.as<int32_t>());
                        else
                            cupool_avg_fwd(0, cu_code(dt), g, x.p, y.p);
                        cpu()->ops->pool_fwd(cpu(), &d, &tx, &ty, kind == POOL_MAX ? &ti : NULL);
                        expect_equal(kind == POOL_MAX ? "max_fwd y" : "avg_fwd y", y, ry);
                        if (kind == POOL_MAX)
                            expect_equal("max_fwd idx", idx, ridx);
                        hbuf dy(dt, ny), dx(dt, nx), rdx(dt, nx);
                        dy.uniform(31, -1.0f, 1.0f);
                        dx.poison();
                        if (kind == POOL_MAX)
                            cupool_max_bwd(0, cu_code(dt), g, dy.p, ridx.as<int32_t>(), dx.p);
                        else
                            cupool_avg_bwd(0, cu_code(dt), g, dy.p, dx.p);
                        tensor tdy = view(dy, sy, lay), tdx = view(rdx, sx, lay);
                        cpu()->ops->pool_bwd(cpu(), &d, &tdy, kind == POOL_MAX ? &ti : NULL,
                                             &tdx);
                        expect_equal(kind == POOL_MAX ? "max_bwd" : "avg_bwd", dx, rdx);
                    }
                }
    });
}

static void unpooling()
{
    grids("unpool fwd/bwd", true, [](unsigned) {
        for (dtype dt : float_dtypes)
            for (layout lay : {LAYOUT_NCHW, LAYOUT_NHWC}) {
                int64_t N = 2, C = 5, h = 7, w = 9, Ho = 14, Wo = 18;
                int64_t in_sz = h * w, out_sz = Ho * Wo, nx = N * C * in_sz, ny = N * C * out_sz;
                shape sx = shape4(N, C, h, w), sy = shape4(N, C, Ho, Wo);
                hbuf x(dt, nx), idx(DTYPE_I32, nx), y(dt, ny), ry(dt, ny), claims(DTYPE_I32, ny);
                x.uniform(32, -2.0f, 2.0f);
                /* positions in the plane, often shared (the later input wins) */
                hbuf u(DTYPE_F32, nx);
                u.uniform(33, 0.0f, (float)out_sz / 3.0f);
                for (int64_t i = 0; i < nx; i++)
                    idx.as<int32_t>()[i] = (int32_t)u.get(i) * 3 % (int32_t)out_sz;
                int64_t c = lay == LAYOUT_NHWC ? C : 0;
                memset(dt == DTYPE_F32 ? y.p : claims.p, 0xff, (size_t)ny * 4);
                if (dt != DTYPE_F32)
                    y.poison();
                cupool_unpool_fwd(0, cu_code(dt), N * C, c, in_sz, out_sz, x.p,
                                  idx.as<int32_t>(), y.p, claims.as<int>());
                tensor tx = view(x, sx, lay), ti = view(idx, sx, lay), ty = view(ry, sy, lay);
                cpu()->ops->unpool_fwd(cpu(), &tx, &ti, &ty);
                expect_equal("unpool_fwd", y, ry);
                hbuf dy(dt, ny), dx(dt, nx), rdx(dt, nx);
                dy.uniform(34, -1.0f, 1.0f);
                dx.poison();
                cupool_unpool_bwd(0, cu_code(dt), N * C, c, in_sz, out_sz, dy.p,
                                  idx.as<int32_t>(), dx.p);
                tensor tdy = view(dy, sy, lay), tdx = view(rdx, sx, lay);
                cpu()->ops->unpool_bwd(cpu(), &tdy, &ti, &tdx);
                expect_equal("unpool_bwd", dx, rdx);
            }
    });
}

static void upsampling()
{
    static const int factors[][2] = {{2, 2}, {3, 2}, {2, 3}};
    grids("upsample fwd/bwd", true, [](unsigned) {
        for (const auto &f : factors)
            for (int bil = 0; bil < 2; bil++)
                for (dtype dt : float_dtypes)
                    for (layout lay : {LAYOUT_NCHW, LAYOUT_NHWC}) {
                        int64_t N = 2, C = 3;
                        int H = 5, W = 7, fh = f[0], fw = f[1];
                        int64_t nx = N * C * H * W, ny = nx * fh * fw;
                        shape sx = shape4(N, C, H, W), sy = shape4(N, C, H * fh, W * fw);
                        upsample_mode m = bil ? UPSAMPLE_BILINEAR : UPSAMPLE_NEAREST;
                        int64_t c = lay == LAYOUT_NHWC ? C : 0;
                        hbuf x(dt, nx), y(dt, ny), ry(dt, ny);
                        x.uniform(35, -2.0f, 2.0f);
                        y.poison();
                        cupool_upsample_fwd(0, cu_code(dt), bil, N * C, c, H, W, fh, fw, x.p,
                                            y.p);
                        tensor tx = view(x, sx, lay), ty = view(ry, sy, lay);
                        cpu()->ops->upsample_fwd(cpu(), m, &tx, &ty);
                        char what[64];
                        snprintf(what, sizeof what, "%s %dx%d %s %s fwd",
                                 bil ? "bilinear" : "nearest", fh, fw, dtype_name(dt),
                                 layout_name(lay));
                        expect_equal(what, y, ry);
                        hbuf dy(dt, ny), dx(dt, nx), rdx(dt, nx);
                        dy.uniform(36, -1.0f, 1.0f);
                        dx.poison();
                        cupool_upsample_bwd(0, cu_code(dt), bil, N * C, c, H, W, fh, fw, dy.p,
                                            dx.p);
                        tensor tdy = view(dy, sy, lay), tdx = view(rdx, sx, lay);
                        cpu()->ops->upsample_bwd(cpu(), m, &tdy, &tdx);
                        expect_equal("bwd", dx, rdx);
                    }
    });
}

void group_pool()
{
    pooling();
    unpooling();
    upsampling();
}
