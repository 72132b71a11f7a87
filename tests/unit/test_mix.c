/* Mixup and CutMix (mix.h): lambda's distribution over many steps against Beta(a, a)'s exact
 * CDF (a = 1: uniform; a = 1/2: arcsine, (2/pi) asin(sqrt(x)); a = 2: 3x^2 - 2x^3) by a
 * Kolmogorov-Smirnov bound, and its mean and variance 1 / (4 (2a + 1)) (also a = 0.2); the same
 * (key, step) giving the same batch; mixed images equal to lam x + (1 - lam) x_partner with
 * partners paired over the valid slots; CutMix pasting the partner's box, whose area is
 * exactly (1 - lambda) HW; soft rows with smoothing summing to 1 (0 for padding); the
 * mixup/CutMix switch near 1/2. */
#include <math.h>

#include "../../src/train/mix.h"
#include "../check.h"

#define STEPS 4000
/* KS: P(sup |F_n - F| > 1.95 / sqrt(n)) ~ 0.001 for a correct sampler. */
#define KS_BOUND (1.95 / sqrt((double)STEPS))

static const rng_key KEY = {{0x1234u, 0xabcdu}};

static double lam_at(double alpha, int64_t step)
{
    mix_cfg m = {.mixup_alpha = alpha, .classes = 2};
    float img[2] = {0.0f, 1.0f}, soft[4];
    int32_t y[2] = {0, 1};
    return mix_batch(&m, KEY, step, img, 2, 1, 1, 1, y, soft);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double arcsine_cdf(double x) { return 2.0 / M_PI * asin(sqrt(x)); }
static double uniform_cdf(double x) { return x; }
static double beta22_cdf(double x) { return x * x * (3.0 - 2.0 * x); }

static void lambda_distribution(double alpha, double (*cdf)(double))
{
    static double v[STEPS];
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < STEPS; i++) {
        v[i] = lam_at(alpha, i);
        CHECK(v[i] >= 0.0 && v[i] <= 1.0);
        mean += v[i] / STEPS;
    }
    for (int i = 0; i < STEPS; i++)
        var += (v[i] - mean) * (v[i] - mean) / (STEPS - 1);
    double want_var = 1.0 / (4.0 * (2.0 * alpha + 1.0));
    /* Standard errors over 4000 draws: mean sqrt(var / n) <= 0.007 (5 of them); variance
     * below 2% of it for these alphas (10% allowed). */
    printf("Beta(%g, %g): mean %.4f (0.5), variance %.4f (%.4f)", alpha, alpha, mean, var,
           want_var);
    CHECK_NEAR(mean, 0.5, 5 * sqrt(want_var / STEPS));
    CHECK_NEAR(var, want_var, 0.1 * want_var);
    if (cdf) {
        qsort(v, STEPS, sizeof *v, cmp_double);
        double d = 0.0;
        for (int i = 0; i < STEPS; i++) {
            double f = cdf(v[i]), lo = f - (double)i / STEPS, hi = (double)(i + 1) / STEPS - f;
            d = fmax(d, fmax(lo, hi));
        }
        printf(", KS distance %.4f (bound %.4f)", d, KS_BOUND);
        CHECK(d < KS_BOUND);
    }
    printf("\n");
}

/* soft row of label a mixed with b: lam y_a + (1 - lam) y_b, y = (1 - s) onehot + s / C. */
static void check_row(const float *row, int classes, int a, int b, double lam, double s)
{
    double sum = 0.0;
    for (int c = 0; c < classes; c++) {
        double want = s / classes + (1 - s) * (lam * (c == a) + (1 - lam) * (c == b));
        CHECK_NEAR(row[c], want, 1e-6);
        sum += row[c];
    }
    CHECK_NEAR(sum, 1.0, 1e-6);
}

/* 5 slots, slot 3 padding: valid slots 0 1 2 4 pair as (0, 4) and (1, 2). */
static void mixup_formula(void)
{
    enum { N = 5, C = 2, H = 3, W = 4, L = C * H * W, K = 6 };
    mix_cfg m = {.mixup_alpha = 0.4, .smoothing = 0.1, .classes = K};
    float x[N * L], x0[N * L], soft[N * K];
    int32_t y[N] = {2, 0, 5, -100, 4};
    for (int i = 0; i < N * L; i++)
        x0[i] = x[i] = (float)sin(0.37 * i);
    double lam = mix_batch(&m, KEY, 7, x, N, C, H, W, y, soft);
    CHECK(lam > 0.0 && lam < 1.0);
    const int partner[N] = {4, 2, 1, 3, 0};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < L; j++) {
            double want = y[i] == -100 ? x0[i * L + j]
                                       : lam * x0[i * L + j] + (1 - lam) * x0[partner[i] * L + j];
            CHECK_NEAR(x[i * L + j], want, 1e-6);
        }
    for (int i = 0; i < N; i++) {
        if (y[i] == -100) {
            for (int c = 0; c < K; c++)
                CHECK(soft[i * K + c] == 0.0f);
            continue;
        }
        check_row(soft + i * K, K, y[i], y[partner[i]], lam, 0.1);
    }
    float again[N * L], soft2[N * K];
    memcpy(again, x0, sizeof again);
    CHECK(mix_batch(&m, KEY, 7, again, N, C, H, W, y, soft2) == lam);
    CHECK(!memcmp(again, x, sizeof x) && !memcmp(soft, soft2, sizeof soft));
    CHECK(lam_at(0.4, 8) != lam_at(0.4, 7));
    printf("mixup: lam %.4f, images and soft rows match the formula; same (key, step) same "
           "batch\n", lam);
}

