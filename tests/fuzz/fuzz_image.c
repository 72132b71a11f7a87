/* libFuzzer target for image files as cnn-pack and the loader see them: the input's first two
 * bytes choose the settings, the rest is the file.
 *   byte 0: bit 0 raw mode (else encoded), bits 1-3 --resize (0 or 8..256), bit 4 channel
 *           statistics, bits 5-6 want_c of image_decode (0, 1, 3), bit 7 JPEG scaling
 *   byte 1: the raw --size HxW (1..16 each) and the eval crop of the loader's eval path
 * The file goes through pack_sample_make (read, decode, EXIF, resize, re-encode or crop, as
 * cnn-pack does it), decode_png_ids (masks), image_decode and augment_sample's eval path
 * (Resize + CenterCrop + Normalize), which the loader and `cnn-dist predict` run on every
 * decoded image. An unreadable file is an error; a crash, a sanitizer report, a leak, a hang
 * or an allocation above the decode limit is a bug. Built by CNN_FUZZ=ON (clang);
 * replay_main.c replays the corpus in every build (tests/fuzz/README.md). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/data/decode_impl.h"
#include "../../src/data/pack_images_impl.h"
#include "fuzz_tmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void pack_one(uint8_t f, uint8_t g, const uint8_t *file, size_t len)
{
    static const int resizes[8] = {0, 8, 16, 24, 32, 64, 100, 256};
    pack_cfg c = {.mode = f & 1 ? DATA_RAW : DATA_ENCODED, .task = DATA_CLASSIFY,
                  .resize = resizes[f >> 1 & 7], .threads = 1, .shards = 1};
    if (c.mode == DATA_RAW) {
        c.size_h = 1 + (g & 15);
        c.size_w = 1 + (g >> 4);
        int big = c.size_h > c.size_w ? c.size_h : c.size_w;
        if (c.resize && c.resize < big) /* cnn-pack refuses it on its command line */
            c.resize = big;
    }
    pack_item it = {(char *)fuzz_tmp_write("image", file, len), NULL, 0};
    pack_sample s;
    pack_sample_make(&c, &it, f & 16, &s);
    pack_sample_free(&s);
}

static void eval_one(uint8_t f, uint8_t g, const image *im)
{
    static const int channels[4] = {0, 1, 3, 3};
    augment_cfg a = {.out_h = 1 + (g & 15), .out_w = 1 + (g >> 4), .train = false,
                     .resize = g & 1 ? 0 : 2 + (g >> 3), .mean = {0.5f, 0.5f, 0.5f},
                     .std = {0.25f, 0.25f, 0.25f}, .channels = channels[f >> 5 & 3]};
    int c = a.channels ? a.channels : im->c;
    float *out = malloc(sizeof(float) * (size_t)c * a.out_h * a.out_w);
    if (!out)
        abort();
    augment_sample(&a, (rng_key){{1, 2}}, im, NULL, out, NULL, NULL);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t f = data[0], g = data[1];
    const uint8_t *file = data + 2;
    size_t len = size - 2;
    pack_one(f, g, file, len);
    cnn_err e = {0};
    image im;
    if (decode_png_ids(file, len, &im, &e) == CNN_OK)
        image_free(&im);
    static const int want_c[4] = {0, 1, 3, 3};
    if (image_decode(file, len, want_c[f >> 5 & 3], f & 128 ? 1 + g : 0, &im, &e) == CNN_OK) {
        eval_one(f, g, &im);
        image_free(&im);
    }
    return 0;
}
