/* Synthetic samples for throughput measurements (data.synthetic): every image is standard
 * normal noise drawn from the sample's key, its label index % classes, so a run measures
 * the training step and the host-to-device path without reading or decoding files. */
#include <stdlib.h>

#include "loader_impl.h"

typedef struct synth {
    int classes;
    size_t elems; /* per image */
} synth;

static int fill(void *ctx, int64_t index, rng_key key, float *image, int32_t *label,
                float *target, cnn_err *e)
{
    (void)target;
    (void)e;
    const synth *s = ctx;
    rng_fill_normal(key, 0, image, s->elems, 0.0f, 1.0f);
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
    loader_source src = {.fill = fill, .ctx = s, .release = free, .task = DATA_CLASSIFY};
    return loader_create_with(o, &src, out, e);
}
