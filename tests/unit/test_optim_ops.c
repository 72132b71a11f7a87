/* The CPU backend's optimizer ops on hand-computed values: sumsq (exact integer sums, beta
 * accumulation, bit-identical results for 1 and 3 threads), grad_coef (clipping formula,
 * loss scale, the skip flag for Inf and NaN), the SGD and AdamW update formulas of
 * backend.h on one element, and the skip flag honoured by both updates. */
#include <math.h>

#include "../../src/core/core.h"
#include "../check.h"

static backend *cpu(int threads)
{
    backend *be;
    cnn_err e = {0};
    CHECK(backend_create("cpu", threads, &be, &e) == 0);
    return be;
}

static tensor host(float *p, int64_t n) { return tensor_view(p, SHAPE(n), DTYPE_F32, DEVICE_CPU); }

static void check_sumsq(void)
{
    backend *be = cpu(2);
    int64_t n = 100003;
    float *x = malloc((size_t)n * sizeof *x), out = -1.0f;
    CHECK(x);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(i % 7) - 3.0f; /* 28 per 7 elements, then 9: 400017 */
    tensor tx = host(x, n), to = host(&out, 1);
    be->ops->sumsq(be, &tx, &to, 0.0f);
    CHECK_EQ(out, 400017);
    be->ops->sumsq(be, &tx, &to, 0.5f);
    CHECK(out == 600025.5f);
    tensor empty = host(x, 0);
    empty.s = SHAPE(0);
    be->ops->sumsq(be, &empty, &to, 0.0f);
    CHECK(out == 0.0f);
    backend_destroy(be);

    /* Random values: thread count must not change a bit; double reference within 1e-6. */
    n = 1000003;
    x = realloc(x, (size_t)n * sizeof *x);
    CHECK(x);
    rng_fill_uniform(rng_key_from_seed(7), 0, x, (size_t)n, -3.0f, 3.0f);
    double ref = 0;
    for (int64_t i = 0; i < n; i++)
        ref += (double)x[i] * x[i];
    float r1, r3;
    tx = host(x, n);
    backend *b1 = cpu(1);
    tensor t1 = host(&r1, 1);
    b1->ops->sumsq(b1, &tx, &t1, 0.0f);
    backend_destroy(b1);
    backend *b3 = cpu(3);
    tensor t3 = host(&r3, 1);
    b3->ops->sumsq(b3, &tx, &t3, 0.0f);
    backend_destroy(b3);
    CHECK(!memcmp(&r1, &r3, sizeof r1));
    CHECK_NEAR(r1, ref, 1e-6 * ref);
    free(x);
    printf("sumsq: ok\n");
}

/* scale: the loss scale as a device scalar; 0 passes NULL (unscaled). */
static void coef_of(backend *be, float ss, float max_norm, float scale, float *c)
{
    tensor ts = host(&ss, 1), tc = host(c, 2), tsc = host(&scale, 1);
    be->ops->grad_coef(be, &ts, max_norm, scale != 0.0f ? &tsc : NULL, &tc);
}

static void check_grad_coef(void)
{
    backend *be = cpu(1);
    float c[2];
    coef_of(be, 25.0f, 1.0f, 2.0f, c); /* norm 5 scaled, 2.5 unscaled: clip to 1 */
    CHECK_NEAR(c[0], 0.5 / (2.5 + 1e-6), 1e-7);
    CHECK(c[1] == 0.0f);
    coef_of(be, 25.0f, 10.0f, 2.0f, c); /* below the bound: only the loss scale */
    CHECK(c[0] == 0.5f && c[1] == 0.0f);
    coef_of(be, 25.0f, 0.0f, 4.0f, c); /* max_norm 0: no clipping */
    CHECK(c[0] == 0.25f && c[1] == 0.0f);
    coef_of(be, 4.0f, 1.0f, 0.0f, c); /* PyTorch: max_norm / (norm + 1e-6) */
    CHECK_NEAR(c[0], 1.0 / (2.0 + 1e-6), 1e-7);
    coef_of(be, INFINITY, 1.0f, 0.0f, c);
    CHECK(c[1] == 1.0f);
    coef_of(be, NAN, 0.0f, 1.0f, c); /* an explicit scale of 1 */
    CHECK(c[1] == 1.0f);
    backend_destroy(be);
    printf("grad_coef: ok\n");
}

