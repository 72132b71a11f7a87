/* image_decode against Pillow: every case of tests/fixtures/images/manifest.txt (written by
 * tools/fixtures/make_images.py with PIL's decoded pixels) is decoded and compared: PNG
 * exactly, JPEG within the case's tolerance (libjpeg builds may differ by 1-2 levels in
 * IDCT/upsampling; with Debian's PIL on the same libjpeg62-turbo they agree exactly, the
 * max difference is printed). Error cases must fail with CNN_EINVAL and a reason. Plus
 * EXIF parsing on hand-made, hostile TIFF blocks, and every truncation of two files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "data/data.h"
#include "data/decode_impl.h"

static char dir[1024];

static uint8_t *slurp(const char *name, size_t *len)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s: run /usr/bin/python3 tools/fixtures/make_images.py\n",
                path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    CHECK(b && fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int max_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        m = d > m ? d : m;
    }
    return m;
}

static void case_ok(const char *file, int want_c, int min_side, int tol, int h, int w, int c,
                    const char *ref_name, int *worst_jpeg)
{
    size_t len, rlen;
    uint8_t *bytes = slurp(file, &len), *ref = slurp(ref_name, &rlen);
    image im;
    cnn_err e = {0};
    int rc = image_decode(bytes, len, want_c, min_side, &im, &e);
    if (rc != CNN_OK)
        fprintf(stderr, "%s: %s\n", file, e.msg);
    CHECK_EQ(rc, CNN_OK);
    CHECK_EQ(im.h, h);
    CHECK_EQ(im.w, w);
    CHECK_EQ(im.c, c);
    CHECK_EQ(rlen, (size_t)h * w * c);
    int d = max_diff(im.data, ref, rlen);
    printf("  %-18s want_c=%d min_side=%-3d %4dx%-4d c=%d max|diff|=%d (tol %d)\n", file,
           want_c, min_side, w, h, c, d, tol);
    CHECK(d <= tol);
    if (strstr(file, ".jpg") && d > *worst_jpeg)
        *worst_jpeg = d;
    image_free(&im);
    free(bytes);
    free(ref);
}

static void case_err(const char *file, const char *substring)
{
    size_t len;
    uint8_t *bytes = slurp(file, &len);
    image im;
    cnn_err e = {0};
    CHECK_EQ(image_decode(bytes, len, 3, 0, &im, &e), CNN_EINVAL);
    CHECK(im.data == NULL);
    printf("  %-18s -> %s\n", file, e.msg);
    CHECK_STR_CONTAINS(e.msg, substring);
    free(bytes);
}

/* Every prefix of a valid file fails cleanly; never a crash (ASan watches). Only prefixes
 * missing at most `tail` bytes may decode: a PNG is whole once its last IDAT is (the 12-byte
 * IEND is not read, as Pillow does not need it); a JPEG needs its EOI marker. */
static void all_truncations(const char *file, int tail)
{
    size_t len;
    uint8_t *bytes = slurp(file, &len);
    int failed = 0;
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = malloc(n ? n : 1); /* exact size, so ASan sees overreads */
        memcpy(cut, bytes, n);
        image im;
        cnn_err e = {0};
        int rc = image_decode(cut, n, 3, 0, &im, &e);
        CHECK(rc == CNN_OK || rc == CNN_EINVAL);
        failed += rc != CNN_OK;
        image_free(&im);
        free(cut);
    }
    printf("  %s: %zu prefixes, %d rejected\n", file, len, failed);
    CHECK_EQ(failed, (int)len - tail);
    free(bytes);
}

/* Random byte changes (fixed LCG seed): decode or fail cleanly, never crash (ASan). */
static void corruptions(const char *file, int rounds)
{
    size_t len;
    uint8_t *bytes = slurp(file, &len), *buf = malloc(len);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int ok = 0;
    for (int r = 0; r < rounds; r++) {
        memcpy(buf, bytes, len);
        for (int k = 0; k < 1 + r % 4; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            buf[(x >> 33) % len] = (uint8_t)(x >> 17);
        }
        image im;
        cnn_err e = {0};
        int rc = image_decode(buf, len, r % 2 ? 3 : 0, r % 3 ? 0 : 4, &im, &e);
        CHECK(rc == CNN_OK || rc == CNN_EINVAL);
        CHECK(rc != CNN_OK || (im.h > 0 && im.w > 0 && im.data));
        ok += rc == CNN_OK;
        image_free(&im);
    }
    printf("  %s: %d corrupted copies, %d still decode\n", file, rounds, ok);
    free(buf);
    free(bytes);
}

static void exif_blocks(void)
{
    /* "II": count 2, tag 0x0100 then 0x0112 = 6 (SHORT). */
    static const uint8_t ii[] = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0, 2, 0,
                                 0x00, 0x01, 3, 0, 1, 0, 0, 0, 9, 0, 0, 0,
                                 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t mm[] = {'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1,
                                 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0};
    CHECK_EQ(exif_orientation(ii, sizeof ii), 6);
    CHECK_EQ(exif_orientation(mm, sizeof mm), 8);
    uint8_t bad[sizeof ii];
    memcpy(bad, ii, sizeof ii);
    bad[36] = 9; /* orientation out of 1..8 */
    CHECK_EQ(exif_orientation(bad, sizeof bad), 1);
    memcpy(bad, ii, sizeof ii);
    bad[10] = 0xF0; /* IFD offset beyond the block */
    CHECK_EQ(exif_orientation(bad, sizeof bad), 1);
    memcpy(bad, ii, sizeof ii);
    bad[14] = 0xFF, bad[15] = 0xFF; /* 65535 entries claimed */
    CHECK_EQ(exif_orientation(bad, sizeof bad), 6);
    for (size_t n = 0; n < sizeof ii; n++) { /* every cut: 1 unless the tag is whole */
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, ii, n);
        CHECK_EQ(exif_orientation(cut, n), n >= 38 ? 6 : 1);
        free(cut);
    }
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s", __FILE__);
    char *slash = strrchr(dir, '/');
    CHECK(slash);
    snprintf(slash, sizeof dir - (size_t)(slash - dir), "/../fixtures/images");
    size_t mlen;
    uint8_t *manifest = slurp("manifest.txt", &mlen);
    manifest = realloc(manifest, mlen + 1);
    manifest[mlen] = 0;
    int n_ok = 0, n_err = 0, worst = 0;
    for (char *save, *line = strtok_r((char *)manifest, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char kind[8], file[128], ref[128];
        int want_c, min_side, tol, h, w, c;
        if (sscanf(line, "ok %127s %d %d %d %d %d %d %127s", file, &want_c, &min_side, &tol, &h,
                   &w, &c, ref) == 8) {
            case_ok(file, want_c, min_side, tol, h, w, c, ref, &worst);
            n_ok++;
        } else {
            CHECK_EQ(sscanf(line, "%7s %127s %127s", kind, file, ref), 3);
            CHECK(strcmp(kind, "err") == 0);
            case_err(file, ref);
            n_err++;
        }
    }
    free(manifest);
    CHECK(n_ok >= 30 && n_err >= 5);
    printf("%d decodes match Pillow (JPEG max |diff| %d levels), %d bad files rejected\n",
           n_ok, worst, n_err);
    exif_blocks();
    all_truncations("exif6.jpg", 0);
    all_truncations("palette_trns.png", 12);
    corruptions("exif6.jpg", 1500);
    corruptions("rgb_prog.jpg", 1500);
    corruptions("cmyk.jpg", 500);
    corruptions("palette_trns.png", 1500);
    corruptions("gray16.png", 500);
    printf("OK\n");
    return 0;
}
