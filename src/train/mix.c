/* Mixup and CutMix (mix.h), timm's batch mode (timm/data/mixup.py, Mixup with
 * mode='batch', correct_lam=True) on a keyed RNG: everything a step draws comes from
 * rng_fold(key, step), so every rank and every resume draws the same. lambda ~ Beta(a, a) as
 * G1 / (G1 + G2) of two Gamma(a) draws (Marsaglia and Tsang 2000, "A simple method for
 * generating gamma variables"), formed in log space so that small alpha cannot give 0/0.
 * Padding (label -100) takes no part: the valid slots of the slice are paired first with
 * last (the slice "flipped" over its valid slots only), and padding rows of soft are 0. */
#include "mix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PAD_LABEL (-100)
#define GAMMA_TRIES 64 /* Marsaglia-Tsang accepts > 95% of proposals: 64 misses never happen */

/* log of a Gamma(a, 1) draw from the streams of k. a < 1: Gamma(a) = Gamma(a + 1) * U^(1/a)
 * (Marsaglia-Tsang's boost), whose log is log G + log(U) / a. */
static double log_gamma_draw(rng_key k, double a)
{
    double boost = 0.0;
    if (a < 1.0) {
        double u = 1.0 - rng_uniform(rng_fold(k, 1), 0); /* (0, 1]: the log stays finite */
        boost = log(u) / a;
        a += 1.0;
    }
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (uint64_t i = 0; i < GAMMA_TRIES; i++) {
        double x = rng_normal(k, i), v = 1.0 + c * x;
        if (v <= 0.0)
            continue;
        v = v * v * v;
        double u = 1.0 - rng_uniform(k, i);
        if (u < 1.0 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
            return log(d * v) + boost;
    }
    cnn_fatal("mix: no Gamma(%g) draw accepted in %d tries (cannot happen with a working "
              "RNG)", a, GAMMA_TRIES);
}

/* Beta(a, a) = G1 / (G1 + G2) = 1 / (1 + exp(log G2 - log G1)). */
static double beta_draw(rng_key k, double a)
{
    double l1 = log_gamma_draw(rng_fold(k, 1), a), l2 = log_gamma_draw(rng_fold(k, 2), a);
    return 1.0 / (1.0 + exp(l2 - l1));
}

/* Indices of the valid slots, in order; returns their number. */
static int valid_slots(const int32_t *labels, int n, int classes, int *idx)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (labels[i] == PAD_LABEL)
            continue;
        if (labels[i] < 0 || labels[i] >= classes)
            cnn_fatal("mix: label %d of slot %d is outside [0, %d) and is not padding (-100); "
                      "check the dataset's labels against model.args.num_classes", labels[i],
                      i, classes);
        idx[m++] = i;
    }
    return m;
}

/* x = lam x + (1 - lam) x_partner for both images of a pair, from their old values. */
static void mixup_pair(float *a, float *b, int64_t len, float lam)
{
    for (int64_t j = 0; j < len; j++) {
        float va = a[j], vb = b[j];
        a[j] = lam * va + (1.0f - lam) * vb;
        b[j] = lam * vb + (1.0f - lam) * va;
    }
}

typedef struct box {
    int y0, y1, x0, x1; /* rows [y0, y1), columns [x0, x1) */
} box;

/* timm's rand_bbox: a cut of H sqrt(1 - lam) by W sqrt(1 - lam) around a uniform centre,
 * clipped to the image. */
static box cut_box(rng_key k, double lam, int h, int w)
{
    double r = sqrt(1.0 - lam);
    int ch = (int)(h * r), cw = (int)(w * r);
    int cy = (int)(rng_uniform(k, 0) * (float)h), cx = (int)(rng_uniform(k, 1) * (float)w);
    cy = cy < h ? cy : h - 1;
    cx = cx < w ? cx : w - 1;
    box b = {cy - ch / 2, cy + ch / 2, cx - cw / 2, cx + cw / 2};
    b.y0 = b.y0 < 0 ? 0 : b.y0;
    b.x0 = b.x0 < 0 ? 0 : b.x0;
    b.y1 = b.y1 > h ? h : b.y1;
    b.x1 = b.x1 > w ? w : b.x1;
    return b;
}

/* Each image of the pair takes the other's box (the flipped batch pasted in). */
static void cutmix_pair(float *a, float *b, int c, int h, int w, const box *bx)
{
    int len = bx->x1 - bx->x0;
    for (int ch = 0; ch < c; ch++)
        for (int y = bx->y0; y < bx->y1; y++) {
            int64_t off = ((int64_t)ch * h + y) * w + bx->x0;
            for (int j = 0; j < len; j++) {
                float t = a[off + j];
                a[off + j] = b[off + j];
                b[off + j] = t;
            }
        }
}

/* soft[i] = lam y_i + (1 - lam) y_partner with y = (1 - s) onehot + s / classes. */
static void soft_targets(const mix_cfg *m, const int32_t *labels, const int *idx, int nv,
                         int n, double lam, float *soft)
{
    int C = m->classes;
    memset(soft, 0, (size_t)n * (size_t)C * sizeof *soft);
    float off = (float)(m->smoothing / C), on = (float)(1.0 - m->smoothing);
    for (int j = 0; j < nv; j++) {
        float *row = soft + (int64_t)idx[j] * C;
        for (int c = 0; c < C; c++)
            row[c] = off;
        row[labels[idx[j]]] += (float)lam * on;
        row[labels[idx[nv - 1 - j]]] += (float)(1.0 - lam) * on;
    }
}

double mix_batch(const mix_cfg *m, rng_key key, int64_t step, float *images, int n, int c,
                 int h, int w, const int32_t *labels, float *soft)
{
    CNN_ASSERT(m->classes >= 1 && n >= 0 && m->mixup_alpha >= 0.0 && m->cutmix_alpha >= 0.0 &&
               m->smoothing >= 0.0 && m->smoothing < 1.0);
    int *idx = cnn_xmalloc((size_t)(n ? n : 1) * sizeof *idx);
    int nv = valid_slots(labels, n, m->classes, idx);
    rng_key k = rng_fold(key, (uint64_t)step);
    bool mixup = m->mixup_alpha > 0.0, cutmix = m->cutmix_alpha > 0.0;
    if (mixup && cutmix) { /* timm's switch_prob 0.5: one of the two per step */
        cutmix = rng_uniform(k, 0) < 0.5f;
        mixup = !cutmix;
    }
    double lam = 1.0;
    int64_t len = (int64_t)c * h * w;
    if (mixup) {
        lam = beta_draw(rng_fold(k, 1), m->mixup_alpha);
        for (int j = 0; j < nv / 2; j++)
            mixup_pair(images + idx[j] * len, images + idx[nv - 1 - j] * len, len,
                       (float)lam);
    } else if (cutmix) {
        box b = cut_box(rng_fold(k, 2), beta_draw(rng_fold(k, 1), m->cutmix_alpha), h, w);
        lam = 1.0 - (double)(b.y1 - b.y0) * (b.x1 - b.x0) / ((double)h * w);
        for (int j = 0; j < nv / 2; j++)
            cutmix_pair(images + idx[j] * len, images + idx[nv - 1 - j] * len, c, h, w, &b);
    }
    soft_targets(m, labels, idx, nv, n, lam, soft);
    free(idx);
    return lam;
}
