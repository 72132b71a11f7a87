/* idx parsing (mnist.c) on files written here byte by byte after the format's description
 * (big-endian magic 0x803/0x801 and dimensions, then uint8 data): plain and gzip'ed files
 * read the same values; bad magic, truncation, extra bytes, zero dimensions and mismatched
 * counts give errors naming the file. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../../src/data/data.h"
#include "../check.h"

static char dir[] = "/tmp/cnn_test_mnist_XXXXXX";

static void put(const char *name, const uint8_t *b, size_t n, bool gz, char *path)
{
    sprintf(path, "%s/%s", dir, name);
    if (gz) {
        gzFile g = gzopen(path, "wb");
        CHECK(g && gzwrite(g, b, (unsigned)n) == (int)n);
        CHECK_EQ(gzclose(g), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        CHECK(f && fwrite(b, 1, n, f) == n);
        CHECK_EQ(fclose(f), 0);
    }
}

/* 3 images of 2x3: header 16 bytes + 18 pixels; labels: header 8 + 3. */
static size_t images(uint8_t *b, uint32_t magic, uint32_t n, uint32_t h, uint32_t w)
{
    uint32_t v[4] = {magic, n, h, w};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++)
            b[4 * i + k] = (uint8_t)(v[i] >> (24 - 8 * k));
    for (int i = 0; i < 18; i++)
        b[16 + i] = (uint8_t)(10 * i + 1);
    return 16 + 18;
}

static size_t labels(uint8_t *b, uint32_t n)
{
    const uint8_t h[8] = {0, 0, 8, 1, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                          (uint8_t)n};
    memcpy(b, h, 8);
    b[8] = 7;
    b[9] = 0;
    b[10] = 9;
    return 11;
}

static void expect_ok(const char *img, const char *lab)
{
    mnist_set s;
    cnn_err e = {0};
    CHECK_EQ(mnist_read(img, lab, &s, &e), CNN_OK);
    CHECK_EQ(s.n, 3);
    CHECK_EQ(s.h, 2);
    CHECK_EQ(s.w, 3);
    CHECK_EQ(s.images[0], 1);
    CHECK_EQ(s.images[17], 171);
    CHECK_EQ(s.images[2 * 6 + 1], 131);
    CHECK_EQ(s.labels[0], 7);
    CHECK_EQ(s.labels[2], 9);
    mnist_free(&s);
}

static void expect_err(const char *what, const char *img, const char *lab, const char *name,
                       const char *why)
{
    mnist_set s;
    cnn_err e = {0};
    int rc = mnist_read(img, lab, &s, &e);
    printf("  %-16s -> %s\n", what, e.msg);
    CHECK(rc < 0);
    CHECK(s.images == NULL && s.labels == NULL);
    CHECK_STR_CONTAINS(e.msg, name);
    CHECK_STR_CONTAINS(e.msg, why);
}

int main(void)
{
    CHECK(mkdtemp(dir));
    uint8_t b[64], l[16];
    char img[300], lab[300], imgz[300], labz[300], bad[300], badl[300];
    size_t ni = images(b, 0x803, 3, 2, 3), nl = labels(l, 3);
    put("i", b, ni, false, img);
    put("l", l, nl, false, lab);
    put("i.gz", b, ni, true, imgz);
    put("l.gz", l, nl, true, labz);
    expect_ok(img, lab);
    expect_ok(imgz, labz);
    printf("  plain and .gz files read the same 3 images and labels\n");

    images(b, 0x801, 3, 2, 3);
    put("magic", b, ni, true, bad);
    expect_err("bad magic", bad, lab, "magic", "0x00000801, expected 0x00000803");
    expect_err("labels as images", lab, img, "/l", "magic");
    images(b, 0x803, 3, 2, 3);
    put("trunc", b, ni - 1, false, bad);
    expect_err("truncated", bad, lab, "/trunc", "truncated");
    put("short", b, 10, true, bad);
    expect_err("short header", bad, lab, "/short", "too short");
    b[ni] = 5;
    put("extra", b, ni + 1, false, bad);
    expect_err("extra byte", bad, lab, "/extra", "more data");
    images(b, 0x803, 3, 0, 3);
    put("zero", b, ni, false, bad);
    expect_err("zero height", bad, lab, "/zero", "dimension 1 is 0");
    labels(l, 2);
    put("l2", l, 10, false, badl);
    expect_err("2 labels", img, badl, "/l2", "2 labels for the 3 images");
    expect_err("missing", "/nonexistent/x", lab, "/nonexistent/x", "No such file");

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ(system(cmd), 0);
    return 0;
}
