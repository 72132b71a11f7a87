/* mnist_scene (cnn-pack mnist-scenes) on a synthetic item set: the same (seed, index) gives
 * the same scene, another seed another; the mask covers exactly the pixels above the
 * threshold, each with the class + 1 of an item, the rest is black background; items stay
 * inside the canvas at every size; the item count and scales vary within their bounds
 * (covered areas between one smallest item and four largest). */
#include <string.h>

#include "../../src/data/data.h"
#include "../check.h"

enum { N = 50, SIDE = 28 };

int main(void)
{
    static uint8_t px[N * SIDE * SIDE], lab[N];
    for (int i = 0; i < N; i++) {
        lab[i] = (uint8_t)(i % 10);
        for (int y = 0; y < SIDE; y++) /* a bright disc of radius 10 on black */
            for (int x = 0; x < SIDE; x++)
                px[(i * SIDE + y) * SIDE + x] =
                    (y - 14) * (y - 14) + (x - 14) * (x - 14) < 100 ? (uint8_t)(100 + 3 * i) : 0;
    }
    mnist_set s = {N, SIDE, SIDE, px, lab};
    int sizes[3] = {28, 64, 97};
    for (int k = 0; k < 3; k++) {
        int S = sizes[k];
        size_t n = (size_t)S * S;
        uint8_t *a = cnn_xmalloc(n), *m = cnn_xmalloc(n), *b = cnn_xmalloc(n), *mb = cnn_xmalloc(n);
        mnist_scene_cfg c = {S, 1, 4, 7};
        double min_cov = 1e9, max_cov = 0;
        for (int64_t i = 0; i < 200; i++) {
            mnist_scene(&s, &c, i, a, m);
            mnist_scene(&s, &c, i, b, mb);
            CHECK(!memcmp(a, b, n) && !memcmp(m, mb, n));
            size_t cov = 0;
            for (size_t p = 0; p < n; p++) {
                CHECK(m[p] <= 10);
                CHECK(m[p] ? a[p] > MNIST_SCENE_THRESHOLD : a[p] == 0);
                cov += m[p] != 0;
            }
            min_cov = cov < min_cov ? (double)cov : min_cov;
            max_cov = cov > max_cov ? (double)cov : max_cov;
        }
        /* a disc of radius 10 scaled 0.75x covers about 177 pixels; four at 1.5x, 4 * 1400 */
        printf("size %d: covered pixels per scene in [%.0f, %.0f]\n", S, min_cov, max_cov);
        CHECK(min_cov > 100 && max_cov <= 4 * 1500);
        c.seed = 8;
        mnist_scene(&s, &c, 0, b, mb);
        mnist_scene_cfg c7 = {S, 1, 4, 7};
        mnist_scene(&s, &c7, 0, a, m);
        CHECK(memcmp(a, b, n) != 0);
        free(a);
        free(m);
        free(b);
        free(mb);
    }
    printf("mnist scenes: ok\n");
    return 0;
}
