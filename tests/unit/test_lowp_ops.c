/* The CPU backend's mixed-precision ops on hand-computed values: convert between every pair
 * of float dtypes (beta 0 and 1, each element rounded once, against float16.c's helpers and
 * a few hand-written bit patterns), scale_by (overflow to inf in f16), loss_scale_update
 * (growth after `interval` good steps, backoff on a skip, the 2^126 cap), grad_coef with a
 * device loss scale, a bf16 gemm with padded leading dimensions, and the 16-bit fill (NaN
 * poison) and channel_copy. */
#include <math.h>

#include "../../src/core/core.h"
#include "../check.h"

static backend *be;

static const dtype floats[] = {DTYPE_F32, DTYPE_F16, DTYPE_BF16};

static tensor host(void *p, int64_t n, dtype dt)
{
    return tensor_view(p, SHAPE(n), dt, DEVICE_CPU);
}

/* Element i of a host float array as f32, and f32 rounded into one (the reference). */
static float get(dtype dt, const void *p, int i)
{
    float v;
    dtype_convert_host(DTYPE_F32, &v, dt, (const char *)p + i * dtype_size(dt), 1);
    return v;
}

static void put(dtype dt, void *p, int i, float v)
{
    dtype_convert_host(dt, (char *)p + i * dtype_size(dt), DTYPE_F32, &v, 1);
}

/* Same bits, or both NaN. */
static void check_same(dtype dt, const void *got, const void *want, int n, const char *what)
{
    for (int i = 0; i < n; i++) {
        float g = get(dt, got, i), w = get(dt, want, i);
        if (isnan(g) && isnan(w))
            continue;
        if (memcmp((const char *)got + i * dtype_size(dt), (const char *)want + i * dtype_size(dt),
                   dtype_size(dt))) {
            fprintf(stderr, "%s (%s) [%d]: got %.9g, want %.9g\n", what, dtype_name(dt), i, g, w);
            exit(1);
        }
    }
}

#define NV 12
/* Ties and near-ties of both 16-bit formats, overflow, subnormals, inf and NaN. */
static const float vals[NV] = {1.0f,          1.00390625f /* 1 + 2^-8 */, 1.0048828125f,
                               -3.14159265f, 65519.0f,    65520.0f,      1e-7f,
                               -2.5e-6f,     1e30f,       INFINITY,      NAN,
                               0.333333343f};
static const float olds[NV] = {0.5f,  -1.0f, 2.0f,  0.25f, -65000.0f, 1.0f,
                               0.0f,  1e-3f, -1e30f, 1.0f, 2.0f,      NAN};

static void check_convert_pairs(void)
{
    char x[NV * 4], y[NV * 4], want[NV * 4];
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int beta = 0; beta <= 1; beta++) {
                dtype xt = floats[a], yt = floats[b];
                for (int i = 0; i < NV; i++) {
                    put(xt, x, i, vals[i]);
                    put(yt, y, i, olds[i]);
                    /* beta 0 ignores the old value, even NaN (olds[11]) */
                    float r = beta ? get(xt, x, i) + get(yt, y, i) : get(xt, x, i);
                    put(yt, want, i, r);
                }
                tensor tx = host(x, NV, xt), ty = host(y, NV, yt);
                be->ops->convert(be, &tx, &ty, (float)beta);
                char what[64];
                snprintf(what, sizeof what, "convert %s->%s beta %d", dtype_name(xt),
                         dtype_name(yt), beta);
                check_same(yt, y, want, NV, what);
            }
    printf("convert: all 9 dtype pairs, beta 0 and 1: ok\n");
}

/* Bit patterns worked out by hand (binary expansions), independent of float16.c. */
static void check_convert_by_hand(void)
{
    float x[4] = {1.00390625f /* 1 + 2^-8: bf16 tie, to even */,
                  1.0039215087890625f /* 1 + 2^-8 + 2^-16: just above the tie */,
                  1.00048828125f /* 1 + 2^-11: f16 tie, to even */, 65520.0f /* f16 inf */};
    uint16_t hb[4], hh[4];
    tensor tx = host(x, 4, DTYPE_F32), tb = host(hb, 4, DTYPE_BF16), th = host(hh, 4, DTYPE_F16);
    be->ops->convert(be, &tx, &tb, 0.0f);
    be->ops->convert(be, &tx, &th, 0.0f);
    CHECK_EQ(hb[0], 0x3f80);
    CHECK_EQ(hb[1], 0x3f81);
    CHECK_EQ(hh[2], 0x3c00);
    CHECK_EQ(hh[3], 0x7c00);
    /* Rounded once: 1 (bf16) + (2^-8 + 2^-20) (f32) is above the tie, 1 + 2^-7 = 0x3f81;
     * rounding x to bf16 first would give the tie 1 + 2^-8 and then 1.0 (0x3f80). */
    float xs = 0.00390720367431640625f;
    uint16_t y = 0x3f80;
    tensor t1 = host(&xs, 1, DTYPE_F32), ty = host(&y, 1, DTYPE_BF16);
    be->ops->convert(be, &t1, &ty, 1.0f);
    CHECK_EQ(y, 0x3f81);
    printf("convert: hand-computed roundings: ok\n");
}