/* w = 1, g = 0.5, m = 0.9, wd = 0.1, lr = 0.1: d = 0.6. */
static void sgd_one(backend *be, bool first, bool nesterov, float mom0, const float *coef,
                    float want_w, float want_mom)
{
    float w = 1.0f, g = 0.5f, mom = mom0, cf[2];
    tensor tw = host(&w, 1), tg = host(&g, 1), tm = host(&mom, 1), tc = host(cf, 2);
    if (coef)
        memcpy(cf, coef, sizeof cf);
    optim_sgd_args a = {0.1f, 0.9f, 0.1f, nesterov, first};
    be->ops->sgd_update(be, &tw, &tg, &tm, &a, coef ? &tc : NULL);
    CHECK_NEAR(w, want_w, 1e-6);
    CHECK_NEAR(mom, want_mom, 1e-6);
}

static void check_updates(void)
{
    backend *be = cpu(1);
    sgd_one(be, true, false, 123.0f, NULL, 0.94f, 0.6f);   /* first: mom = d */
    sgd_one(be, false, false, 1.0f, NULL, 0.85f, 1.5f);    /* 0.9 * 1 + 0.6 */
    sgd_one(be, false, true, 1.0f, NULL, 0.805f, 1.5f);    /* d + 0.9 * 1.5 = 1.95 */
    const float half[2] = {2.0f, 0.0f}, skip[2] = {2.0f, 1.0f};
    sgd_one(be, true, false, 0.0f, half, 0.89f, 1.1f);     /* g' = 1: d = 1.1 */
    sgd_one(be, false, true, 7.0f, skip, 1.0f, 7.0f);      /* skipped: untouched */

    /* AdamW, step 1: w = 0.99 (decay), m = (1-b1) 0.5, v = (1-b2) 0.25, and the bias
     * corrected update 0.1 * 0.5/(0.5 + eps). b1, b2 are the float betas the args carry
     * (1 - 0.999f is 1.3e-5 relatively off 1e-3; the bias correction cancels it). */
    const double b1 = 0.9f, b2 = 0.999f;
    float w = 1.0f, g = 0.5f, m = 0.0f, v = 0.0f;
    tensor tw = host(&w, 1), tg = host(&g, 1), tm = host(&m, 1), tv = host(&v, 1);
    optim_adamw_args a = {0.1f, 0.9f, 0.999f, 1e-8f, 0.1f, 1};
    be->ops->adamw_update(be, &tw, &tg, &tm, &tv, &a, NULL);
    CHECK_NEAR(w, 0.99 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-6);
    CHECK_NEAR(m, (1 - b1) * 0.5, 1e-9);
    CHECK_NEAR(v, (1 - b2) * 0.25, 1e-11);
    /* Step 2 with g = 0: m and v decay, bias corrections 1 - b^2. */
    g = 0.0f;
    a.step = 2;
    double m2 = b1 * (1 - b1) * 0.5, v2 = b2 * (1 - b2) * 0.25;
    double w2 = w * (1 - 0.01);
    w2 -= 0.1 * (m2 / (1 - b1 * b1)) / (sqrt(v2 / (1 - b2 * b2)) + 1e-8);
    be->ops->adamw_update(be, &tw, &tg, &tm, &tv, &a, NULL);
    CHECK_NEAR(w, w2, 1e-6);
    CHECK_NEAR(m, m2, 1e-9);
    CHECK_NEAR(v, v2, 1e-11);
    float skip_c[2] = {1.0f, 1.0f}, w_before = w, m_before = m, v_before = v;
    tensor tc = host(skip_c, 2);
    g = 5.0f;
    be->ops->adamw_update(be, &tw, &tg, &tm, &tv, &a, &tc);
    CHECK(w == w_before && m == m_before && v == v_before);
    backend_destroy(be);
    printf("updates: ok\n");
}

int main(void)
{
    check_sumsq();
    check_grad_coef();
    check_updates();
    printf("optim ops: ok\n");
    return 0;
}
