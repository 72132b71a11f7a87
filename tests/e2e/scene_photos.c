/* Writes an ImageFolder of photo-like JPEG scenes for tests/e2e/scenes.sh: OUT/<class>/
 * <index, 5 digits>.jpg for 4 classes (beach, forest, night_city, snow_field), PER_CLASS
 * each, numbered across classes in ImageFolder's order (class k holds k*PER_CLASS ...), so
 * the packed sample index is the file's number. Each scene is drawn from its class's palette
 * and layout (sky, horizon, trunks, lit windows, rocks) with a random horizon, colours,
 * object count and sensor noise; the shorter side is drawn from [SHORT_MIN, SHORT_MAX] and
 * the longer one is 1 to 1.4 times it, landscape or portrait. The same seed gives the same
 * files. Encoded by libjpeg (quality 90), not by cnn-dist's own encoder.
 * usage: scene_photos OUT PER_CLASS SHORT_MIN SHORT_MAX SEED */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>

static const char *const classes[] = {"beach", "forest", "night_city", "snow_field"};
#define N_CLASSES 4

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next(rng *r) /* splitmix64 */
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uni(rng *r) { return (double)(next(r) >> 11) / 9007199254740992.0; }
static int pick(rng *r, int lo, int hi) { return lo + (int)(uni(r) * (hi - lo + 1)); }

typedef struct canvas {
    int h, w;
    uint8_t *px; /* (H, W, 3) */
} canvas;

static void put(canvas *c, int y, int x, const double rgb[3])
{
    if (y < 0 || x < 0 || y >= c->h || x >= c->w)
        return;
    for (int k = 0; k < 3; k++) {
        double v = rgb[k] < 0 ? 0 : rgb[k] > 255 ? 255 : rgb[k];
        c->px[((size_t)y * c->w + x) * 3 + k] = (uint8_t)(v + 0.5);
    }
}

static void rect(canvas *c, int y0, int x0, int y1, int x1, const double rgb[3])
{
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            put(c, y, x, rgb);
}

/* Vertical gradient from a (row y0) to b (row y1). */
static void band(canvas *c, int y0, int y1, const double a[3], const double b[3])
{
    for (int y = y0; y < y1; y++) {
        double t = y1 > y0 + 1 ? (double)(y - y0) / (y1 - y0 - 1) : 0, v[3];
        for (int k = 0; k < 3; k++)
            v[k] = a[k] + (b[k] - a[k]) * t;
        rect(c, y, 0, y + 1, c->w, v);
    }
}

static void ellipse(canvas *c, int cy, int cx, int ry, int rx, const double rgb[3])
{
    for (int y = cy - ry; y <= cy + ry; y++)
        for (int x = cx - rx; x <= cx + rx; x++) {
            double dy = (double)(y - cy) / ry, dx = (double)(x - cx) / rx;
            if (dx * dx + dy * dy <= 1)
                put(c, y, x, rgb);
        }
}

/* Each colour of a class's palette moved by up to +-j per channel. */
static void jitter(rng *r, const double in[3], double j, double out[3])
{
    for (int k = 0; k < 3; k++)
        out[k] = in[k] + (uni(r) * 2 - 1) * j;
}

