/* e2e check of a packed Fashion-MNIST split, raw or encoded (PNG): counts, a few labels and
 * pixel sums taken with numpy from the idx files (independent truth), mean/std as numpy
 * computes them, and every sample read back with dataset_read (and decoded, when encoded)
 * equal to the idx file's bytes.
 * usage: fmnist_check MASTER.h5 IMAGES.gz LABELS.gz train|t10k */
#include <stdlib.h>
#include <string.h>

#include "../../src/data/data.h"
#include "../check.h"

typedef struct truth {
    const char *split;
    int64_t n;
    int first_labels[5], last_label;
    long sum_first, sum_last; /* pixel sums of the first and last image */
    double mean, std;
} truth;

static const truth known[2] = {
    {"train", 60000, {9, 0, 0, 3, 0}, 5, 76247, 16684, 0.28604060, 0.35302424},
    {"t10k", 10000, {9, 2, 1, 1, 6}, 5, 33456, 24390, 0.28684928, 0.35244415},
};

/* Sample i's 28x28 pixels into px: the stored bytes (raw) or the decoded PNG (encoded). */
static void pixels(const dataset *ds, int64_t i, uint8_t px[784])
{
    static uint8_t buf[4096];
    sample_ref r;
    cnn_err e = {0};
    dataset_ref(ds, i, &r);
    bool raw = dataset_get_info(ds)->mode == DATA_RAW;
    CHECK(r.len <= (int64_t)sizeof buf && (!raw || r.len == 784));
    CHECK_EQ(dataset_read(ds, i, raw ? px : buf, NULL, &e), CNN_OK);
    if (raw)
        return;
    image im = {0};
    CHECK_EQ(image_decode(buf, (size_t)r.len, 1, 0, &im, &e), CNN_OK);
    CHECK(im.h == 28 && im.w == 28 && im.c == 1);
    memcpy(px, im.data, 784);
    image_free(&im);
}

static long pixel_sum(const uint8_t *p, int n)
{
    long s = 0;
    for (int i = 0; i < n; i++)
        s += p[i];
    return s;
}

int main(int argc, char **argv)
{
    CHECK(argc == 5);
    const truth *t = strcmp(argv[4], "train") == 0 ? &known[0] : &known[1];
    cnn_err e = {0};
    dataset *ds = NULL;
    if (dataset_open(argv[1], true, &ds, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    const dataset_info *in = dataset_get_info(ds);
    CHECK_EQ(in->n, t->n);
    CHECK_EQ(in->n_shards, 2);
    CHECK_EQ(in->n_classes, 10);
    CHECK(strcmp(in->classes[9], "Ankle boot") == 0);
    if (in->mode == DATA_RAW)
        CHECK_EQ(in->raw_h * in->raw_w * in->raw_c, 784);
    CHECK_NEAR(in->mean[0], t->mean, 1e-6); /* float32 of the exact integer ratio */
    CHECK_NEAR(in->std[0], t->std, 1e-6);
    uint8_t img[784];
    sample_ref r;
    for (int i = 0; i < 5; i++) {
        dataset_ref(ds, i, &r);
        CHECK_EQ(r.label, t->first_labels[i]);
    }
    pixels(ds, 0, img);
    CHECK_EQ(pixel_sum(img, 784), t->sum_first);
    dataset_ref(ds, t->n - 1, &r);
    CHECK_EQ(r.label, t->last_label);
    pixels(ds, t->n - 1, img);
    CHECK_EQ(pixel_sum(img, 784), t->sum_last);
    mnist_set ms;
    CHECK_EQ(mnist_read(argv[2], argv[3], &ms, &e), CNN_OK);
    for (int64_t i = 0; i < ms.n; i++) {
        dataset_ref(ds, i, &r);
        CHECK_EQ(r.label, ms.labels[i]);
        pixels(ds, i, img);
        CHECK(memcmp(img, ms.images + i * 784, 784) == 0);
    }
    printf("%s (%s): %lld samples, labels and pixels match the idx files\n", t->split,
           in->mode == DATA_RAW ? "raw" : "encoded", (long long)ms.n);
    mnist_free(&ms);
    dataset_close(ds);
    return 0;
}
