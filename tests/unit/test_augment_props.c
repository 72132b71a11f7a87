/* Properties of augment_sample that fixtures cannot show: the random-resized-crop
 * statistics over 10000 keys, the fallback for very elongated images, determinism per key,
 * image and mask staying aligned through crop + flip, nearest never inventing class ids,
 * and the denoising noise level; for scale jitter (dense tasks) its size and place
 * statistics and pixels equal to resize, pad and crop done in full. */
#include "../../src/data/augment_impl.h"
#include "../check.h"

static augment_cfg train_cfg(int out_h, int out_w)
{
    augment_cfg a = {0};
    a.out_h = out_h;
    a.out_w = out_w;
    a.train = true;
    a.scale[0] = 0.08f;
    a.scale[1] = 1.0f;
    a.ratio[0] = 3.0f / 4.0f;
    a.ratio[1] = 4.0f / 3.0f;
    a.hflip = true;
    for (int c = 0; c < 3; c++) {
        a.mean[c] = 0.0f;
        a.std[c] = 1.0f;
    }
    return a;
}

static rng_key key_of(uint64_t index)
{
    return rng_fold(rng_fold(rng_key_from_seed(11), 3), index);
}

/* Area within scale (widened by the rounding of w and h to integers), aspect ratio within
 * ratio (same), box inside the image; both ends of each range reached; every position. */
static void check_crop_stats(void)
{
    augment_cfg a = train_cfg(224, 224);
    const int H = 375, W = 500, n = 10000;
    double amin = 1, amax = 0, rmin = 10, rmax = 0;
    int fallback = 0, top0 = 0, left_end = 0;
    for (int i = 0; i < n; i++) {
        int b[4];
        augment_crop_box(&a, key_of((uint64_t)i), H, W, b);
        CHECK(b[0] >= 0 && b[1] >= 0 && b[2] > 0 && b[3] > 0);
        CHECK(b[0] + b[2] <= H && b[1] + b[3] <= W);
        double h = b[2], w = b[3], area = h * w / ((double)H * W), r = w / h;
        /* w, h rounded: area within (sqrt(A r) +- .5)(sqrt(A / r) +- .5). */
        double slack_a = (w + h) * 0.5 / ((double)H * W) + 1e-9, slack_r = r * (0.5 / h + 0.5 / w);
        fallback += b[2] == H && b[3] == W;
        CHECK(area >= 0.08 - slack_a && area <= 1.0 + slack_a);
        CHECK(r >= 0.75 - slack_r && r <= 4.0 / 3.0 + slack_r);
        amin = area < amin ? area : amin;
        amax = area > amax ? area : amax;
        rmin = r < rmin ? r : rmin;
        rmax = r > rmax ? r : rmax;
        top0 += b[0] == 0;
        left_end += b[1] + b[3] == W;
    }
    printf("  crop: area [%.4f, %.4f] ratio [%.3f, %.3f], %d whole-image, %d at top, %d at "
           "right edge of %d\n", amin, amax, rmin, rmax, fallback, top0, left_end, n);
    CHECK(amin < 0.085 && amax > 0.95);
    CHECK(rmin < 0.77 && rmax > 1.30);
    /* Acceptance is likely for 375x500 (4:3): whole-image crops (fallback) are rare. */
    CHECK(fallback < n / 20);
    CHECK(top0 > 0 && left_end > 0);
}

/* 10x200: no attempt fits (h <= 10 needs area <= 10 * 13 < 0.08 * 2000), so always the
 * fallback: full height, w = round(10 * 4/3) = 13, centred: left = (200 - 13) / 2 = 93.
 * And 300x8 (too tall): w = 8, h = round(8 / (3/4)) = 11, top = (300 - 11) / 2 = 144. */
static void check_crop_fallback(void)
{
    augment_cfg a = train_cfg(32, 32);
    for (int i = 0; i < 1000; i++) {
        int b[4];
        augment_crop_box(&a, key_of((uint64_t)i), 10, 200, b);
        CHECK(b[0] == 0 && b[1] == 93 && b[2] == 10 && b[3] == 13);
        augment_crop_box(&a, key_of((uint64_t)i), 300, 8, b);
        CHECK(b[0] == 144 && b[1] == 0 && b[2] == 11 && b[3] == 8);
    }
}