static void draw(canvas *c, int cls, rng *r)
{
    int h = c->h, w = c->w, hor = (int)(h * (0.3 + 0.3 * uni(r)));
    double a[3], b[3], d[3];
    if (cls == 0) { /* beach: blue sky, sea band, sand */
        jitter(r, (double[]){90, 150, 225}, 20, a), jitter(r, (double[]){200, 225, 245}, 15, b);
        band(c, 0, hor, a, b);
        int sea = hor + (int)(h * (0.1 + 0.1 * uni(r)));
        jitter(r, (double[]){30, 100, 170}, 20, a), jitter(r, (double[]){60, 140, 190}, 20, b);
        band(c, hor, sea, a, b);
        jitter(r, (double[]){225, 205, 160}, 20, a), jitter(r, (double[]){200, 175, 130}, 20, b);
        band(c, sea, h, a, b);
    } else if (cls == 1) { /* forest: green canopy, dark trunks, mossy ground */
        jitter(r, (double[]){40, 110, 45}, 20, a), jitter(r, (double[]){70, 150, 60}, 20, b);
        band(c, 0, h, a, b);
        for (int n = pick(r, 6, 14); n > 0; n--) {
            int x = pick(r, 0, w - 1), tw = pick(r, 4, w / 12 + 5);
            jitter(r, (double[]){70, 50, 35}, 15, d);
            rect(c, pick(r, 0, hor), x, h, x + tw, d);
        }
        for (int n = pick(r, 4, 10); n > 0; n--) {
            jitter(r, (double[]){30, 90 + 60 * uni(r), 30}, 15, d);
            ellipse(c, pick(r, 0, hor), pick(r, 0, w - 1), pick(r, 8, h / 5), pick(r, 10, w / 5),
                    d);
        }
    } else if (cls == 2) { /* night city: dark sky, black towers with lit windows */
        jitter(r, (double[]){10, 15, 45}, 8, a), jitter(r, (double[]){35, 30, 70}, 10, b);
        band(c, 0, h, a, b);
        for (int x = 0; x < w;) {
            int bw = pick(r, w / 10, w / 4), top = pick(r, h / 8, hor + h / 4);
            jitter(r, (double[]){18, 18, 22}, 6, d);
            rect(c, top, x, h, x + bw, d);
            jitter(r, (double[]){240, 210, 110}, 15, d);
            for (int y = top + 4; y + 5 < h; y += 9)
                for (int wx = x + 3; wx + 4 < x + bw; wx += 8)
                    if (uni(r) < 0.45)
                        rect(c, y, wx, y + 5, wx + 4, d);
            x += bw + pick(r, 0, 6);
        }
    } else { /* snow field: pale sky, white ground, blue shadows and dark rocks */
        jitter(r, (double[]){185, 195, 210}, 15, a), jitter(r, (double[]){225, 230, 235}, 10, b);
        band(c, 0, hor, a, b);
        jitter(r, (double[]){245, 248, 252}, 6, a), jitter(r, (double[]){215, 225, 240}, 10, b);
        band(c, hor, h, a, b);
        for (int n = pick(r, 2, 6); n > 0; n--) {
            jitter(r, (double[]){60, 60, 65}, 15, d);
            ellipse(c, pick(r, hor, h - 1), pick(r, 0, w - 1), pick(r, 3, h / 12 + 3),
                    pick(r, 5, w / 10 + 5), d);
        }
    }
    for (size_t i = 0; i < (size_t)h * w * 3; i++) { /* sensor noise, +-10 */
        int v = c->px[i] + pick(r, -10, 10);
        c->px[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

static int write_jpeg(const char *path, const canvas *c)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "scene_photos: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err); /* errors exit: fine for a fixture generator */
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)c->w;
    ci.image_height = (JDIMENSION)c->h;
    ci.input_components = 3;
    ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 90, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = c->px + (size_t)ci.next_scanline * c->w * 3;
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    if (fclose(f) != 0) {
        fprintf(stderr, "scene_photos: writing %s failed: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1;; s++)
        if (*s == '/' || !*s) {
            char end = *s;
            *s = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                fprintf(stderr, "scene_photos: cannot make %s: %s\n", p, strerror(errno));
                return 1;
            }
            if (!end)
                return 0;
            *s = end;
        }
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: scene_photos OUT PER_CLASS SHORT_MIN SHORT_MAX SEED\n");
        return 2;
    }
    const char *out = argv[1];
    int per = atoi(argv[2]), smin = atoi(argv[3]), smax = atoi(argv[4]);
    if (per < 1 || smin < 16 || smax < smin || smax > 4096) {
        fprintf(stderr, "scene_photos: want PER_CLASS >= 1 and 16 <= SHORT_MIN <= SHORT_MAX\n");
        return 2;
    }
    rng r = {strtoull(argv[5], NULL, 10)};
    char path[4096];
    for (int k = 0; k < N_CLASSES; k++) {
        snprintf(path, sizeof path, "%s/%s", out, classes[k]);
        if (make_dirs(path))
            return 1;
        for (int i = 0; i < per; i++) {
            int s = pick(&r, smin, smax), l = (int)(s * (1 + 0.4 * uni(&r)));
            canvas c = {0, 0, NULL};
            if (uni(&r) < 0.75)
                c.h = s, c.w = l;
            else
                c.h = l, c.w = s;
            c.px = calloc((size_t)c.h * c.w * 3, 1);
            if (!c.px)
                return 1;
            draw(&c, k, &r);
            snprintf(path, sizeof path, "%s/%s/%05d.jpg", out, classes[k], k * per + i);
            int rc = write_jpeg(path, &c);
            free(c.px);
            if (rc)
                return rc;
        }
    }
    printf("scene_photos: %d JPEG files in %s (%s, %s, %s, %s)\n", N_CLASSES * per, out,
           classes[0], classes[1], classes[2], classes[3]);
    return 0;
}