/* Each image holds its partner's pixels exactly on one rectangle of area (1 - lam) H W. */
static int cutmix_step(int64_t step, const mix_cfg *m)
{
    enum { N = 4, C = 3, H = 10, W = 13, L = C * H * W };
    float x[N * L], x0[N * L], soft[N * 4];
    int32_t y[N] = {0, 1, 2, 3};
    for (int i = 0; i < N * L; i++)
        x0[i] = x[i] = (float)(i + 1); /* every pixel differs from every other image's */
    double lam = mix_batch(m, KEY, step, x, N, C, H, W, y, soft);
    int y0 = H, y1 = -1, x0b = W, x1 = -1, area = 0, changed_all = 0;
    for (int i = 0; i < N; i++)
        for (int p = 0; p < L; p++) {
            int ch = p / (H * W), r = (p / W) % H, col = p % W;
            if (x[i * L + p] == x0[i * L + p])
                continue;
            changed_all++;
            if (i == 0 && ch == 0) {
                area++;
                y0 = r < y0 ? r : y0, y1 = r > y1 ? r : y1;
                x0b = col < x0b ? col : x0b, x1 = col > x1 ? col : x1;
            }
        }
    if (changed_all == N * L && m->mixup_alpha > 0.0)
        return 0; /* a mixup step (both enabled) */
    CHECK_EQ(changed_all, N * C * area);
    if (area) {
        CHECK_EQ(area, (y1 - y0 + 1) * (x1 - x0b + 1)); /* a filled rectangle */
        for (int i = 0; i < N; i++)
            for (int ch = 0; ch < C; ch++)
                for (int r = y0; r <= y1; r++)
                    for (int col = x0b; col <= x1; col++) {
                        int p = (ch * H + r) * W + col;
                        CHECK(x[i * L + p] == x0[(N - 1 - i) * L + p]);
                    }
    }
    CHECK_NEAR(lam, 1.0 - (double)area / (H * W), 1e-12);
    for (int i = 0; i < N; i++)
        check_row(soft + i * 4, 4, y[i], y[N - 1 - i], lam, m->smoothing);
    return 1;
}

static void cutmix(void)
{
    mix_cfg m = {.cutmix_alpha = 1.0, .smoothing = 0.2, .classes = 4};
    for (int64_t s = 0; s < 300; s++)
        CHECK_EQ(cutmix_step(s, &m), 1);
    m.mixup_alpha = 0.8;
    int cut = 0;
    for (int64_t s = 0; s < 400; s++)
        cut += cutmix_step(s, &m);
    /* p = 1/2 per step: standard error 0.025 over 400 steps; 4 of them. */
    printf("cutmix: 300 boxes of area (1 - lam) HW; with both on, %d of 400 steps cut\n", cut);
    CHECK(cut >= 160 && cut <= 240);
}

static void neither(void)
{
    mix_cfg m = {.smoothing = 0.3, .classes = 3};
    float x[3] = {1, 2, 3}, soft[9];
    int32_t y[3] = {2, -100, 0};
    CHECK(mix_batch(&m, KEY, 1, x, 3, 1, 1, 1, y, soft) == 1.0);
    CHECK(x[0] == 1 && x[1] == 2 && x[2] == 3);
    check_row(soft, 3, 2, 2, 1.0, 0.3);
    CHECK(soft[3] == 0 && soft[4] == 0 && soft[5] == 0);
    check_row(soft + 6, 3, 0, 0, 1.0, 0.3);
    printf("neither: images untouched, smoothed one-hot rows, padding rows 0\n");
}

int main(void)
{
    lambda_distribution(1.0, uniform_cdf);
    lambda_distribution(0.5, arcsine_cdf);
    lambda_distribution(0.2, NULL);
    lambda_distribution(2.0, beta22_cdf);
    mixup_formula();
    cutmix();
    neither();
    printf("mix: ok\n");
    return 0;
}
