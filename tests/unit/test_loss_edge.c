/* Edge cases of the CPU loss kernels that PyTorch fixtures cannot hold: every label ignored
 * (PyTorch gives NaN, we give loss 0 and gradient 0), logits ~1e4 (softmax must subtract the
 * max), a single class with label smoothing (loss 0), a label outside [0, C) (a fatal data
 * fault that names the label, where it sits and C), and a loss that is bitwise the same for
 * 1 and 4 threads. References are computed here in double, from the definitions. */
#include <math.h>

#include "../../src/core/core.h"
#include "../check.h"
#include "../support/child.h"

static tensor host_f32(float *p, shape s) { return tensor_view(p, s, DTYPE_F32, DEVICE_CPU); }
static tensor host_i32(int32_t *p, shape s) { return tensor_view(p, s, DTYPE_I32, DEVICE_CPU); }

static backend *make_backend(int threads)
{
    backend *be;
    cnn_err e = {0};
    if (backend_create("cpu", threads, &be, &e) < 0) {
        fprintf(stderr, "backend: %s\n", e.msg);
        exit(1);
    }
    return be;
}

/* Runs forward then backward with dloss = g; dlogits starts as NaN so unwritten elements show. */
static float xent(backend *be, tensor *x, tensor *y, float eps, int ignore, float *prob,
                  float *dx, float g)
{
    float loss = NAN;
    tensor p = host_f32(prob, x->s), d = host_f32(dx, x->s), l = host_f32(&loss, SHAPE(1));
    tensor dl = host_f32(&g, SHAPE(1));
    be->ops->fill(be, &d, NAN);
    be->ops->xent_fwd(be, x, y, eps, ignore, &p, &l);
    be->ops->xent_bwd(be, &p, y, eps, ignore, &dl, &d);
    return loss;
}

static void test_all_ignored(backend *be)
{
    float x[2 * 3 * 4 * 5], prob[120], dx[120];
    int32_t y[2 * 4 * 5];
    for (int i = 0; i < 120; i++)
        x[i] = (float)((i * 37) % 11) - 5.0f;
    for (int i = 0; i < 40; i++)
        y[i] = 255;
    tensor tx = host_f32(x, SHAPE(2, 3, 4, 5)), ty = host_i32(y, SHAPE(2, 4, 5));
    float loss = xent(be, &tx, &ty, 0.1f, 255, prob, dx, 1.0f);
    CHECK_EQ(loss == 0.0f, 1);
    for (int i = 0; i < 120; i++)
        CHECK_EQ(dx[i] == 0.0f, 1);
    tensor cx = host_f32(x, SHAPE(4, 3)), cy = host_i32(y, SHAPE(4));
    for (int i = 0; i < 4; i++)
        y[i] = -100;
    loss = xent(be, &cx, &cy, 0.0f, -100, prob, dx, 2.0f);
    CHECK_EQ(loss == 0.0f, 1);
    for (int i = 0; i < 12; i++)
        CHECK_EQ(dx[i] == 0.0f, 1);
    printf("  all labels ignored: loss 0, gradient 0\n");
}

/* Logits around +-1e4: exp without the max subtracted overflows; lse in float would lose
 * ~1e-3. The reference uses double softmax on the same float inputs. */
static void test_large_logits(backend *be)
{
    enum { N = 4, C = 5 };
    static const float off[C] = {0.0f, 1.0f, -2.5f, 0.5f, 3.0f};
    float x[N * C], prob[N * C], dx[N * C];
    int32_t y[N] = {0, 4, 2, 1};
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            x[n * C + c] = (n % 2 ? -1e4f : 1e4f) + off[(c + n) % C] * (float)(n + 1);
    x[3 * C + 2] = -1e4f; /* one class far below: its probability underflows to 0 */
    tensor tx = host_f32(x, SHAPE(N, C)), ty = host_i32(y, SHAPE(N));
    const float g = 0.5f;
    float loss = xent(be, &tx, &ty, 0.0f, -100, prob, dx, g);
    double ref = 0.0;
    for (int n = 0; n < N; n++) {
        double m = -INFINITY, s = 0.0;
        for (int c = 0; c < C; c++)
            m = fmax(m, x[n * C + c]);
        for (int c = 0; c < C; c++)
            s += exp(x[n * C + c] - m);
        ref += m + log(s) - x[n * C + y[n]];
        for (int c = 0; c < C; c++) {
            double p = exp(x[n * C + c] - m) / s;
            CHECK_NEAR(prob[n * C + c], p, 1e-6);
            CHECK_NEAR(dx[n * C + c], g * (p - (c == y[n])) / N, 1e-7);
        }
    }
    CHECK(isfinite(loss));
    CHECK_NEAR(loss, ref / N, 1e-5 * ref / N);
    printf("  logits ~1e4: loss %.7g (ref %.7g), softmax and gradient finite\n", loss, ref / N);
}

