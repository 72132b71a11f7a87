/* Writes the first N images of an MNIST idx file as OUT/<index, 5 digits>.png (8-bit gray,
 * the idx bytes exactly) and OUT/labels.txt (one label a line), so `cnn-dist predict` can be
 * compared on files with `cnn-dist eval` on the packed set (tests/e2e/predict_fmnist.sh).
 * usage: mnist_png IMAGES.gz LABELS.gz OUT N */
#include <stdio.h>
#include <stdlib.h>

#include "../../src/data/data.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: mnist_png IMAGES.gz LABELS.gz OUT N\n");
        return 2;
    }
    mnist_set s;
    cnn_err e = {0};
    if (mnist_read(argv[1], argv[2], &s, &e) < 0) {
        fprintf(stderr, "mnist_png: %s\n", e.msg);
        return 1;
    }
    int64_t n = atoll(argv[4]);
    n = n < s.n ? n : s.n;
    char path[4096];
    snprintf(path, sizeof path, "%s/labels.txt", argv[3]);
    FILE *labels = fopen(path, "w");
    if (!labels) {
        perror(path);
        return 1;
    }
    for (int64_t i = 0; i < n; i++) {
        uint8_t *png;
        size_t len;
        if (mnist_encode_png(&s, i, &png, &len, &e) < 0) {
            fprintf(stderr, "mnist_png: %s\n", e.msg);
            return 1;
        }
        snprintf(path, sizeof path, "%s/%05lld.png", argv[3], (long long)i);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(png, 1, len, f) != len || fclose(f) != 0) {
            perror(path);
            return 1;
        }
        free(png);
        fprintf(labels, "%d\n", s.labels[i]);
    }
    fclose(labels);
    mnist_free(&s);
    printf("mnist_png: %lld images in %s\n", (long long)n, argv[3]);
    return 0;
}
