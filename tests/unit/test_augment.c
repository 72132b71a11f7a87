/* image_resize_bilinear / image_resize_nearest / augment_sample against torchvision's
 * functional transforms on uint8 tensors (tests/fixtures/augment/augment.bin, written by
 * tools/fixtures/make_augment.py; the random parameters follow augment.c's index map).
 * Usage: test_augment [FIXTURE]; by default the fixture next to this source file. */
#include "../../src/data/data.h"
#include "../check.h"
#include "../support/fixture.h"

static const fixture_rec *need(const fixture *f, const char *fmt, int k, const char *field)
{
    char name[128];
    snprintf(name, sizeof name, fmt, k, field);
    const fixture_rec *r = fixture_find(f, name);
    if (!r) {
        fprintf(stderr, "fixture record %s missing; regenerate with "
                        "/usr/bin/python3 tools/fixtures/make_augment.py\n", name);
        exit(1);
    }
    return r;
}

/* A borrowed view of fixture record img.<name> (H, W, C). */
static image image_of(const fixture *f, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "img.%s", name);
    const fixture_rec *r = fixture_find(f, key);
    CHECK(r && r->dt == DTYPE_U8 && r->s.nd == 3);
    image im = {(int)r->s.d[0], (int)r->s.d[1], (int)r->s.d[2], r->data};
    return im;
}

/* Bilinear: within 1 level (torch keeps float intermediates and rounds half to even; our
 * weights are computed in double, so a value near .5 may round the other way). Nearest:
 * exact (pure index arithmetic). */
static void check_resize_cases(const fixture *f)
{
    const fixture_rec *nr = fixture_find(f, "rs.n");
    CHECK(nr);
    int n = *(const int32_t *)nr->data;
    long long total = 0, off = 0;
    for (int k = 0; k < n; k++) {
        image src = image_of(f, need(f, "rs.%d.%s", k, "img")->data);
        const char *mode = need(f, "rs.%d.%s", k, "mode")->data;
        const int32_t *size = need(f, "rs.%d.%s", k, "size")->data;
        const fixture_rec *want = need(f, "rs.%d.%s", k, "out");
        image dst = {0};
        int nearest = strcmp(mode, "nearest") == 0;
        if (nearest)
            image_resize_nearest(&src, size[0], size[1], &dst);
        else
            image_resize_bilinear(&src, size[0], size[1], &dst);
        CHECK_EQ(dst.h, size[0]);
        CHECK_EQ(dst.w, size[1]);
        CHECK_EQ(dst.c, src.c);
        long long m = (long long)dst.h * dst.w * dst.c, bad = 0;
        CHECK_EQ(m, shape_numel(&want->s));
        const uint8_t *ref = want->data;
        for (long long i = 0; i < m; i++) {
            int d = abs((int)dst.data[i] - (int)ref[i]);
            if (d > (nearest ? 0 : 1)) {
                fprintf(stderr, "rs.%d (%s %dx%d -> %dx%d) [%lld]: got %d want %d\n", k, mode,
                        src.h, src.w, size[0], size[1], i, dst.data[i], ref[i]);
                bad++;
            }
            off += d != 0;
        }
        total += m;
        CHECK_EQ(bad, 0);
        image_free(&dst);
    }
    printf("  resize: %d cases, %lld values, %lld off by one level\n", n, total, off);
    /* Ties are rare: a systematic rounding error (e.g. floor) shows as thousands. */
    CHECK(off <= total / 1000);
}

static void check_crop(void)
{
    uint8_t px[4 * 5 * 3];
    for (int i = 0; i < 60; i++)
        px[i] = (uint8_t)i;
    image src = {4, 5, 3, px}, dst = {0};
    image_crop(&src, 1, 2, 2, 3, &dst);
    CHECK_EQ(dst.h, 2);
    CHECK_EQ(dst.w, 3);
    /* (y, x, c) of the crop = element ((1 + y) * 5 + 2 + x) * 3 + c of the source. */
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 3; x++)
            for (int c = 0; c < 3; c++)
                CHECK_EQ(dst.data[(y * 3 + x) * 3 + c], ((1 + y) * 5 + 2 + x) * 3 + c);
    image_free(&dst);
    CHECK(dst.data == NULL);
}

