/* Private to src/data and its tests: the random-resized-crop parameters of augment.c, so
 * that tests can check the algorithm's statistics without going through the pixels. */
#ifndef CNN_DATA_AUGMENT_IMPL_H
#define CNN_DATA_AUGMENT_IMPL_H

#include "data.h"

/* torchvision RandomResizedCrop.get_params for an (H, W) image with the draws of key:
 * out = {top, left, h, w}. */
void augment_crop_box(const augment_cfg *a, rng_key key, int H, int W, int out[4]);

/* Scale jitter (a->scale_max > 0) for an (H, W) image with the draws of key: the resized
 * size and the crop's place in it (negative in the padding), out = {rh, rw, top, left}. */
void augment_scale_box(const augment_cfg *a, rng_key key, int H, int W, int64_t out[4]);

#endif
