/* Synthetic samples for throughput measurements (data.synthetic): images are copies of a
 * few standard-normal noise images made once (drawing noise per sample would cost more than
 * decoding), labels index % classes, so a run measures the training step and the
 * host-to-device path without reading or decoding files. */
#include <stdlib.h>
#include <string.h>

#include "loader_impl.h"

#define SYNTH_IMAGES 8

typedef struct synth {
    int classes;
    size_t elems;  /* per image */
    float *images; /* (SYNTH_IMAGES, elems) */
} synth;

static void release(void *ctx)
{
    synth *s = ctx;
    free(s->images);
    free(s);
}

static int fill(void *ctx, int64_t index, rng_key key, float *image, int32_t *label,
                float *target, cnn_err *e)
{
    (void)key, (void)target, (void)e;
    const synth *s = ctx;
    memcpy(image, s->images + (size_t)(index % SYNTH_IMAGES) * s->elems,
           s->elems * sizeof(float));
    *label = (int32_t)(index % s->classes);
    return CNN_OK;
}

int loader_create_synthetic(const loader_opts *o, int classes, loader **out, cnn_err *e)
{
    if (classes < 1)
        return CNN_ERR(e, CNN_EINVAL, "synthetic data needs a classifier (got %d classes)",
                       classes);
    synth *s = cnn_xmalloc(sizeof *s);
    *s = (synth){.classes = classes,
                 .elems = (size_t)o->channels * (size_t)o->aug.out_h * (size_t)o->aug.out_w};
    s->images = cnn_xmalloc(SYNTH_IMAGES * s->elems * sizeof(float));
    rng_fill_normal(rng_fold_str(o->key, "synthetic"), 0, s->images, SYNTH_IMAGES * s->elems,
                    0.0f, 1.0f);
    loader_source src = {.fill = fill, .ctx = s, .release = release, .task = DATA_CLASSIFY};
    return loader_create_with(o, &src, out, e);
}