static augment_cfg cfg_of(const float *p, rng_key *key)
{
    augment_cfg a = {0};
    a.out_h = (int)p[0];
    a.out_w = (int)p[1];
    a.train = p[2] != 0;
    a.scale[0] = p[3];
    a.scale[1] = p[4];
    a.ratio[0] = p[5];
    a.ratio[1] = p[6];
    a.hflip = p[7] != 0;
    a.brightness = p[8];
    a.contrast = p[9];
    a.saturation = p[10];
    a.resize = (int)p[11];
    for (int c = 0; c < 3; c++) {
        a.mean[c] = p[12 + c];
        a.std[c] = p[15 + c];
    }
    a.channels = (int)p[18];
    *key = rng_fold(rng_fold(rng_key_from_seed((uint64_t)p[19]), (uint64_t)p[20]),
                    (uint64_t)p[21]);
    return a;
}

/* Tolerance per case, in levels of the uint8 image before normalisation: colour-only cases
 * (no resize) are exact; after a resize one level of rounding difference can pass through
 * the jitter (factors up to 1.4 each, three of them, plus a truncation): 4 levels, and at
 * most 3% of the values may differ at all. */
static void check_augment_cases(const fixture *f)
{
    const fixture_rec *nr = fixture_find(f, "aug.n");
    CHECK(nr);
    int n = *(const int32_t *)nr->data;
    for (int k = 0; k < n; k++) {
        const fixture_rec *pr = need(f, "aug.%d.%s", k, "p");
        CHECK_EQ(shape_numel(&pr->s), 22);
        rng_key key;
        augment_cfg a = cfg_of(pr->data, &key);
        image img = image_of(f, need(f, "aug.%d.%s", k, "img")->data);
        const fixture_rec *want = need(f, "aug.%d.%s", k, "out");
        int C = (int)want->s.d[0];
        CHECK_EQ(want->s.d[1], a.out_h);
        CHECK_EQ(want->s.d[2], a.out_w);
        char mkey[64];
        snprintf(mkey, sizeof mkey, "aug.%d.mask", k);
        const fixture_rec *mrec = fixture_find(f, mkey);
        image mask = mrec ? image_of(f, mrec->data) : (image){0};
        size_t npix = (size_t)a.out_h * a.out_w;
        float *out = cnn_xmalloc(sizeof(float) * npix * C);
        int32_t *mout = mrec ? cnn_xmalloc(sizeof(int32_t) * npix) : NULL;
        augment_sample(&a, key, &img, mrec ? &mask : NULL, out, mout, NULL);
        bool exact = a.out_h == img.h && a.out_w == img.w && a.train;
        float smin = a.std[0];
        for (int c = 1; c < C; c++)
            smin = a.std[c] < smin ? a.std[c] : smin;
        double tol = exact ? 1e-6 : 4.0 / 255.0 / smin + 1e-6;
        const float *ref = want->data;
        long long m = (long long)npix * C, diff = 0;
        for (long long i = 0; i < m; i++)
            diff += fabsf(out[i] - ref[i]) > 1e-5f;
        char what[64];
        snprintf(what, sizeof what, "aug.%d (%s, C=%d)", k, a.train ? "train" : "eval", C);
        CHECK(check_close(what, out, ref, m, 0, tol));
        CHECK(diff <= (exact ? 0 : m * 3 / 100));
        if (mrec) {
            const int32_t *mref = need(f, "aug.%d.%s", k, "mask_out")->data;
            for (size_t i = 0; i < npix; i++)
                CHECK_EQ(mout[i], mref[i]);
        }
        free(out);
        free(mout);
    }
    printf("  augment: %d cases\n", n);
}

int main(int argc, char **argv)
{
    char path[4096];
    if (argc > 1) {
        snprintf(path, sizeof path, "%s", argv[1]);
    } else {
        /* CMake compiles with the absolute source path: find the fixture beside it. */
        snprintf(path, sizeof path, "%s", __FILE__);
        char *s = strstr(path, "tests/unit/");
        CHECK(s != NULL);
        snprintf(s, sizeof path - (size_t)(s - path), "tests/fixtures/augment/augment.bin");
    }
    fixture f;
    cnn_err e = {0};
    if (fixture_load(path, &f, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    check_crop();
    check_resize_cases(&f);
    check_augment_cases(&f);
    fixture_free(&f);
    printf("augment: ok\n");
    return 0;
}
