/* The window resizes (image_resize_bilinear_window, image_resize_nearest_window) equal the
 * full resize followed by image_crop, pixel for pixel, shrinking and enlarging, for windows
 * at the edges and inside; and the paths that use them (cnn-pack's raw mode, the eval
 * transform) handle an image of extreme aspect ratio (1 x 999999, whose resized image would
 * be 196 GB) in little memory and time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/data/data.h"
#include "../check.h"

static image pattern(int h, int w, int c)
{
    image im = {h, w, c, malloc((size_t)h * w * c)};
    CHECK(im.data);
    for (size_t i = 0; i < (size_t)h * w * c; i++)
        im.data[i] = (uint8_t)(i * 37 + i / 7);
    return im;
}

static void same_as_crop(int h, int w, int c, int rh, int rw, bool nearest)
{
    image src = pattern(h, w, c), full = {0};
    (nearest ? image_resize_nearest : image_resize_bilinear)(&src, rh, rw, &full);
    int wins[4][4] = {{0, 0, rh, rw}, {0, 0, 1, 1}, {rh - 2, rw - 3, 2, 3}, {rh / 3, rw / 4,
                                                                          rh / 2, rw / 2}};
    for (int k = 0; k < 4; k++) {
        int *v = wins[k];
        if (v[2] < 1 || v[3] < 1 || v[0] < 0 || v[1] < 0)
            continue;
        image crop = {0}, win = {0};
        image_crop(&full, v[0], v[1], v[2], v[3], &crop);
        (nearest ? image_resize_nearest_window : image_resize_bilinear_window)(
            &src, rh, rw, v[0], v[1], v[2], v[3], &win);
        CHECK_EQ(win.h, crop.h);
        CHECK_EQ(win.w, crop.w);
        CHECK(memcmp(win.data, crop.data, (size_t)crop.h * crop.w * c) == 0);
        image_free(&crop);
        image_free(&win);
    }
    image_free(&full);
    image_free(&src);
}

int main(void)
{
    for (int nearest = 0; nearest < 2; nearest++) {
        same_as_crop(17, 23, 3, 7, 9, nearest);   /* shrink */
        same_as_crop(5, 4, 1, 13, 11, nearest);   /* enlarge */
        same_as_crop(9, 30, 3, 9, 61, nearest);   /* one axis each way */
        same_as_crop(1, 40, 1, 8, 320, nearest);  /* a line */
    }
    /* The eval transform on a 1 x 999999 image at resize 256 (196 GB resized). */
    image thin = pattern(1, 999999, 3);
    augment_cfg a = {.out_h = 8, .out_w = 8, .resize = 256, .mean = {0.5f, 0.5f, 0.5f},
                     .std = {0.2f, 0.2f, 0.2f}, .channels = 3};
    float out[3 * 8 * 8];
    augment_sample(&a, (rng_key){{1, 2}}, &thin, NULL, out, NULL, NULL);
    image_free(&thin);
    printf("OK: windowed resizes equal resize + crop; a 1x999999 image evaluates\n");
    return 0;
}
