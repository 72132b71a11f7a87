/* CPU normalisation kernels on shapes the layer fixtures do not reach: planes of several
 * blocks, statistics split into pieces, (N, C) input wider than one channel chunk, means far
 * from 0. Checked against straightforward double-precision loops, and for bitwise equality
 * between 1 and 4 threads (the merge tree must not depend on the thread count). */
#include <string.h>

#include "../../src/core/core.h"
#include "../check.h"

typedef struct host_ref {
    double *mean, *var, *sdy, *sdyx;
    float *y, *dx;
} host_ref;

/* Index of statistic for element i of x (N, C, L). */
static int64_t stat_of(norm_mode m, int64_t i, int64_t c, int64_t l)
{
    int64_t plane = i / l;
    return m == NORM_BATCH ? plane % c : plane;
}

/* Exact statistics in double; the other references start from the statistics the kernel
 * stored (float, as every consumer sees them), so each op is checked on its own inputs. */
static host_ref reference(norm_mode m, shape s, const float *x)
{
    int64_t total = shape_numel(&s), c = s.d[1], l = shape_inner(&s, 2);
    int64_t g = m == NORM_BATCH ? c : s.d[0] * c;
    double cnt = (double)total / (double)g;
    host_ref r = {cnn_xcalloc((size_t)g, 8), cnn_xcalloc((size_t)g, 8), cnn_xcalloc((size_t)g, 8),
                  cnn_xcalloc((size_t)g, 8), cnn_xmalloc((size_t)total * 4),
                  cnn_xmalloc((size_t)total * 4)};
    for (int64_t i = 0; i < total; i++)
        r.mean[stat_of(m, i, c, l)] += x[i] / cnt;
    for (int64_t i = 0; i < total; i++) {
        double d = x[i] - r.mean[stat_of(m, i, c, l)];
        r.var[stat_of(m, i, c, l)] += d * d / cnt;
    }
    return r;
}

static void reference_rest(norm_mode m, shape s, const float *x, const float *dy,
                           const float *gamma, const float *beta, float eps, const float *mean,
                           const float *var, host_ref *r)
{
    int64_t total = shape_numel(&s), c = s.d[1], l = shape_inner(&s, 2);
    int64_t g = m == NORM_BATCH ? c : s.d[0] * c;
    double cnt = (double)total / (double)g;
    for (int64_t i = 0; i < total; i++) {
        int64_t k = stat_of(m, i, c, l);
        double xh = (x[i] - (double)mean[k]) / sqrt((double)var[k] + eps);
        r->sdy[k] += dy[i];
        r->sdyx[k] += dy[i] * xh;
    }
    for (int64_t i = 0; i < total; i++) {
        int64_t k = stat_of(m, i, c, l), ch = (i / l) % c;
        double is = 1.0 / sqrt((double)var[k] + eps), xh = (x[i] - (double)mean[k]) * is;
        r->y[i] = (float)(xh * gamma[ch] + beta[ch]);
        r->dx[i] = (float)(gamma[ch] * is * (dy[i] - r->sdy[k] / cnt - xh * r->sdyx[k] / cnt));
    }
}

typedef struct dev {
    tensor x, dy, gamma, beta, mean, var, sdy, sdyx, y, dx;
} dev;

static tensor make(backend *be, shape s, const float *host)
{
    cnn_err e = {0};
    tensor t = tensor_view(NULL, s, DTYPE_F32, DEVICE_CPU);
    CHECK(backend_alloc_tensor(be, &t, &e) == 0);
    if (host)
        backend_upload(be, &t, host);
    return t;
}

/* All four ops; results land in the dev tensors. */
static dev run_ops(backend *be, norm_mode m, shape s, const float *x, const float *dy,
                   const float *gamma, const float *beta, float eps)
{
    int64_t c = s.d[1], g = m == NORM_BATCH ? c : s.d[0] * c;
    double cnt = (double)shape_numel(&s) / (double)g;
    shape gs = SHAPE(g), cs = SHAPE(c);
    dev d = {make(be, s, x), make(be, s, dy), make(be, cs, gamma), make(be, cs, beta),
             make(be, gs, NULL), make(be, gs, NULL), make(be, gs, NULL), make(be, gs, NULL),
             make(be, s, NULL), make(be, s, NULL)};
    const backend_ops *o = be->ops;
    o->norm_stats(be, m, &d.x, &d.mean, &d.var);
    o->norm_apply(be, m, &d.x, &d.mean, &d.var, eps, &d.gamma, &d.beta, &d.y);
    o->norm_bwd_reduce(be, m, &d.dy, &d.x, &d.mean, &d.var, eps, &d.sdy, &d.sdyx);
    o->norm_bwd_data(be, m, &d.dy, &d.x, &d.mean, &d.var, eps, &d.gamma, &d.sdy, &d.sdyx, cnt,
                     true, &d.dx);
    return d;
}

static float *down(backend *be, const tensor *t)
{
    float *h = cnn_xmalloc(tensor_bytes(t));
    backend_download(be, t, h);
    return h;
}

static int same_bits(backend *b1, const tensor *t1, backend *b4, const tensor *t4,
                     const char *what)
{
    float *h1 = down(b1, t1), *h4 = down(b4, t4);
    int ok = !memcmp(h1, h4, tensor_bytes(t1));
    if (!ok)
        fprintf(stderr, "  %s differs between 1 and 4 threads\n", what);
    free(h1);
    free(h4);
    return ok;
}

