/* Synthetic samples for throughput measurements (data.synthetic): images are copies of a
 * few standard-normal noise images made once (drawing noise per sample would cost more than
 * decoding), so a run measures the training step and the host-to-device path without
 * reading or decoding files. Classification: label index % classes; segmentation: pixel p
 * of sample index is labelled (index + p) % classes; denoising (classes 0): the target is
 * the next noise image. */
#include <stdlib.h>
#include <string.h>

#include "loader_impl.h"

#define SYNTH_IMAGES 8

typedef struct synth {
    data_task task;
    int classes;  /* 0: denoising (labels 0) */
    size_t pixels; /* per image plane */
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
    (void)key, (void)e;
    const synth *s = ctx;
    memcpy(image, s->images + (size_t)(index % SYNTH_IMAGES) * s->elems,
           s->elems * sizeof(float));
    if (target)
        memcpy(target, s->images + (size_t)((index + 1) % SYNTH_IMAGES) * s->elems,
               s->elems * sizeof(float));
    if (s->task == DATA_SEGMENT)
        for (size_t p = 0; p < s->pixels; p++)
            label[p] = (int32_t)(((uint64_t)index + p) % (uint64_t)s->classes);
    else
        *label = s->classes ? (int32_t)(index % s->classes) : 0;
    return CNN_OK;
}

int loader_create_synthetic(const loader_opts *o, data_task task, int classes, loader **out,
                            cnn_err *e)
{
    if (classes < 0 || (classes == 0 && task == DATA_SEGMENT))
        return CNN_ERR(e, CNN_EINVAL, "synthetic segmentation data needs classes >= 1 (got %d)",
                       classes);
    synth *s = cnn_xmalloc(sizeof *s);
    size_t pixels = (size_t)o->aug.out_h * (size_t)o->aug.out_w;
    *s = (synth){.task = task, .classes = classes, .pixels = pixels,
                 .elems = (size_t)o->channels * pixels};
    s->images = cnn_xmalloc(SYNTH_IMAGES * s->elems * sizeof(float));
    rng_fill_normal(rng_fold_str(o->key, "synthetic"), 0, s->images, SYNTH_IMAGES * s->elems,
                    0.0f, 1.0f);
    loader_source src = {.fill = fill, .ctx = s, .release = release, .task = task};
    return loader_create_with(o, &src, out, e);
}
