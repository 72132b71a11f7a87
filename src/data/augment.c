/* Per-sample augmentation as torchvision's transforms on uint8 tensors: train =
 * RandomResizedCrop (get_params' algorithm) + antialiased bilinear resize, horizontal flip,
 * ColorJitter (brightness, contrast, saturation in a random order, each blended in float32,
 * clamped and truncated to uint8 as F.adjust_* do); eval = Resize(int) + CenterCrop; then
 * ToTensor + Normalize into (C, H, W) floats. Every random draw is a pure function of the
 * sample's key (rng_uniform / rng_normal at fixed indices, map below), so a sample's result
 * does not depend on the thread, rank or world size that produces it. Masks follow the same
 * geometry with nearest resize; denoising adds Gaussian noise to the normalised input.
 * Dense tasks train with scale jitter instead of RandomResizedCrop, as torchvision's
 * segmentation reference: RandomResize (shorter side to a random size) + RandomCrop with
 * pad_if_smaller (image 0, mask 255 = ignore); a crop of 8% of the area would blow a
 * pixel's context up 3.5x and teach the wrong object sizes. */
#include "augment_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* rng_uniform(key, i) index map (4 values per Philox block, so each group is one block):
 *   4t .. 4t+3  crop attempt t (t < 10): area fraction, log aspect ratio, top, left
 *   40          flip (flip when u < 0.5)
 *   41, 42      order of the jitter ops (Fisher-Yates over brightness, contrast, saturation)
 *   44, 45, 46  brightness, contrast, saturation factors
 *   48, 49, 50  scale jitter: shorter side, crop top, crop left
 * rng_normal(key, j): denoising noise of output element j = (c * out_h + y) * out_w + x
 * (the normal stream uses other Philox counters than the uniform one: no overlap). */
#define CROP_ATTEMPTS 10
#define RU_FLIP 40
#define RU_ORDER 41
#define RU_FACTOR 44
#define RU_SCALE 48
#define RU_TOP 49
#define RU_LEFT 50
#define MASK_PAD 255 /* padding of masks: ignored by the loss and the metrics, not a class */

typedef struct box {
    int top, left, h, w;
} box;

/* Uniform integer in [0, n), as torch.randint(0, n). */
static int rand_below(rng_key key, uint64_t i, int n)
{
    int v = (int)((double)rng_uniform(key, i) * n);
    return v < n ? v : n - 1;
}

/* torchvision RandomResizedCrop.get_params; Python's round() is half to even = rint. */
static box crop_params(const augment_cfg *a, rng_key key, int H, int W)
{
    double area = (double)H * W, lr0 = log(a->ratio[0]), lr1 = log(a->ratio[1]);
    for (int t = 0; t < CROP_ATTEMPTS; t++) {
        uint64_t i = 4 * (uint64_t)t;
        double target = area * (a->scale[0] + (a->scale[1] - a->scale[0]) * rng_uniform(key, i));
        double ar = exp(lr0 + (lr1 - lr0) * rng_uniform(key, i + 1));
        int w = (int)rint(sqrt(target * ar)), h = (int)rint(sqrt(target / ar));
        if (w > 0 && w <= W && h > 0 && h <= H) {
            box b = {rand_below(key, i + 2, H - h + 1), rand_below(key, i + 3, W - w + 1), h, w};
            return b;
        }
    }
    /* Fallback: the whole image, cut to the nearest allowed aspect ratio, centred. */
    double in_ratio = (double)W / H;
    double rmin = fmin(a->ratio[0], a->ratio[1]), rmax = fmax(a->ratio[0], a->ratio[1]);
    int w = W, h = H;
    if (in_ratio < rmin)
        h = (int)rint(W / rmin);
    else if (in_ratio > rmax)
        w = (int)rint(H * rmax);
    h = h < 1 ? 1 : h > H ? H : h;
    w = w < 1 ? 1 : w > W ? W : w;
    box b = {(H - h) / 2, (W - w) / 2, h, w};
    return b;
}