static image pattern(int h, int w, int c)
{
    image im = {h, w, c, cnn_xmalloc((size_t)h * w * c)};
    for (int i = 0; i < h * w * c; i++)
        im.data[i] = (uint8_t)((i * 37 + (i / (w * c)) * 11) & 255);
    return im;
}

static void check_determinism(void)
{
    augment_cfg a = train_cfg(32, 40);
    a.brightness = a.contrast = a.saturation = 0.4f;
    image img = pattern(75, 100, 3);
    size_t n = 3 * 32 * 40;
    float *x = cnn_xmalloc(n * sizeof(float)), *y = cnn_xmalloc(n * sizeof(float));
    augment_sample(&a, key_of(5), &img, NULL, x, NULL, NULL);
    augment_sample(&a, key_of(5), &img, NULL, y, NULL, NULL);
    CHECK(memcmp(x, y, n * sizeof(float)) == 0);
    augment_sample(&a, key_of(6), &img, NULL, y, NULL, NULL);
    CHECK(memcmp(x, y, n * sizeof(float)) != 0);
    free(x);
    free(y);
    image_free(&img);
}

/* Quadrant q of the image has value 60 * (q + 1) in every channel, the mask has id q (255
 * on a border strip). Wherever the image output is exactly a quadrant value (away from the
 * blended seams), the mask must hold that quadrant's id; ids are never invented. */
static void check_joint_segmentation(bool scale_jitter)
{
    const int H = 90, W = 120, OH = 48, OW = 64;
    image img = {H, W, 3, cnn_xmalloc((size_t)H * W * 3)};
    image mask = {H, W, 1, cnn_xmalloc((size_t)H * W)};
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int q = (y >= H / 2) * 2 + (x >= W / 2);
            for (int c = 0; c < 3; c++)
                img.data[(y * W + x) * 3 + c] = (uint8_t)(60 * (q + 1));
            mask.data[y * W + x] = (uint8_t)(y < 3 ? 255 : q);
        }
    augment_cfg a = train_cfg(OH, OW);
    if (scale_jitter) { /* shorter side 45..180 against a 48x64 crop: padded at times */
        a.scale_min = 45;
        a.scale_max = 180;
    }
    float *out = cnn_xmalloc(sizeof(float) * 3 * OH * OW);
    int32_t *m = cnn_xmalloc(sizeof(int32_t) * OH * OW);
    long long agree = 0, interior = 0, flips = 0, padded = 0;
    for (int k = 0; k < 200; k++) {
        augment_sample(&a, key_of((uint64_t)k), &img, &mask, out, m, NULL);
        flips += m[0] != 255 && m[0] % 2 == 1; /* a right quadrant at the left edge */
        for (int i = 0; i < OH * OW; i++) {
            CHECK(m[i] == 255 || (m[i] >= 0 && m[i] <= 3));
            float v = out[i] * 255.0f;
            padded += v == 0.0f;
            if (v == 0.0f) /* padding: the mask is ignored there too */
                CHECK_EQ(m[i], 255);
            int q = (int)lrintf(v / 60.0f) - 1;
            if (fabsf(v - 60.0f * (q + 1)) > 1e-3f || m[i] == 255)
                continue;
            interior++;
            agree += m[i] == q;
        }
    }
    printf("  joint%s: %lld of %lld interior pixels agree, %lld crops start right of centre, "
           "%lld padded pixels\n", scale_jitter ? " (scale jitter)" : "", agree, interior,
           flips, padded);
    CHECK(scale_jitter ? padded > 0 : padded == 0);
    CHECK(interior > 200LL * OH * OW / 2);
    /* Nearest (floor) and bilinear (centre) sampling may disagree on the one row or
     * column next to a seam: allow 5%. */
    CHECK(agree >= interior * 95 / 100);
    CHECK(flips > 0);
    free(out);
    free(m);
    image_free(&img);
    image_free(&mask);
}

/* Scale jitter on 64x64 into a 64x64 crop, shorter side 32..128: every size drawn (about
 * 10000 / 97 each), the crop inside the padded image, every offset reached, and offset 0
 * whenever the resized side is no longer than the crop (only padding beyond it). */
