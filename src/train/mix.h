/* Mixup and CutMix on a host batch before upload, as timm's Mixup: one lambda per global
 * batch from Beta(alpha, alpha) keyed by (key, step), the same on every rank; each rank
 * mixes its slice with the slice reversed; with both enabled, each step picks one of the
 * two with probability 1/2 (keyed). Targets become soft rows (n, classes) with label
 * smoothing folded in: y = (1 - s) * onehot + s / classes. Padding slots (label -100) get
 * an all-zero row, which the soft cross-entropy does not count. */
#ifndef CNN_TRAIN_MIX_H
#define CNN_TRAIN_MIX_H

#include <stdint.h>

#include "../core/core.h"

typedef struct mix_cfg {
    double mixup_alpha, cutmix_alpha; /* 0 = off */
    double smoothing;                 /* label smoothing of the soft targets */
    int classes;
} mix_cfg;

/* images (n, c, h, w) mixed in place; labels (n); soft (n, classes) written. Returns the
 * lambda used (1 when neither is on: then soft is just the smoothed one-hot). */
double mix_batch(const mix_cfg *m, rng_key key, int64_t step, float *images, int n, int c,
                 int h, int w, const int32_t *labels, float *soft);

#endif
