/* cuda_optim_kernels.h against the CPU backend: sumsq (its per-block partials capped at
 * CUDA_OPTIM_RED_BLOCKS = 3 here, so large inputs run grid-stride), grad_coef, the loss scale
 * update, SGD and AdamW. Bit for bit, as cuda_optim.cu promises (explicit roundings, the
 * CPU's operation order), except sumsq: double partials in another grouping than the CPU's,
 * rounded to f32: 2 ulps. */
#include <math.h>

#include "cuda_optim_kernels.h"
#include "emu_test.h"

static void sumsq()
{
    printf("sumsq\n"); /* partials per block: the grid must not be capped (the host sizes it) */
    for (int64_t n : {77, 1000, 5000})
        for (float beta : {0.0f, 0.5f}) {
            hbuf x(DTYPE_F32, n), out(DTYPE_F32, 1), r(DTYPE_F32, 1);
            hbuf scratch(DTYPE_I64, CUDA_OPTIM_RED_BLOCKS); /* doubles */
            x.uniform(50, -2.0f, 2.0f);
            r.set(0, beta == 0.0f ? NAN : 3.0f);
            out.copy_from(r);
            cuda_optim_sumsq(0, n, x.as<float>(), (double *)scratch.p, out.as<float>(), beta);
            tensor tx = view(x, shape1(n)), to = view(r, shape1(1));
            cpu()->ops->sumsq(cpu(), &tx, &to, beta);
            expect_close("sumsq", out, r, ulps(DTYPE_F32, 2), 0.0);
        }
}

static void coef_and_scale()
{
    printf("grad_coef, loss_scale_update\n");
    for (float ss : {4.0f, 1e6f, INFINITY, NAN})
        for (float max_norm : {0.0f, 1.0f})
            for (int scaled = 0; scaled < 2; scaled++) {
                hbuf s(DTYPE_F32, 1), sc(DTYPE_F32, 1), c(DTYPE_F32, 2), r(DTYPE_F32, 2);
                s.set(0, ss);
                sc.set(0, 65536.0f * 3.0f);
                c.poison();
                cuda_optim_grad_coef(0, s.as<float>(), max_norm, scaled ? sc.as<float>() : NULL,
                                     c.as<float>());
                tensor ts = view(s, shape1(1)), tsc = view(sc, shape1(1)), tr = view(r, shape1(2));
                cpu()->ops->grad_coef(cpu(), &ts, max_norm, scaled ? &tsc : NULL, &tr);
                expect_equal("grad_coef", c, r);
            }
    for (float skip : {0.0f, 1.0f})
        for (float good : {0.0f, 1.0f, 2.0f})
            for (float scale : {1024.0f, 0x1p126f}) {
                hbuf s(DTYPE_F32, 2), r(DTYPE_F32, 2), c(DTYPE_F32, 2);
                r.set(0, scale);
                r.set(1, good);
                c.set(0, 1.0f);
                c.set(1, skip);
                s.copy_from(r);
                cuda_optim_loss_scale_update(0, s.as<float>(), c.as<float>(), 2.0f, 0.5f, 3);
                tensor tr = view(r, shape1(2)), tc = view(c, shape1(2));
                cpu()->ops->loss_scale_update(cpu(), &tr, &tc, 2.0f, 0.5f, 3);
                expect_equal("loss_scale_update", s, r);
            }
}

static void updates()
{
    grids("sgd, adamw", true, [](unsigned) {
        int64_t n = 1000;
        hbuf g(DTYPE_F32, n), w0(DTYPE_F32, n), m0(DTYPE_F32, n), v0(DTYPE_F32, n);
        g.uniform(51, -1.0f, 1.0f);
        w0.uniform(52, -1.0f, 1.0f);
        m0.uniform(53, -0.1f, 0.1f);
        v0.uniform(54, 0.0f, 0.01f);
        hbuf coef(DTYPE_F32, 2);
        for (int cmode = 0; cmode < 3; cmode++) { /* NULL, [0.37, 0], skip */
            coef.set(0, 0.37f);
            coef.set(1, cmode == 2 ? 1.0f : 0.0f);
            const float *cp = cmode ? coef.as<float>() : NULL;
            tensor tc = view(coef, shape1(2));
            const tensor *tcp = cmode ? &tc : NULL;
            for (int v = 0; v < 6; v++) {
                optim_sgd_args a = {0.1f, v < 2 ? 0.0f : 0.9f, v & 1 ? 1e-2f : 0.0f, v == 5,
                                    v == 2};
                hbuf w(DTYPE_F32, n), rw(DTYPE_F32, n), m(DTYPE_F32, n), rm(DTYPE_F32, n);
                w.copy_from(w0);
                rw.copy_from(w0);
                m.copy_from(m0);
                rm.copy_from(m0);
                bool mom = a.momentum != 0.0f;
                cuda_optim_sgd(0, n, w.as<float>(), g.as<float>(), mom ? m.as<float>() : NULL,
                               a.lr, a.momentum, a.weight_decay, a.nesterov, a.first, cp);
                tensor tw = view(rw, shape1(n)), tg = view(g, shape1(n)), tm = view(rm, shape1(n));
                cpu()->ops->sgd_update(cpu(), &tw, &tg, mom ? &tm : NULL, &a, tcp);
                expect_equal("sgd w", w, rw);
                expect_equal("sgd mom", m, rm);
            }
            for (int64_t step : {1, 7}) {
                optim_adamw_args a = {1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, step};
                hbuf w(DTYPE_F32, n), rw(DTYPE_F32, n), m(DTYPE_F32, n), rm(DTYPE_F32, n);
                hbuf vv(DTYPE_F32, n), rv(DTYPE_F32, n);
                w.copy_from(w0);
                rw.copy_from(w0);
                m.copy_from(m0);
                rm.copy_from(m0);
                vv.copy_from(v0);
                rv.copy_from(v0);
                /* the host scalars as cuda_optim.c computes them */
                float decay = (float)(1.0 - (double)a.lr * a.weight_decay);
                float step_size = (float)(a.lr / (1.0 - pow(a.beta1, (double)a.step)));
                float bc2_sqrt = (float)sqrt(1.0 - pow(a.beta2, (double)a.step));
                float k1 = (float)(1.0 - (double)a.beta1), k2 = (float)(1.0 - (double)a.beta2);
                cuda_optim_adamw(0, n, w.as<float>(), g.as<float>(), m.as<float>(),
                                 vv.as<float>(), decay, step_size, bc2_sqrt, a.beta1, a.beta2,
                                 k1, k2, a.eps, cp);
                tensor tw = view(rw, shape1(n)), tg = view(g, shape1(n)), tm = view(rm, shape1(n));
                tensor tv = view(rv, shape1(n));
                cpu()->ops->adamw_update(cpu(), &tw, &tg, &tm, &tv, &a, tcp);
                expect_equal("adamw w", w, rw);
                expect_equal("adamw m", m, rm);
                expect_equal("adamw v", vv, rv);
            }
        }
    });
}

void group_optim()
{
    sumsq();
    coef_and_scale();
    updates();
}