static void check_scale_by(void)
{
    float s = 1024.0f;
    tensor ts = host(&s, 1, DTYPE_F32);
    for (int a = 0; a < 3; a++) {
        char y[NV * 4], want[NV * 4];
        for (int i = 0; i < NV; i++) {
            put(floats[a], y, i, vals[i]);
            put(floats[a], want, i, get(floats[a], y, i) * s);
        }
        tensor ty = host(y, NV, floats[a]);
        be->ops->scale_by(be, &ty, &ts);
        check_same(floats[a], y, want, NV, "scale_by 1024");
    }
    /* f16: 1000 * 100 = 1e5 > 65504 overflows to inf (what the loss scaler then catches);
     * 3 * 100 = 300 exactly. */
    uint16_t h[2] = {f32_to_f16(1000.0f), f32_to_f16(3.0f)};
    s = 100.0f;
    tensor th = host(h, 2, DTYPE_F16);
    be->ops->scale_by(be, &th, &ts);
    CHECK_EQ(h[0], 0x7c00);
    CHECK(f16_to_f32(h[1]) == 300.0f);
    printf("scale_by: ok\n");
}

/* One update from [scale, good] with coef's skip flag; returns the new pair. */
static void update(float *sc, float skip, float growth, float backoff, int interval)
{
    float coef[2] = {0.5f, skip};
    tensor ts = host(sc, 2, DTYPE_F32), tc = host(coef, 2, DTYPE_F32);
    be->ops->loss_scale_update(be, &ts, &tc, growth, backoff, interval);
}

static void check_loss_scale_update(void)
{
    float sc[2] = {65536.0f, 0.0f};
    update(sc, 0, 2.0f, 0.5f, 3);
    CHECK(sc[0] == 65536.0f && sc[1] == 1.0f);
    update(sc, 0, 2.0f, 0.5f, 3);
    CHECK(sc[0] == 65536.0f && sc[1] == 2.0f);
    update(sc, 0, 2.0f, 0.5f, 3); /* third good step: grow, restart the count */
    CHECK(sc[0] == 131072.0f && sc[1] == 0.0f);
    update(sc, 0, 2.0f, 0.5f, 3);
    update(sc, 1, 2.0f, 0.5f, 3); /* a skip backs off and forgets the good step */
    CHECK(sc[0] == 65536.0f && sc[1] == 0.0f);
    update(sc, 1, 2.0f, 0.25f, 3);
    CHECK(sc[0] == 16384.0f && sc[1] == 0.0f);
    float cap[2] = {0x1p125f, 0.0f};
    update(cap, 0, 4.0f, 0.5f, 1); /* 2^127 would pass the cap */
    CHECK(cap[0] == 0x1p126f && cap[1] == 0.0f);
    update(cap, 0, 2.0f, 0.5f, 1); /* stays at the cap */
    CHECK(cap[0] == 0x1p126f && cap[1] == 0.0f);
    float big[2] = {0x1p127f, 0.0f};
    update(big, 0, 2.0f, 0.5f, 1); /* 2^128 overflows f32: capped, not inf */
    CHECK(big[0] == 0x1p126f);
    printf("loss_scale_update: ok\n");
}

static void check_grad_coef_scaled(void)
{
    /* Gradients scaled by 1024 with unscaled norm 3: sumsq = 3072^2. */
    float ss = 9437184.0f, scale = 1024.0f, c[2];
    tensor tss = host(&ss, 1, DTYPE_F32), tsc = host(&scale, 1, DTYPE_F32), tc = host(c, 2,
                                                                                        DTYPE_F32);
    be->ops->grad_coef(be, &tss, 1.0f, &tsc, &tc); /* clip to 1: c = 1/1024 * 1/(3 + 1e-6) */
    CHECK_NEAR(c[0], 1.0 / 1024 / (3.0 + 1e-6), 6e-11); /* 2 f32 ulps */
    CHECK(c[1] == 0.0f);
    be->ops->grad_coef(be, &tss, 10.0f, &tsc, &tc); /* below the bound: only 1/scale */
    CHECK(c[0] == 1.0f / 1024 && c[1] == 0.0f);
    be->ops->grad_coef(be, &tss, 0.0f, &tsc, &tc);
    CHECK(c[0] == 1.0f / 1024 && c[1] == 0.0f);
    ss = INFINITY; /* an overflowed f16 gradient: skip */
    be->ops->grad_coef(be, &tss, 1.0f, &tsc, &tc);
    CHECK(c[1] == 1.0f);
    printf("grad_coef with a loss scale: ok\n");
}

