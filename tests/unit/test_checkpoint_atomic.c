/* Checkpoint atomicity and damaged files. A save that fails (its temporary name blocked, a
 * file size limit hit mid-write, a missing or read-only directory) leaves the previous
 * checkpoint intact and no temporary behind, with an error naming the cause; truncated and
 * overwritten files give errors, not crashes. */
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "test_checkpoint_util.h"

#define BIG_MODEL                                                                        \
    "model:\n"                                                                           \
    "  input: [3, 8, 8]\n"                                                               \
    "  layers:\n"                                                                        \
    "    - {type: conv2d, name: conv1, out: 4, kernel: 3, pad: 1}\n"                     \
    "    - {type: batch_norm2d, name: bn1}\n"                                            \
    "    - {type: flatten, name: flatten}\n"                                             \
    "    - {type: linear, name: fc, out: 256}\n" /* 256 x 256 floats: 256 KiB */

static int64_t load_step(const char *path, net *n)
{
    cnn_err e = {0};
    ckpt_meta m;
    if (ckpt_load(path, n, &m, NULL, 0, NULL, &e) < 0) {
        fprintf(stderr, "loading the previous checkpoint failed: %s\n", e.msg);
        exit(1);
    }
    return m.step;
}

static off_t file_size(const char *path)
{
    struct stat st;
    CHECK(stat(path, &st) == 0);
    return st.st_size;
}

static void failing_saves(const char *dir, const char *path, net *n)
{
    cnn_err e = {0};
    ckpt_meta m = {true, 0, 1, 0, 0, 0, {{0, 0}}, "", NULL};
    CHECK(ckpt_save(path, n, &m, NULL, 0, NULL, &e) == 0);
    m.step = 2;
    CHECK(ckpt_save(path, n, &m, NULL, 0, NULL, &e) == 0); /* replaces the first */
    CHECK_EQ(load_step(path, n), 2);
    CHECK_EQ(ck_count(dir, ".tmp."), 0);
    m.step = 3;

    /* The temporary name is taken by a directory: even root cannot create the file. */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(mkdir(tmp, 0700) == 0);
    int rc = ckpt_save(path, n, &m, NULL, 0, NULL, &e);
    CK_EXPECT_ERR(rc, &e, "saving checkpoint", path, "cannot create", "Is a directory");
    CHECK(rmdir(tmp) == 0); /* still a directory: the failed save did not touch it */
    CHECK_EQ(load_step(path, n), 2);

    /* Disk full mid-write: a file size limit below the checkpoint's size. */
    off_t full = file_size(path);
    struct rlimit old, lim;
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = (rlim_t)full / 2;
    signal(SIGXFSZ, SIG_IGN); /* write() then fails with EFBIG instead of killing us */
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    rc = ckpt_save(path, n, &m, NULL, 0, NULL, &e);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    CK_EXPECT_ERR(rc, &e, "saving checkpoint", "File too large");
    CHECK_EQ(ck_count(dir, ".tmp."), 0);
    CHECK_EQ(load_step(path, n), 2);
    CHECK_EQ(file_size(path), full);

    char nodir[700];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/ckpt.h5", dir);
    rc = ckpt_save(nodir, n, &m, NULL, 0, NULL, &e);
    CK_EXPECT_ERR(rc, &e, "saving checkpoint", "No such file or directory");

    if (geteuid() != 0) { /* root writes into read-only directories */
        CHECK(chmod(dir, 0555) == 0);
        rc = ckpt_save(path, n, &m, NULL, 0, NULL, &e);
        CHECK(chmod(dir, 0700) == 0);
        CK_EXPECT_ERR(rc, &e, "saving checkpoint", "Permission denied");
        CHECK_EQ(load_step(path, n), 2);
    } else {
        printf("  (read-only directory case skipped: running as root)\n");
    }
}

/* Every damaged copy of path must fail to load with an error. */
static void damaged_files(const char *dir, const char *path, net *n)
{
    off_t full = file_size(path);
    char *bytes = malloc((size_t)full);
    FILE *f = fopen(path, "rb");
    CHECK(bytes && f && fread(bytes, 1, (size_t)full, f) == (size_t)full);
    fclose(f);
    char bad[600];
    snprintf(bad, sizeof bad, "%s/bad.h5", dir);
    const off_t cuts[] = {0, 7, 100, 2048, full / 2, full - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        f = fopen(bad, "wb");
        CHECK(f && fwrite(bytes, 1, (size_t)cuts[i], f) == (size_t)cuts[i]);
        fclose(f);
        cnn_err e = {0};
        int rc = ckpt_load(bad, n, NULL, NULL, 0, NULL, &e);
        printf("  truncated to %lld bytes: ", (long long)cuts[i]);
        CK_EXPECT_ERR(rc, &e, "bad.h5");
    }
    /* Superblock and root group header overwritten: not an HDF5 file any more. */
    memset(bytes, 0x5a, 1024);
    f = fopen(bad, "wb");
    CHECK(f && fwrite(bytes, 1, (size_t)full, f) == (size_t)full);
    fclose(f);
    cnn_err e = {0};
    int rc = ckpt_load(bad, n, NULL, NULL, 0, NULL, &e);
    CK_EXPECT_ERR(rc, &e, "not a readable HDF5 file");
    free(bytes);
}

int main(void)
{
    cnn_err e = {0};
    backend *be;
    CHECK(backend_create("cpu", 1, &be, &e) == 0);
    char *dir = ck_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/ckpt.h5", dir);
    ck_net c = ck_build_yaml(BIG_MODEL, be);
    ck_fill(c.n, rng_key_from_seed(5));
    failing_saves(dir, path, c.n);
    damaged_files(dir, path, c.n);
    ck_free(&c);
    backend_destroy(be);
    ck_rmdir(dir);
    printf("checkpoint atomicity: ok\n");
    return 0;
}