void augment_crop_box(const augment_cfg *a, rng_key key, int H, int W, int out[4])
{
    box b = crop_params(a, key, H, W);
    out[0] = b.top;
    out[1] = b.left;
    out[2] = b.h;
    out[3] = b.w;
}

/* From here on pixels are planar (C, H, W) uint8, so that the colour loops run over
 * contiguous planes and vectorise. */

/* rgb_to_grayscale on uint8: float32 weighted sum in torch's order, truncated. */
static void gray_plane(const uint8_t *px, size_t n, uint8_t *gray)
{
    const uint8_t *r = px, *g = px + n, *b = px + 2 * n;
    for (size_t i = 0; i < n; i++)
        gray[i] = (uint8_t)(0.2989f * (float)r[i] + 0.587f * (float)g[i] + 0.114f * (float)b[i]);
}

/* (H, W, c) interleaved -> (C, H, W) planar: gray replicated into RGB, RGB reduced to gray. */
static void to_planar(const uint8_t *src, int c, size_t n, int C, uint8_t *dst)
{
    if (c == 1) {
        for (int k = 0; k < C; k++)
            memcpy(dst + (size_t)k * n, src, n);
        return;
    }
    if (C == 1) {
        for (size_t i = 0; i < n; i++) {
            const uint8_t *p = src + 3 * i;
            dst[i] = (uint8_t)(0.2989f * (float)p[0] + 0.587f * (float)p[1] + 0.114f * (float)p[2]);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        dst[i] = src[3 * i];
        dst[n + i] = src[3 * i + 1];
        dst[2 * n + i] = src[3 * i + 2];
    }
}

/* _blend(img1, img2, f) = clamp(f * img1 + (1 - f) * img2, 0, 255) truncated to uint8;
 * a * v and b * g are float32 products, as torch computes them (no FMA: plain -O3). */
static inline uint8_t blend(float a, float v, float bg)
{
    float s = a * v + bg;
    s = s < 0.0f ? 0.0f : s;
    s = s > 255.0f ? 255.0f : s;
    return (uint8_t)(int)s;
}

/* Image-wide blend with a constant (brightness: 0, contrast: the mean) as a 256-entry table
 * (measured faster than the vectorised arithmetic with SSE2). */
static void blend_const(uint8_t *px, size_t n, float f, float other)
{
    float bo = (float)(1.0 - (double)f) * other;
    uint8_t lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = blend(f, (float)v, bo);
    for (size_t i = 0; i < n; i++)
        px[i] = lut[px[i]];
}

/* Blend with the float32 mean of the (truncated) grayscale image. */
static void adjust_contrast(uint8_t *px, size_t n, int C, float f, uint8_t *scratch)
{
    const uint8_t *gray = px;
    if (C == 3) {
        gray_plane(px, n, scratch);
        gray = scratch;
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += gray[i];
    blend_const(px, n * (size_t)C, f, (float)((double)sum / (double)n));
}

/* Blend each pixel with its own gray value; a no-op on gray images (as torchvision). */
static void adjust_saturation(uint8_t *px, size_t n, int C, float f, uint8_t *gray)
{
    if (C != 3)
        return;
    gray_plane(px, n, gray);
    float b = (float)(1.0 - (double)f);
    for (int c = 0; c < 3; c++) {
        uint8_t *p = px + (size_t)c * n;
        for (size_t i = 0; i < n; i++)
            p[i] = blend(f, (float)p[i], b * (float)gray[i]);
    }
}

/* ColorJitter: factors uniform in [max(0, 1 - x), 1 + x] (x = 0 leaves the op out), ops
 * in a random order. */
static void color_jitter(const augment_cfg *a, rng_key key, uint8_t *px, size_t n, int C)
{
    const float amount[3] = {a->brightness, a->contrast, a->saturation};
    int order[3] = {0, 1, 2};
    for (int k = 0; k < 2; k++) {
        int j = k + rand_below(key, RU_ORDER + (uint64_t)k, 3 - k), t = order[k];
        order[k] = order[j];
        order[j] = t;
    }
    uint8_t *scratch = NULL;
    for (int k = 0; k < 3; k++) {
        int op = order[k];
        float x = amount[op];
        if (!(x > 0.0f))
            continue;
        float lo = x < 1.0f ? 1.0f - x : 0.0f, hi = 1.0f + x;
        float f = lo + (hi - lo) * rng_uniform(key, RU_FACTOR + (uint64_t)op);
        if (op > 0 && !scratch)
            scratch = cnn_xmalloc(n);
        if (op == 0)
            blend_const(px, n * (size_t)C, f, 0.0f);
        else if (op == 1)
            adjust_contrast(px, n, C, f, scratch);
        else
            adjust_saturation(px, n, C, f, scratch);
    }
    free(scratch);
}

/* ToTensor + Normalize ((v / 255 - mean) / std in float32) with the flip folded in, then
 * the clean copy and the noise for denoising. px: (C, H, W) uint8; out, target: floats. */
static void write_image(const augment_cfg *a, rng_key key, const uint8_t *px, int H, int W,
                        int C, bool flip, float *out, float *target)
{
    size_t plane = (size_t)H * (size_t)W;
    for (int c = 0; c < C; c++) {
        float lut[256];
        for (int v = 0; v < 256; v++)
            lut[v] = ((float)v / 255.0f - a->mean[c]) / a->std[c];
        for (int y = 0; y < H; y++) {
            const uint8_t *row = px + (size_t)c * plane + (size_t)y * (size_t)W;
            float *orow = out + (size_t)c * plane + (size_t)y * (size_t)W;
            if (flip)
                for (int x = 0; x < W; x++)
                    orow[x] = lut[row[W - 1 - x]];
            else
                for (int x = 0; x < W; x++)
                    orow[x] = lut[row[x]];
        }
    }
    size_t n = plane * (size_t)C;
    if (target)
        memcpy(target, out, n * sizeof(float));
    if (a->noise_std > 0.0f)
        for (size_t j = 0; j < n; j++)
            out[j] += a->noise_std * rng_normal(key, j);
}

static void write_mask(const image *m, bool flip, int32_t *out)
{
    for (int y = 0; y < m->h; y++)
        for (int x = 0; x < m->w; x++)
            out[(size_t)y * (size_t)m->w + (size_t)x] =
                m->data[(size_t)y * (size_t)m->w + (size_t)(flip ? m->w - 1 - x : x)];
}

/* Crop box b of src, resized to (h, w): bilinear (images) or nearest (masks). */
static void crop_resize(const image *src, box b, int h, int w, bool nearest, image *dst)
{
    image crop = {0};
    image_crop(src, b.top, b.left, b.h, b.w, &crop);
    if (nearest)
        image_resize_nearest(&crop, h, w, dst);
    else
        image_resize_bilinear(&crop, h, w, dst);
    image_free(&crop);
}

/* Window (out_h, out_w) of src at (top, left), which may hang over the edges (CenterCrop's
 * zero padding when the crop is larger than the image); outside pixels are `fill`. */
static void window(const image *src, int top, int left, int h, int w, uint8_t fill,
                   image *dst)
{
    int c = src->c;
    dst->h = h;
    dst->w = w;
    dst->c = c;
    dst->data = cnn_xmalloc((size_t)h * (size_t)w * (size_t)c);
    memset(dst->data, fill, (size_t)h * (size_t)w * (size_t)c);
    int x0 = left < 0 ? -left : 0, x1 = src->w - left < w ? src->w - left : w;
    for (int y = 0; y < h; y++) {
        int sy = top + y;
        if (sy < 0 || sy >= src->h || x1 <= x0)
            continue;
        memcpy(dst->data + ((size_t)y * (size_t)w + (size_t)x0) * (size_t)c,
               src->data + ((size_t)sy * (size_t)src->w + (size_t)(left + x0)) * (size_t)c,
               (size_t)(x1 - x0) * (size_t)c);
    }
}

/* Resize(int): shorter side to `size`, the other int(size * long / short), computed as torch
 * in double; long sides reach size * 2^28, hence int64. */
static void shorter_side_to(int h, int w, int size, int64_t *rh, int64_t *rw)
{
    if (w <= h) {
        *rw = size;
        *rh = (int64_t)((double)size * h / w);
    } else {
        *rh = size;
        *rw = (int64_t)((double)size * w / h);
    }
}

/* F.center_crop's offset: int(round((len - crop) / 2)), or -(crop - len) // 2 when padded. */
static int64_t center_offset(int64_t len, int crop)
{
    return crop > len ? -((crop - len) / 2) : (int64_t)rint((double)(len - crop) / 2.0);
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Window (out_h, out_w) at (top, left) of src resized to (rh, rw); outside it is `fill`.
 * The resized image is never made: only its part inside the window is resized
 * (image_resize_*_window), then placed with `window`'s padding. An image of extreme aspect
 * ratio would otherwise resize to gigabytes (found by fuzz-image). */
static void resized_window(const augment_cfg *a, const image *src, int64_t rh, int64_t rw,
                           int64_t top, int64_t left, bool nearest, uint8_t fill, image *dst)
{
    if (rh == src->h && rw == src->w) { /* already at size (e.g. raw mode): no resize */
        window(src, (int)top, (int)left, a->out_h, a->out_w, fill, dst);
        return;
    }
    int64_t y0 = clamp64(top, 0, rh), y1 = clamp64(top + a->out_h, 0, rh);
    int64_t x0 = clamp64(left, 0, rw), x1 = clamp64(left + a->out_w, 0, rw);
    image r = {0};
    (nearest ? image_resize_nearest_window : image_resize_bilinear_window)(
        src, rh, rw, y0, x0, (int)(y1 - y0), (int)(x1 - x0), &r);
    window(&r, (int)(top - y0), (int)(left - x0), a->out_h, a->out_w, fill, dst);
    image_free(&r);
}

/* Eval: Resize(int) + CenterCrop. */
static void eval_geometry(const augment_cfg *a, const image *src, bool nearest, uint8_t fill,
                          image *dst)
{
    int size = a->resize > 0 ? a->resize : (a->out_h > a->out_w ? a->out_h : a->out_w);
    int64_t rh, rw;
    shorter_side_to(src->h, src->w, size, &rh, &rw);
    resized_window(a, src, rh, rw, center_offset(rh, a->out_h), center_offset(rw, a->out_w),
                   nearest, fill, dst);
}

/* Scale jitter: RandomResize(scale_min, scale_max) draws the shorter side with
 * random.randint (both ends included); RandomCrop(padding=pad) pads every side, and
 * pad_if_smaller then right and bottom; RandomCrop.get_params draws top and left with
 * torch.randint. The image and its mask (same size) get the same draws. */
typedef struct scale_box {
    int64_t rh, rw, top, left;
} scale_box;

static scale_box scale_params(const augment_cfg *a, rng_key key, int H, int W)
{
    scale_box b;
    int size = a->scale_min + rand_below(key, RU_SCALE, a->scale_max - a->scale_min + 1);
    shorter_side_to(H, W, size, &b.rh, &b.rw);
    int64_t ph = b.rh + 2 * a->pad, pw = b.rw + 2 * a->pad;
    ph = ph > a->out_h ? ph : a->out_h;
    pw = pw > a->out_w ? pw : a->out_w;
    /* rand_below's int range: a crop never starts past 2^31 (its window is all that is
     * resized, so the long side's length costs nothing). */
    int64_t sh = ph - a->out_h + 1 < INT32_MAX ? ph - a->out_h + 1 : INT32_MAX;
    int64_t sw = pw - a->out_w + 1 < INT32_MAX ? pw - a->out_w + 1 : INT32_MAX;
    b.top = rand_below(key, RU_TOP, (int)sh) - a->pad;
    b.left = rand_below(key, RU_LEFT, (int)sw) - a->pad;
    return b;
}

void augment_scale_box(const augment_cfg *a, rng_key key, int H, int W, int64_t out[4])
{
    scale_box b = scale_params(a, key, H, W);
    out[0] = b.rh;
    out[1] = b.rw;
    out[2] = b.top;
    out[3] = b.left;
}

void augment_describe(const augment_cfg *a, char *buf, size_t n)
{
    char geo[128], pad[32] = "", jitter[64] = "", noise[48] = "";
    if (a->pad > 0)
        snprintf(pad, sizeof pad, ", padding %d", a->pad);
    if (a->scale_max > 0 && a->scale_min == a->scale_max)
        snprintf(geo, sizeof geo, "shorter side to %d px%s, random crop %dx%d", a->scale_min,
                 pad, a->out_h, a->out_w);
    else if (a->scale_max > 0)
        snprintf(geo, sizeof geo, "scale jitter (shorter side %d-%d px%s), random crop %dx%d",
                 a->scale_min, a->scale_max, pad, a->out_h, a->out_w);
    else if (a->scale[0] == 1 && a->scale[1] == 1 && a->ratio[0] == 1 && a->ratio[1] == 1)
        snprintf(geo, sizeof geo, "the whole image resized to %dx%d", a->out_h, a->out_w);
    else
        snprintf(geo, sizeof geo, "random resized crop (area %g-%g, ratio %.3g-%.3g) to %dx%d",
                 a->scale[0], a->scale[1], a->ratio[0], a->ratio[1], a->out_h, a->out_w);
    if (a->brightness > 0 || a->contrast > 0 || a->saturation > 0)
        snprintf(jitter, sizeof jitter, ", colour jitter %g/%g/%g", a->brightness,
                 a->contrast, a->saturation);
    if (a->noise_std > 0)
        snprintf(noise, sizeof noise, ", noise std %g (normalized)", a->noise_std);
    snprintf(buf, n, "%s%s%s%s", geo, a->hflip ? ", horizontal flip" : "", jitter, noise);
}

void augment_sample(const augment_cfg *a, rng_key key, const image *img, const image *mask,
                    float *out, int32_t *mask_out, float *target)
{
    CNN_ASSERT(a->out_h > 0 && a->out_w > 0 && img->h > 0 && img->w > 0);
    int C = a->channels > 0 ? a->channels : img->c;
    CNN_ASSERT(C == 1 || C == 3);
    if (mask)
        CNN_ASSERT(mask->c == 1 && mask->h == img->h && mask->w == img->w && mask_out);
    image geo = {0}, mgeo = {0};
    bool flip = false;
    if (a->train) {
        CNN_ASSERT(a->scale_max > 0 ? a->scale_min >= 1 && a->scale_min <= a->scale_max
                                    : a->scale[0] > 0 && a->scale[0] <= a->scale[1] &&
                                          a->ratio[0] > 0 && a->ratio[1] > 0);
        if (a->scale_max > 0) {
            scale_box b = scale_params(a, key, img->h, img->w);
            resized_window(a, img, b.rh, b.rw, b.top, b.left, false, 0, &geo);
            if (mask)
                resized_window(a, mask, b.rh, b.rw, b.top, b.left, true, MASK_PAD, &mgeo);
        } else {
            box b = crop_params(a, key, img->h, img->w);
            crop_resize(img, b, a->out_h, a->out_w, false, &geo);
            if (mask)
                crop_resize(mask, b, a->out_h, a->out_w, true, &mgeo);
        }
        flip = a->hflip && rng_uniform(key, RU_FLIP) < 0.5f;
    } else {
        eval_geometry(a, img, false, 0, &geo);
        if (mask)
            eval_geometry(a, mask, true, MASK_PAD, &mgeo);
    }
    size_t npix = (size_t)a->out_h * (size_t)a->out_w;
    uint8_t *px = cnn_xmalloc(npix * (size_t)C);
    to_planar(geo.data, geo.c, npix, C, px);
    image_free(&geo);
    if (a->train) /* photometric only: masks are never jittered */
        color_jitter(a, key, px, npix, C);
    write_image(a, key, px, a->out_h, a->out_w, C, flip, out, target);
    free(px);
    if (mask) {
        write_mask(&mgeo, flip, mask_out);
        image_free(&mgeo);
    }
}