/* C (2 x 2, ldc 3) = A (2 x 3, lda 4) B^T (B 2 x 3, ldb 5), in bf16; padding untouched. */
static void check_gemm_bf16(void)
{
    float a[8] = {1, 2, 3, 99, 0.5f, -1, 0.25f, 99};
    float b[10] = {1, 1, 1, 99, 99, 2, 0, 0.00390625f /* 2^-8 */, 99, 99};
    float c0[6] = {10, 20, 7, 30, 40, 7};
    uint16_t ah[8], bh[10], ch[6];
    dtype_convert_host(DTYPE_BF16, ah, DTYPE_F32, a, 8);
    dtype_convert_host(DTYPE_BF16, bh, DTYPE_F32, b, 10);
    dtype_convert_host(DTYPE_BF16, ch, DTYPE_F32, c0, 6);
    be->ops->gemm(be, DTYPE_BF16, false, true, 2, 2, 3, 1.0f, ah, 4, bh, 5, 1.0f, ch, 3);
    /* row 0: 1+2+3 + 10 = 16; 2 + 3/256 + 20 = 22.01171875 -> bf16 (ulp 0.125) 22.0
     * row 1: 0.5-1+0.25 + 30 = 29.75; 1 + 2^-10 + 40 = 41.0009765625 -> 41.0 */
    CHECK(bf16_to_f32(ch[0]) == 16.0f && bf16_to_f32(ch[1]) == 22.0f);
    CHECK(bf16_to_f32(ch[3]) == 29.75f && bf16_to_f32(ch[4]) == 41.0f);
    CHECK(bf16_to_f32(ch[2]) == 7.0f && bf16_to_f32(ch[5]) == 7.0f);
    be->ops->gemm(be, DTYPE_BF16, false, true, 2, 2, 3, 2.0f, ah, 4, bh, 5, 0.0f, ch, 3);
    CHECK(bf16_to_f32(ch[0]) == 12.0f && bf16_to_f32(ch[4]) == 2.0f);
    printf("gemm bf16: ok\n");
}

static void check_fill_and_channel_copy(void)
{
    /* (1, 3, 1, 2) source channels [1, 3) into a (1, 4, 1, 2) destination at channel 2. */
    uint16_t s[6], d[8];
    float sv[6] = {1, 2, 3, 4, 5, 6};
    dtype_convert_host(DTYPE_F16, s, DTYPE_F32, sv, 6);
    tensor ts = tensor_view(s, SHAPE(1, 3, 1, 2), DTYPE_F16, DEVICE_CPU);
    tensor td = tensor_view(d, SHAPE(1, 4, 1, 2), DTYPE_F16, DEVICE_CPU);
    be->ops->fill(be, &td, NAN);
    for (int i = 0; i < 8; i++)
        CHECK(isnan(f16_to_f32(d[i])));
    be->ops->channel_copy(be, &ts, 1, &td, 2, 2, 0.0f);
    for (int i = 0; i < 4; i++)
        CHECK(isnan(f16_to_f32(d[i]))); /* channels it does not own stay as they were */
    CHECK(f16_to_f32(d[4]) == 3.0f && f16_to_f32(d[7]) == 6.0f);
    be->ops->channel_copy(be, &ts, 1, &td, 2, 2, 0.5f);
    CHECK(f16_to_f32(d[4]) == 4.5f && f16_to_f32(d[7]) == 9.0f);
    uint16_t bz[3];
    tensor tb = host(bz, 3, DTYPE_BF16);
    be->ops->fill(be, &tb, 1.00390625); /* rounded once, to even */
    CHECK(bz[0] == 0x3f80 && bz[2] == 0x3f80);
    printf("fill and channel_copy in 16 bits: ok\n");
}

int main(void)
{
    cnn_err e = {0};
    CHECK(backend_create("cpu", 2, &be, &e) == 0);
    check_convert_pairs();
    check_convert_by_hand();
    check_scale_by();
    check_loss_scale_update();
    check_grad_coef_scaled();
    check_gemm_bf16();
    check_fill_and_channel_copy();
    backend_destroy(be);
    return 0;
}
