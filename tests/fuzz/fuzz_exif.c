/* libFuzzer target for the EXIF parser (src/data/exif.c) on its own: the input is an APP1
 * payload ("Exif\0\0" + TIFF, the seeds are those of tests/fixtures/images/exif*.jpg), and
 * the orientation found is applied to a small image whose size comes from the first byte.
 * The orientation must be 1..8; a crash, a sanitizer report or a wrong pixel is a bug.
 * Built by CNN_FUZZ=ON (clang); replay_main.c replays the corpus in every build. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../src/data/decode_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int o = exif_orientation(data, size);
    if (o < 1 || o > 8) {
        fprintf(stderr, "exif_orientation gave %d, outside 1..8\n", o);
        abort();
    }
    int h = size ? 1 + data[size - 1] % 5 : 1, w = size ? 1 + data[size - 1] / 5 % 7 : 1;
    image im = {h, w, 1, malloc((size_t)h * w)};
    if (!im.data)
        abort();
    for (int i = 0; i < h * w; i++)
        im.data[i] = (uint8_t)i;
    cnn_err e = {0};
    if (exif_apply(&im, o, &e) != CNN_OK)
        abort(); /* only out of memory, never for a 35-pixel image */
    /* Every orientation is a permutation: each source pixel appears exactly once. */
    int seen[35] = {0};
    for (int i = 0; i < h * w; i++)
        seen[im.data[i]]++;
    for (int i = 0; i < h * w; i++)
        if (seen[i] != 1 || im.h * im.w != h * w) {
            fprintf(stderr, "orientation %d of a %dx%d image lost pixel %d\n", o, w, h, i);
            abort();
        }
    image_free(&im);
    return 0;
}
