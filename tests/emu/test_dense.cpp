/* cuda_dense_kernels.h against the CPU backend: bias_add (bit for bit: one f32 add, one
 * rounding) and bias_grad on NCHW and channels-last gradients, with one piece per channel and
 * with several (the two-stage path), activations in f32, f16 and bf16 and the bias in the
 * same dtype or f32. bias_grad sums in f32 in its own fixed order where the CPU sums in
 * double: inputs are positive (no cancellation), so a relative 1e-5 bounds the f32
 * accumulation error (a few ulps times log2 of the terms), plus 2 ulps of the bias dtype. */
#include "cuda_dense_kernels.h"
#include "emu_test.h"

struct dense_case {
    int64_t N, C, H, W;
};
/* C = 3, 5 and 37 (two column tiles of 32); 2x64x65: 3 pieces per channel; 2x13x13 NHWC: 3. */
static const dense_case cases[] = {{2, 3, 5, 7}, {2, 37, 1, 3}, {2, 3, 64, 65}, {2, 5, 13, 13}};
/* (activations, bias) dtypes; beta 0.5 only for the first (the barriers are slow to emulate) */
static const dtype pairs[][2] = {{DTYPE_F32, DTYPE_F32}, {DTYPE_F16, DTYPE_F16},
                                 {DTYPE_BF16, DTYPE_BF16}, {DTYPE_BF16, DTYPE_F32}};

static void bias_add()
{
    grids("bias_add", true, [](unsigned) {
        for (const dense_case &k : cases)
            for (dtype dt : float_dtypes)
                for (dtype bdt : {dt, DTYPE_F32})
                    if (k.H * k.W < 1000) /* the long case is for bias_grad's pieces */
                    for (layout lay : {LAYOUT_NCHW, LAYOUT_NHWC}) {
                        int64_t hw = k.H * k.W, n = k.N * k.C * hw;
                        hbuf y(dt, n), r(dt, n), b(bdt, k.C);
                        r.uniform(20, -2.0f, 2.0f);
                        b.uniform(21, -1.0f, 1.0f);
                        y.copy_from(r);
                        bool cl = lay == LAYOUT_NHWC;
                        cuda_bias_add_launch(0, cu_code(dt), y.p, cu_code(bdt), b.p,
                                             cl ? k.N * hw : k.N, k.C, cl ? 1 : hw);
                        /* an f32 bias with 16-bit activations: the CPU's f32 op (its
                         * 16-bit ops take one dtype), rounded once, as the kernel does */
                        hbuf r32(DTYPE_F32, n);
                        convert_into(r32, r);
                        hbuf &ref = bdt == dt ? r : r32;
                        tensor ty = view(ref, shape4(k.N, k.C, k.H, k.W), lay);
                        tensor tb = view(b, shape1(k.C));
                        cpu()->ops->bias_add(cpu(), &ty, &tb);
                        if (bdt != dt)
                            convert_into(r, r32);
                        char what[64];
                        snprintf(what, sizeof what, "C=%lld %s+%s %s", (long long)k.C,
                                 dtype_name(dt), dtype_name(bdt), layout_name(lay));
                        expect_equal(what, y, r);
                    }
    });
}

static void bias_grad()
{
    grids("bias_grad", true, [](unsigned) {
        for (const dense_case &k : cases)
            for (const auto &pr : pairs)
                for (layout lay : {LAYOUT_NCHW, LAYOUT_NHWC})
                    for (float beta : {0.0f, 0.5f}) {
                            dtype dt = pr[0], bdt = pr[1];
                            if (beta != 0.0f && dt != DTYPE_F32)
                                continue;
                            int64_t hw = k.H * k.W, n = k.N * k.C * hw;
                            bool cl = lay == LAYOUT_NHWC;
                            hbuf dy(dt, n), db(bdt, k.C), r(bdt, k.C);
                            dy.uniform(22, 0.5f, 1.5f);
                            r.uniform(23, -1.0f, 1.0f);
                            if (beta == 0.0f)
                                r.poison();
                            db.copy_from(r);
                            int64_t P = cl ? cuda_bias_grad_cl_pieces(k.N * hw, k.C)
                                           : cuda_bias_grad_pieces(k.N, k.C, hw);
                            hbuf part(DTYPE_F32, k.C * P);
                            part.poison();
                            if (cl)
                                cuda_bias_grad_cl_launch(0, cu_code(dt), dy.p, cu_code(bdt),
                                                         db.p, k.N * hw, k.C, beta,
                                                         part.as<float>());
                            else
                                cuda_bias_grad_launch(0, cu_code(dt), dy.p, cu_code(bdt), db.p,
                                                      k.N, k.C, hw, beta, part.as<float>());
                            hbuf dy32(DTYPE_F32, n); /* mixed dtypes: as bias_add */
                            convert_into(dy32, dy);
                            tensor tdy = view(bdt == dt ? dy : dy32, shape4(k.N, k.C, k.H, k.W),
                                              lay);
                            tensor tdb = view(r, shape1(k.C));
                            cpu()->ops->bias_grad(cpu(), &tdy, &tdb, beta);
                            char what[80];
                            snprintf(what, sizeof what, "C=%lld %s->%s %s P=%lld b%g",
                                     (long long)k.C, dtype_name(dt), dtype_name(bdt),
                                     layout_name(lay), (long long)P, (double)beta);
                            expect_close(what, db, r, 1e-5 + ulps(bdt, 2), 0.0);
                        }
    });
}

void group_dense()
{
    bias_add();
    bias_grad();
}