static int compare_d(const char *what, backend *be, const tensor *t, const double *ref,
                     double rtol, double atol)
{
    int64_t n = tensor_numel(t);
    float *h = down(be, t), *r = cnn_xmalloc((size_t)n * sizeof *r);
    for (int64_t i = 0; i < n; i++)
        r[i] = (float)ref[i];
    int ok = check_close(what, h, r, n, rtol, atol);
    free(h);
    free(r);
    return ok;
}

static void free_dev(backend *be, dev *d)
{
    tensor *ts[] = {&d->x, &d->dy, &d->gamma, &d->beta, &d->mean, &d->var,
                    &d->sdy, &d->sdyx, &d->y, &d->dx};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        backend_free_tensor(be, ts[i]);
}

/* x ~ N(mu, sd); all four ops against the double reference, then 1 vs 4 threads. */
static int check_shape(norm_mode m, shape s, float mu, float sd)
{
    char b[64];
    printf("%s %s, x ~ N(%g, %g)\n", m == NORM_BATCH ? "batch" : "instance",
           shape_str(&s, b, sizeof b), mu, sd);
    int64_t total = shape_numel(&s), c = s.d[1];
    float eps = 1e-5f;
    float *x = cnn_xmalloc((size_t)total * 4), *dy = cnn_xmalloc((size_t)total * 4);
    float *gamma = cnn_xmalloc((size_t)c * 4), *beta = cnn_xmalloc((size_t)c * 4);
    rng_key k = rng_key_from_seed((uint64_t)total);
    rng_fill_normal(k, 0, x, (size_t)total, mu, sd);
    rng_fill_normal(rng_fold(k, 1), 0, dy, (size_t)total, 0.0f, 1.0f);
    rng_fill_uniform(rng_fold(k, 2), 0, gamma, (size_t)c, 0.5f, 1.5f);
    rng_fill_normal(rng_fold(k, 3), 0, beta, (size_t)c, 0.0f, 1.0f);
    host_ref r = reference(m, s, x);

    cnn_err e = {0};
    backend *b1, *b4;
    CHECK(backend_create("cpu", 1, &b1, &e) == 0);
    dev d1 = run_ops(b1, m, s, x, dy, gamma, beta, eps);
    CHECK(backend_create("cpu", 4, &b4, &e) == 0);
    dev d4 = run_ops(b4, m, s, x, dy, gamma, beta, eps);

    /* Statistics: the float inputs are the exact data, so only our sums may err: the mean
     * within float rounding of itself, the variance within 1e-5 of itself (the inputs'
     * mean/std reaches 2e4, where float E[x^2] - E[x]^2 keeps no digit). */
    int ok = compare_d("mean", b1, &d1.mean, r.mean, 1e-7, 0);
    ok &= compare_d("var", b1, &d1.var, r.var, 1e-5, 0);
    float *fm = down(b1, &d1.mean), *fv = down(b1, &d1.var);
    reference_rest(m, s, x, dy, gamma, beta, eps, fm, fv, &r);
    free(fm), free(fv);
    /* Sums of up to 1e5 float products of O(1), against double sums. */
    ok &= compare_d("sum_dy", b1, &d1.sdy, r.sdy, 1e-5, 1e-3);
    ok &= compare_d("sum_dy_xhat", b1, &d1.sdyx, r.sdyx, 1e-5, 1e-3);
    /* y and dx are O(1); a few float roundings, and mean(dy*xhat) from a float sum. */
    float *hy = down(b1, &d1.y), *hdx = down(b1, &d1.dx);
    ok &= check_close("y", hy, r.y, total, 1e-5, 1e-5);
    ok &= check_close("dx", hdx, r.dx, total, 1e-5, 1e-5);
    free(hy), free(hdx);
    const char *names[] = {"mean", "var", "y", "sum_dy", "sum_dy_xhat", "dx"};
    const tensor *t1[] = {&d1.mean, &d1.var, &d1.y, &d1.sdy, &d1.sdyx, &d1.dx};
    const tensor *t4[] = {&d4.mean, &d4.var, &d4.y, &d4.sdy, &d4.sdyx, &d4.dx};
    for (int i = 0; i < 6; i++)
        ok &= same_bits(b1, t1[i], b4, t4[i], names[i]);
    free_dev(b1, &d1);
    free_dev(b4, &d4);
    backend_destroy(b1);
    backend_destroy(b4);
    free(x), free(dy), free(gamma), free(beta);
    free(r.mean), free(r.var), free(r.sdy), free(r.sdyx), free(r.y), free(r.dx);
    return ok;
}

int main(void)
{
    /* 1517-element planes: two blocks each, the second shorter; 140 blocks per channel
     * fold into pieces of 3. One channel: 4 threads split it into pieces. */
    int ok = check_shape(NORM_BATCH, SHAPE(70, 1, 37, 41), 3.0f, 2.0f);
    ok &= check_shape(NORM_BATCH, SHAPE(9, 3, 37, 41), 3.0f, 2.0f);
    /* Mean 1000 with std 0.05: E[x^2] - E[x]^2 in float would lose every digit. */
    ok &= check_shape(NORM_BATCH, SHAPE(8, 2, 100, 130), 1000.0f, 0.05f);
    ok &= check_shape(NORM_INSTANCE, SHAPE(2, 2, 150, 151), 1000.0f, 0.05f);
    /* (N, C) input: more than one 256-channel chunk, the last one partial. */
    ok &= check_shape(NORM_BATCH, SHAPE(7, 300), -5.0f, 3.0f);
    ok &= check_shape(NORM_BATCH, SHAPE(5000, 3), 1000.0f, 0.05f);
    printf("norm_kernels: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