/* One class: p = 1 for every sample, so -log p = 0 and the smoothed loss is 0 too. */
static void test_one_class_smoothing(backend *be)
{
    float x[3] = {2.0f, -7.0f, 1e4f}, prob[3], dx[3];
    int32_t y[3] = {0, 0, 0};
    tensor tx = host_f32(x, SHAPE(3, 1)), ty = host_i32(y, SHAPE(3));
    float loss = xent(be, &tx, &ty, 0.3f, -100, prob, dx, 1.0f);
    CHECK_EQ(loss == 0.0f, 1);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(prob[i] == 1.0f, 1);
        CHECK_NEAR(dx[i], 0.0, 1e-7);
    }
    printf("  C=1 with label_smoothing 0.3: loss 0, gradient 0\n");
}

/* A NaN logit must surface in the loss (no silent divergence); a -inf logit (a masked
 * class) is fine without smoothing, as in PyTorch, and gets probability ~0. */
static void test_nan_and_masked(backend *be)
{
    float x[2 * 3] = {0.5f, NAN, -1.0f, 2.0f, -INFINITY, 1.0f}, prob[6], dx[6];
    int32_t y[2] = {0, -100};
    tensor tx = host_f32(x, SHAPE(2, 3)), ty = host_i32(y, SHAPE(2));
    CHECK(isnan(xent(be, &tx, &ty, 0.0f, -100, prob, dx, 1.0f)));
    y[0] = -100, y[1] = 2;
    float loss = xent(be, &tx, &ty, 0.0f, -100, prob, dx, 1.0f);
    double ref = log(exp(2.0 - 2.0) + exp(1.0 - 2.0)) + 2.0 - 1.0;
    CHECK_NEAR(loss, ref, 1e-6);
    CHECK_NEAR(prob[4], 0.0, 1e-30);
    CHECK_NEAR(dx[5], exp(1.0 - 2.0) / (1.0 + exp(-1.0)) - 1.0, 1e-6);
    printf("  NaN logit -> NaN loss; -inf logit -> loss %.7g (ref %.7g)\n", loss, ref);
}

static void bad_label(void *arg)
{
    backend *be = arg;
    float x[2 * 4 * 3 * 5] = {0}, prob[120], loss;
    int32_t y[2 * 3 * 5] = {0};
    y[15 + 2 * 5 + 3] = 7; /* sample 1, row 2, column 3 */
    tensor tx = host_f32(x, SHAPE(2, 4, 3, 5)), ty = host_i32(y, SHAPE(2, 3, 5));
    tensor p = host_f32(prob, tx.s), l = host_f32(&loss, SHAPE(1));
    be->ops->xent_fwd(be, &tx, &ty, 0.0f, 255, &p, &l);
}

/* The kernel ends the process; run it in a child and read what it printed. */
static void test_bad_label_is_fatal(backend *be)
{
    char msg[2048];
    CHECK(child_fails(bad_label, be, msg, sizeof msg));
    CHECK_STR_CONTAINS(msg, "label 7");
    CHECK_STR_CONTAINS(msg, "sample 1");
    CHECK_STR_CONTAINS(msg, "row 2, column 3");
    CHECK_STR_CONTAINS(msg, "outside [0, 4)");
    CHECK_STR_CONTAINS(msg, "ignore index 255");
    printf("  bad label is fatal: %s", msg);
}

/* Fixed reduction blocks: the loss must not depend on the number of threads. */
static void test_thread_invariance(void)
{
    enum { N = 4, C = 5, H = 57, W = 61 }; /* above the kernels' threshold for threads */
    size_t nx = (size_t)N * C * H * W, ny = (size_t)N * H * W;
    float *x = cnn_xmalloc(nx * sizeof *x), *prob = cnn_xmalloc(nx * sizeof *prob);
    float *dx = cnn_xmalloc(nx * sizeof *dx);
    int32_t *y = cnn_xmalloc(ny * sizeof *y);
    rng_fill_uniform(rng_key_from_seed(3), 0, x, nx, -4.0f, 4.0f);
    for (size_t i = 0; i < ny; i++)
        y[i] = i % 7 == 3 ? -1 : (int32_t)((i * 13) % C);
    tensor tx = host_f32(x, SHAPE(N, C, H, W)), ty = host_i32(y, SHAPE(N, H, W));
    float loss[2];
    for (int k = 0; k < 2; k++) {
        backend *be = make_backend(k ? 4 : 1);
        loss[k] = xent(be, &tx, &ty, 0.1f, -1, prob, dx, 1.0f);
        backend_destroy(be);
    }
    CHECK(loss[0] == loss[1]);
    printf("  %dx%dx%dx%d loss %.9g with 1 and 4 threads\n", N, C, H, W, loss[0]);
    free(x);
    free(prob);
    free(dx);
    free(y);
}

int main(void)
{
    backend *be = make_backend(1);
    test_bad_label_is_fatal(be); /* first: fork before any OpenMP team exists */
    test_all_ignored(be);
    test_large_logits(be);
    test_one_class_smoothing(be);
    test_nan_and_masked(be);
    backend_destroy(be);
    test_thread_invariance();
    printf("loss_edge: ok\n");
    return 0;
}