static void check_scale_stats(void)
{
    augment_cfg a = train_cfg(64, 64);
    a.scale_min = 32;
    a.scale_max = 128;
    int seen[129] = {0}, n = 10000;
    int64_t max_top = 0;
    for (int i = 0; i < n; i++) {
        int64_t b[4];
        augment_scale_box(&a, key_of((uint64_t)i), 64, 64, b);
        CHECK(b[0] == b[1] && b[0] >= 32 && b[0] <= 128);
        seen[b[0]]++;
        int64_t room = (b[0] > 64 ? b[0] : 64) - 64;
        CHECK(b[2] >= 0 && b[2] <= room && b[3] >= 0 && b[3] <= room);
        if (b[0] == 128)
            max_top = b[2] > max_top ? b[2] : max_top;
    }
    int lo = n, hi = 0;
    for (int s = 32; s <= 128; s++) {
        lo = seen[s] < lo ? seen[s] : lo;
        hi = seen[s] > hi ? seen[s] : hi;
    }
    printf("  scale: each size 32..128 drawn %d to %d times of %d, top up to %lld at 128\n",
           lo, hi, n, (long long)max_top);
    CHECK(lo > 60 && hi < 150);
    CHECK(max_top >= 60); /* 64 is the most; about 100 draws reach it or close */
    /* 40x300 into 32x32: the shorter side 40 becomes s, the other int(s * 300 / 40). */
    a = train_cfg(32, 32);
    a.scale_min = a.scale_max = 20;
    int64_t b[4];
    augment_scale_box(&a, key_of(1), 40, 300, b);
    CHECK(b[0] == 20 && b[1] == 150 && b[2] == 0 && b[3] >= 0 && b[3] <= 150 - 32);
    /* CIFAR's RandomCrop(32, padding=4): offsets -4..4 on both axes, each about 1/9. */
    a.scale_min = a.scale_max = 32;
    a.pad = 4;
    int offs[9] = {0};
    for (int i = 0; i < 9000; i++) {
        augment_scale_box(&a, key_of((uint64_t)i), 32, 32, b);
        CHECK(b[0] == 32 && b[1] == 32 && b[2] >= -4 && b[2] <= 4 && b[3] >= -4 && b[3] <= 4);
        offs[b[2] + 4]++;
    }
    for (int k = 0; k < 9; k++)
        CHECK(offs[k] > 850 && offs[k] < 1150);
}

/* augment_sample's scale jitter pixel for pixel against the whole image resized
 * (image_resize_bilinear / nearest), padded (image 0, mask 255) and cropped: the window
 * resize must change nothing. */
static void check_scale_pixels(void)
{
    const int H = 45, W = 60, OH = 40, OW = 48;
    image img = pattern(H, W, 3), mask = pattern(H, W, 1);
    augment_cfg a = train_cfg(OH, OW);
    a.hflip = false;
    a.scale_min = 20;
    a.scale_max = 90;
    float *out = cnn_xmalloc(sizeof(float) * 3 * OH * OW);
    int32_t *m = cnn_xmalloc(sizeof(int32_t) * OH * OW);
    int cases = 0, with_pad = 0;
    for (int k = 0; k < 40; k++) {
        a.pad = k % 2 ? 3 : 0;
        int64_t b[4];
        augment_scale_box(&a, key_of((uint64_t)k), H, W, b);
        augment_sample(&a, key_of((uint64_t)k), &img, &mask, out, m, NULL);
        image ri = {0}, rm = {0};
        image_resize_bilinear(&img, (int)b[0], (int)b[1], &ri);
        image_resize_nearest(&mask, (int)b[0], (int)b[1], &rm);
        bool pad = false;
        for (int y = 0; y < OH; y++)
            for (int x = 0; x < OW; x++) {
                int64_t sy = b[2] + y, sx = b[3] + x;
                bool in = sy >= 0 && sx >= 0 && sy < b[0] && sx < b[1];
                pad |= !in;
                for (int c = 0; c < 3; c++) {
                    float want = in ? ri.data[(sy * b[1] + sx) * 3 + c] / 255.0f : 0.0f;
                    CHECK_EQ(out[(c * OH + y) * OW + x], want);
                }
                CHECK_EQ(m[y * OW + x], in ? rm.data[sy * b[1] + sx] : 255);
            }
        with_pad += pad;
        cases++;
        image_free(&ri);
        image_free(&rm);
    }
    printf("  scale pixels: %d crops equal resize + pad + crop, %d of them padded\n", cases,
           with_pad);
    CHECK(with_pad > 0 && with_pad < cases);
    free(out);
    free(m);
    image_free(&img);
    image_free(&mask);
}

