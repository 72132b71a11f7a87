/* data.synthetic for the three tasks (loader_create_synthetic): a classifier's label is
 * index % classes, a segmenter's pixel p of sample index is labelled (index + p) % classes,
 * a denoiser's target is another of the noise images (and exists only when the loader makes
 * targets, noise_std > 0); images repeat with period 8 and are finite and not constant.
 * Segmentation without classes is refused. */
#include <math.h>

#include "../../src/data/data.h"
#include "../check.h"

enum { OH = 5, OW = 7, CH = 3, N = 24, B = 6, PER = CH * OH * OW };

static loader *open_synthetic(data_task task, int classes, float noise_std)
{
    loader_opts o = {.workers = 2, .prefetch = 2, .channels = CH,
                     .key = rng_key_from_seed(3),
                     .aug = {.out_h = OH, .out_w = OW, .std = {1, 1, 1},
                             .noise_std = noise_std}};
    cnn_err e = {0};
    CHECK(sampler_init(&o.smp, N, B, 0, 1, 7, true, true, &e) == CNN_OK);
    loader *ld = NULL;
    if (loader_create_synthetic(&o, task, classes, &ld, &e) < 0) {
        fprintf(stderr, "loader_create_synthetic: %s\n", e.msg);
        exit(1);
    }
    CHECK(loader_start_epoch(ld, 0, 0, &e) == CNN_OK);
    return ld;
}

/* Every sample of one epoch, checked against the rules above; images[i] keeps sample i's. */
static void check_epoch(data_task task, int classes, float noise_std)
{
    static float images[N][PER];
    static float targets[N][PER];
    loader *ld = open_synthetic(task, classes, noise_std);
    const batch *b;
    cnn_err e = {0};
    int seen = 0;
    while (loader_next(ld, &b, &e) == CNN_OK && b) {
        CHECK((b->targets != NULL) == (noise_std > 0));
        for (int k = 0; k < b->n_valid; k++) {
            int64_t i = b->index[k];
            CHECK(i >= 0 && i < N);
            memcpy(images[i], b->images + (size_t)k * PER, sizeof images[i]);
            if (b->targets)
                memcpy(targets[i], b->targets + (size_t)k * PER, sizeof targets[i]);
            if (task == DATA_SEGMENT) {
                for (int p = 0; p < OH * OW; p++)
                    CHECK_EQ(b->labels[(size_t)k * OH * OW + p], (i + p) % classes);
            } else {
                CHECK_EQ(b->labels[k], classes ? i % classes : 0);
            }
            seen++;
        }
    }
    CHECK(e.code == CNN_OK);
    CHECK_EQ(seen, N);
    for (int i = 0; i < N; i++) {
        double lo = INFINITY, hi = -INFINITY;
        for (int j = 0; j < PER; j++) {
            CHECK(isfinite(images[i][j]));
            lo = fmin(lo, images[i][j]);
            hi = fmax(hi, images[i][j]);
        }
        CHECK(hi > lo);
        CHECK(!memcmp(images[i], images[(i + 8) % N], sizeof images[i]));
        CHECK(memcmp(images[i], images[(i + 1) % N], sizeof images[i]) != 0);
        if (noise_std > 0)
            CHECK(!memcmp(targets[i], images[(i + 1) % N], sizeof targets[i]));
    }
    loader_destroy(ld);
    printf("  %s, %d classes, noise_std %g: %d samples as specified\n",
           task == DATA_SEGMENT ? "segmentation" : classes ? "classification" : "denoising",
           classes, noise_std, seen);
}

int main(void)
{
    check_epoch(DATA_CLASSIFY, 5, 0);
    check_epoch(DATA_SEGMENT, 3, 0);
    check_epoch(DATA_CLASSIFY, 0, 0.1f);
    loader_opts o = {.channels = CH, .aug = {.out_h = OH, .out_w = OW}};
    cnn_err e = {0};
    loader *ld = NULL;
    CHECK(sampler_init(&o.smp, N, B, 0, 1, 7, true, true, &e) == CNN_OK);
    CHECK(loader_create_synthetic(&o, DATA_SEGMENT, 0, &ld, &e) == CNN_EINVAL && !ld);
    CHECK_STR_CONTAINS(e.msg, "classes");
    printf("loader_synthetic: ok\n");
    return 0;
}
