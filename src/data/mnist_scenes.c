/* Segmentation scenes made of MNIST items (data.h mnist_scene), the M2NIST idea on
 * Fashion-MNIST: K items (K uniform in [items_min, items_max]) from the source set, each
 * scaled by a factor uniform in [MNIST_SCENE_SCALE_MIN, MNIST_SCENE_SCALE_MAX] of its 28
 * pixels (bilinear, antialiased), placed at a uniform position inside the canvas, drawn in
 * order; an item covers the pixels where its scaled image is above MNIST_SCENE_THRESHOLD:
 * there the scene takes the item's pixels and the mask its class + 1 (a later item hides an
 * earlier one); elsewhere the scene stays black and the mask 0 (background). Every choice
 * comes from the keyed RNG at (seed, scene index), so a scene is the same on any machine
 * and for any rank count. */
#include <math.h>
#include <string.h>

#include "data.h"

/* Draws of one scene, numbered: item j uses RU_ITEM + 4 j .. + 3. */
enum { RU_COUNT = 0, RU_ITEM = 1 };

static int64_t below(rng_key key, uint64_t i, int64_t n)
{
    int64_t v = (int64_t)(rng_uniform(key, i) * (float)n);
    return v < n ? v : n - 1; /* a uniform of 1 - 2^-24 times a large n can round to n */
}

void mnist_scene(const mnist_set *s, const mnist_scene_cfg *c, int64_t index, uint8_t *img,
                 uint8_t *mask)
{
    int S = c->size;
    memset(img, 0, (size_t)S * (size_t)S);
    memset(mask, 0, (size_t)S * (size_t)S);
    rng_key key = rng_fold(rng_key_from_seed(c->seed), (uint64_t)index);
    int k = c->items_min + (int)below(key, RU_COUNT, c->items_max - c->items_min + 1);
    for (int j = 0; j < k; j++) {
        uint64_t r = RU_ITEM + 4 * (uint64_t)j;
        int64_t src = below(key, r, s->n);
        double f = MNIST_SCENE_SCALE_MIN +
                   (MNIST_SCENE_SCALE_MAX - MNIST_SCENE_SCALE_MIN) * rng_uniform(key, r + 1);
        int h = (int)lround(s->h * f), w = (int)lround(s->w * f);
        h = h < S ? h : S;
        w = w < S ? w : S;
        int top = (int)below(key, r + 2, S - h + 1), left = (int)below(key, r + 3, S - w + 1);
        image item = {s->h, s->w, 1, s->images + (size_t)src * (size_t)(s->h * s->w)}, scaled;
        image_resize_bilinear(&item, h, w, &scaled);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t v = scaled.data[(size_t)y * (size_t)w + (size_t)x];
                if (v <= MNIST_SCENE_THRESHOLD)
                    continue;
                size_t at = (size_t)(top + y) * (size_t)S + (size_t)(left + x);
                img[at] = v;
                mask[at] = (uint8_t)(s->labels[src] + 1);
            }
        image_free(&scaled);
    }
}