/* The start-up line's words for the three geometries. */
static void check_describe(void)
{
    char buf[256];
    augment_cfg a = train_cfg(224, 224);
    a.brightness = 0.4f;
    augment_describe(&a, buf, sizeof buf);
    CHECK(strcmp(buf, "random resized crop (area 0.08-1, ratio 0.75-1.33) to 224x224, "
                      "horizontal flip, colour jitter 0.4/0/0") == 0);
    a = train_cfg(64, 64);
    a.scale_min = 32;
    a.scale_max = 128;
    a.hflip = false;
    a.noise_std = 0.5f;
    augment_describe(&a, buf, sizeof buf);
    CHECK(strcmp(buf, "scale jitter (shorter side 32-128 px), random crop 64x64, noise std 0.5 "
                      "(normalized)") == 0);
    a = train_cfg(32, 32);
    a.scale_min = a.scale_max = 32;
    a.pad = 4;
    augment_describe(&a, buf, sizeof buf);
    CHECK(strcmp(buf, "shorter side to 32 px, padding 4, random crop 32x32, horizontal flip") ==
          0);
    augment_describe(&a, buf, 12); /* cut, still terminated */
    CHECK(strlen(buf) == 11);
}

/* out - target over 3 * 96 * 96 values: mean 0, standard deviation noise_std within 2%. */
static void check_denoise(void)
{
    augment_cfg a = train_cfg(96, 96);
    a.noise_std = 0.3f;
    image img = pattern(120, 100, 1);
    a.channels = 3;
    size_t n = 3 * 96 * 96;
    float *x = cnn_xmalloc(n * sizeof(float)), *t = cnn_xmalloc(n * sizeof(float));
    float *clean = cnn_xmalloc(n * sizeof(float));
    augment_sample(&a, key_of(1), &img, NULL, x, NULL, t);
    a.noise_std = 0.0f;
    augment_sample(&a, key_of(1), &img, NULL, clean, NULL, NULL);
    CHECK(memcmp(t, clean, n * sizeof(float)) == 0);
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - t[i];
        s += d;
        ss += d * d;
    }
    double mean = s / n, sd = sqrt(ss / n - mean * mean);
    printf("  denoise: noise mean %.5f sd %.5f (want 0.3)\n", mean, sd);
    CHECK_NEAR(mean, 0.0, 0.01);
    CHECK_NEAR(sd, 0.3, 0.006);
    /* Gray replicated into 3 channels: the clean planes are equal. */
    CHECK(memcmp(clean, clean + 96 * 96, 96 * 96 * sizeof(float)) == 0);
    free(x);
    free(t);
    free(clean);
    image_free(&img);
}

/* Degenerate sizes (1x1, one row, one column) through both paths with a mask: a constant
 * image stays constant (resize weights sum to 1), the mask keeps its one id. */
static void check_tiny_images(void)
{
    static const int sizes[][2] = {{1, 1}, {1, 300}, {300, 1}, {2, 3}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int H = sizes[k][0], W = sizes[k][1];
        image img = {H, W, 3, cnn_xmalloc((size_t)H * W * 3)};
        image mask = {H, W, 1, cnn_xmalloc((size_t)H * W)};
        memset(img.data, 200, (size_t)H * W * 3);
        memset(mask.data, 5, (size_t)H * W);
        for (int train = 0; train < 2; train++) {
            augment_cfg a = train_cfg(24, 20);
            a.train = train;
            float out[3 * 24 * 20];
            int32_t m[24 * 20];
            augment_sample(&a, key_of(k), &img, &mask, out, m, NULL);
            for (int i = 0; i < 3 * 24 * 20; i++)
                CHECK_NEAR(out[i], 200.0f / 255.0f, 1e-6);
            for (int i = 0; i < 24 * 20; i++)
                CHECK_EQ(m[i], 5);
        }
        image_free(&img);
        image_free(&mask);
    }
}

int main(void)
{
    check_crop_stats();
    check_crop_fallback();
    check_determinism();
    check_joint_segmentation(false);
    check_joint_segmentation(true);
    check_scale_stats();
    check_scale_pixels();
    check_describe();
    check_denoise();
    check_tiny_images();
    printf("augment_props: ok\n");
    return 0;
}
