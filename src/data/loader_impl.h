/* Private to the loader (loader.c, loader_sample.c) and its tests: one sample's read,
 * decode and augment (loader_sample.c), and a seam that replaces it with a caller's
 * function, so the threading and ring logic can be tested on synthetic samples without a
 * packed dataset. Not for other modules. */
#ifndef CNN_DATA_LOADER_IMPL_H
#define CNN_DATA_LOADER_IMPL_H

#include "data.h"

typedef struct loader_source {
    /* Writes sample `index` (never -1): image (C, out_h, out_w); label: classify (1),
     * segment (out_h, out_w); target (C, out_h, out_w) or NULL. Called from worker threads
     * concurrently; returns 0 or a negative CNN_E* code with e filled. */
    int (*fill)(void *ctx, int64_t index, rng_key key, float *image, int32_t *label,
                float *target, cnn_err *e);
    void *ctx;
    void (*release)(void *ctx); /* called by loader_destroy (and on a failed create); may be NULL */
    data_task task;
} loader_source;

/* Per-worker buffers for one sample's stored bytes, grown as needed (loader_sample.c). */
typedef struct loader_scratch {
    uint8_t *img, *mask;
    size_t img_cap, mask_cap;
} loader_scratch;

/* Reads, decodes, checks and augments sample `index` of ds into image/label/target as the
 * loader_source contract above says; min_side is loader_min_side's. Errors name the sample. */
int loader_load_sample(const dataset *ds, const augment_cfg *aug, int channels, int min_side,
                       loader_scratch *s, int64_t index, rng_key key, float *image,
                       int32_t *label, float *target, cnn_err *e);
void loader_scratch_free(loader_scratch *s);
/* The shorter side a JPEG may be scaled down to before the augmentation loses detail. */
int loader_min_side(const augment_cfg *aug, data_task task);

/* loader_create with samples from src instead of o->ds (which may then be NULL). */
int loader_create_with(const loader_opts *o, const loader_source *src, loader **out,
                       cnn_err *e);

#endif
