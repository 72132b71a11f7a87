/* Helpers for the cnn-pack image source tests: a temporary folder per test filled from
 * tests/fixtures/images (tools/fixtures/make_images.py), running pack_images_main as the
 * command line would, and reading a packed dataset back through dataset_open/read. */
#ifndef CNN_TEST_PACK_IMAGES_UTIL_H
#define CNN_TEST_PACK_IMAGES_UTIL_H

#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "data/data.h"

static char fx_dir[1024], tmp_root[256];

static inline void fx_init(void)
{
    snprintf(fx_dir, sizeof fx_dir, "%s", __FILE__);
    char *slash = strrchr(fx_dir, '/');
    CHECK(slash);
    snprintf(slash, sizeof fx_dir - (size_t)(slash - fx_dir), "/../fixtures/images");
    snprintf(tmp_root, sizeof tmp_root, "/tmp/cnn_pack_test.XXXXXX");
    CHECK(mkdtemp(tmp_root));
}

static inline uint8_t *fx_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (fixtures: tools/fixtures/make_images.py)\n", path);
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

static inline uint8_t *fx_read(const char *fixture, size_t *len)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", fx_dir, fixture);
    return fx_slurp(p, len);
}

/* tmp_root/rel, creating its folders. */
static inline void tmp_path(const char *rel, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", tmp_root, rel);
    for (char *s = out + strlen(tmp_root) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(out, 0700);
        *s = '/';
    }
}

static inline void put(const char *rel, const void *data, size_t len)
{
    char p[1024];
    tmp_path(rel, p, sizeof p);
    FILE *f = fopen(p, "wb");
    CHECK(f && fwrite(data, 1, len, f) == len && fclose(f) == 0);
}

/* Copies fixture to tmp_root/rel. */
static inline void put_fx(const char *rel, const char *fixture)
{
    size_t len;
    uint8_t *b = fx_read(fixture, &len);
    put(rel, b, len);
    free(b);
}

static inline int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static inline void tmp_cleanup(void)
{
    nftw(tmp_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline int count_files(const char *rel)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", tmp_root, rel);
    DIR *d = opendir(p);
    CHECK(d);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Runs `cnn-pack CMD ARGS...` (args space-separated; "@/" expands to tmp_root/). */
static inline int run_pack(const char *cmd, const char *args, cnn_err *e)
{
    char buf[2048], *argv[32], *save;
    int argc = 0;
    snprintf(buf, sizeof buf, "%s", args);
    static char expanded[32][512];
    for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        CHECK(argc < 32);
        if (!strncmp(t, "@/", 2))
            snprintf(expanded[argc], sizeof expanded[argc], "%s/%s", tmp_root, t + 2);
        else
            snprintf(expanded[argc], sizeof expanded[argc], "%s", t);
        argv[argc] = expanded[argc];
        argc++;
    }
    memset(e, 0, sizeof *e);
    int rc = pack_images_main(argc, argv, cmd, NULL, e);
    if (rc < 0)
        printf("  [%s %s] -> %s\n", cmd, args, e->msg);
    return rc;
}

static inline dataset *open_ds(const char *rel)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", tmp_root, rel);
    dataset *ds;
    cnn_err e = {0};
    int rc = dataset_open(p, true, &ds, &e);
    if (rc < 0)
        fprintf(stderr, "dataset_open(%s): %s\n", p, e.msg);
    CHECK_EQ(rc, CNN_OK);
    return ds;
}

/* Sample i's bytes (and mask bytes when mask != NULL), malloc'ed. */
static inline uint8_t *read_sample(const dataset *ds, int64_t i, sample_ref *r, uint8_t **mask)
{
    dataset_ref(ds, i, r);
    uint8_t *img = malloc((size_t)r->len + 1);
    uint8_t *m = mask ? malloc((size_t)r->mask_len + 1) : NULL;
    cnn_err e = {0};
    int rc = dataset_read(ds, i, img, m, &e);
    if (rc < 0)
        fprintf(stderr, "dataset_read(%lld): %s\n", (long long)i, e.msg);
    CHECK_EQ(rc, CNN_OK);
    if (mask)
        *mask = m;
    return img;
}

static inline int max_abs_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        m = d > m ? d : m;
    }
    return m;
}

#endif
