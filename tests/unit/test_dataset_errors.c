/* Bad datasets give a clear error naming the file and what is wrong, never a crash: missing,
 * truncated, non-HDF5 and foreign shards, a flipped byte in an index dataset (checksum), a
 * flipped blob byte (verify, cached or not), wrong dtype and shape,
 * labels outside the classes; a shard cut after opening (pread fails, the cache does not
 * care); dataset_check reports every bad shard, not the first; and a
 * write that hits the file size limit (as a full disk) fails cleanly leaving no file. */
#include <hdf5.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../../src/data/data_impl.h"
#include "../check.h"

static char dir[] = "/tmp/cnn_test_dserr_XXXXXX";
static char master[300], shard1[300];

static void pack(int n)
{
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s/d", dir);
    char *classes[3] = {"a", "b", "c"};
    pack_opts o = {prefix, 3, DATA_RAW, DATA_CLASSIFY, 2, 2, 1, "t", classes, 3, 0, 0};
    cnn_err e = {0};
    pack_writer *w = NULL;
    CHECK_EQ(pack_open(&o, &w, &e), CNN_OK);
    for (int i = 0; i < n; i++) {
        uint8_t px[4] = {(uint8_t)i, 1, 2, 3};
        CHECK_EQ(pack_add(w, i % 3, px, 4, i % 3, 2, 2, NULL, 0, &e), CNN_OK);
    }
    const float m[3] = {0}, s[3] = {1, 1, 1};
    CHECK_EQ(pack_finish(w, m, s, &e), CNN_OK);
}

/* dataset_open must fail with a message holding both strings; ram_bytes 0 (no cache). */
static void expect_error(const char *what, bool verify, const char *s1, const char *s2)
{
    dataset *ds = NULL;
    cnn_err e = {0};
    dataset_open_opts o = {verify, 0, NULL};
    int rc = dataset_open_with(master, &o, &ds, &e);
    printf("  %-22s -> %s\n", what, e.msg);
    CHECK(rc < 0);
    CHECK(ds == NULL);
    CHECK_STR_CONTAINS(e.msg, s1);
    CHECK_STR_CONTAINS(e.msg, s2);
}

static haddr_t dataset_offset(const char *path, const char *name)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    haddr_t off = H5Dget_offset(d);
    H5Dclose(d);
    H5Fclose(f);
    CHECK(off != HADDR_UNDEF);
    return off;
}

static void flip_byte(const char *path, haddr_t off)
{
    FILE *f = fopen(path, "r+b");
    CHECK(f && fseek(f, (long)off, SEEK_SET) == 0);
    int c = fgetc(f);
    CHECK(c != EOF && fseek(f, (long)off, SEEK_SET) == 0);
    fputc(c ^ 0x10, f);
    CHECK_EQ(fclose(f), 0);
}

/* Replaces shard 1's dataset name by n values of type t (and fixes the index checksums
 * in the shard and the master when fix_crc, so later checks are reached). */
static void replace(const char *name, hid_t t, int64_t n, const void *v, bool fix_crc)
{
    hid_t f = H5Fopen(shard1, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0 && H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t d = H5Dcreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(d >= 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
    if (fix_crc) {
        data_shard_want w = {1, 3, DATA_RAW, DATA_CLASSIFY, 2, 2, 1, 0, -1, false, 0};
        cnn_err e = {0};
        data_shard s;
        H5Fclose(f);
        CHECK(data_shard_load(shard1, &w, &s, &e) < 0); /* the stale checksum */
        f = H5Fopen(shard1, H5F_ACC_RDWR, H5P_DEFAULT);
        data_index x = {n, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false};
        static const char *const k[5] = {"offset", "length", "label", "height", "width"};
        void **p[5] = {(void **)&x.offset, (void **)&x.length, (void **)&x.label,
                       (void **)&x.height, (void **)&x.width};
        for (int i = 0; i < 5; i++)
            CHECK_EQ(data_read_ints(f, k[i], n, i < 2 ? 8 : 4, true, p[i], &e), CNN_OK);
        uint32_t crc = data_index_crc32(&x);
        hid_t a = H5Aopen(f, "index_crc32", H5P_DEFAULT);
        CHECK(H5Awrite(a, H5T_NATIVE_UINT32, &crc) >= 0);
        H5Aclose(a);
        hid_t m = H5Fopen(master, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t md = H5Dopen2(m, "shard_index_crc32", H5P_DEFAULT);
        uint32_t all[3];
        CHECK(H5Dread(md, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, all) >= 0);
        all[1] = crc;
        CHECK(H5Dwrite(md, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, all) >= 0);
        H5Dclose(md);
        H5Fclose(m);
        for (int i = 0; i < 5; i++)
            free(*p[i]);
    }
    H5Fclose(f);
}

static void fresh(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -f %s/*", dir);
    CHECK_EQ(system(cmd), 0);
    pack(10); /* shard 1 holds samples 1, 4, 7 */
}

/* Only verify checks the blobs' crc32, cached (in memory) or not (streamed from the file). */
static void flipped_blob(void)
{
    for (int cached = 0; cached < 2; cached++) {
        dataset *ds = NULL;
        cnn_err e = {0};
        dataset_open_opts o = {false, cached ? DATASET_RAM_DEFAULT : 0, NULL};
        CHECK_EQ(dataset_open_with(master, &o, &ds, &e), CNN_OK);
        CHECK_EQ(dataset_get_info(ds)->cached, cached);
        dataset_close(ds);
    }
    expect_error("flipped blob byte", true, "d-00001-of-00003.h5", "blob's checksum");
    dataset *ds = NULL;
    cnn_err e = {0};
    int rc = dataset_open(master, true, &ds, &e); /* default: cached, checked in memory */
    printf("  %-22s -> %s\n", "flipped, cached", e.msg);
    CHECK(rc < 0 && ds == NULL);
    CHECK_STR_CONTAINS(e.msg, "d-00001-of-00003.h5");
    CHECK_STR_CONTAINS(e.msg, "blob's checksum");
}

/* A shard cut short after opening: pread reports it; the cache read everything at open. */
static void cut_after_open(void)
{
    fresh();
    dataset *ds[2] = {NULL, NULL};
    cnn_err e = {0};
    for (int k = 0; k < 2; k++) {
        dataset_open_opts o = {false, k ? DATASET_RAM_DEFAULT : 0, NULL};
        CHECK_EQ(dataset_open_with(master, &o, &ds[k], &e), CNN_OK);
        CHECK_EQ(dataset_get_info(ds[k])->cached, k == 1);
    }
    CHECK_EQ(truncate(shard1, 2048), 0);
    uint8_t px[4];
    int rc = dataset_read(ds[0], 4, px, NULL, &e); /* shard 1's first: packed as i = 1 */
    printf("  %-22s -> %s\n", "cut after open", e.msg);
    CHECK(rc < 0);
    CHECK_STR_CONTAINS(e.msg, "reading sample 4");
    CHECK_STR_CONTAINS(e.msg, "d-00001-of-00003.h5");
    CHECK_EQ(dataset_read(ds[1], 4, px, NULL, &e), CNN_OK);
    CHECK(px[0] == 1 && px[1] == 1 && px[2] == 2 && px[3] == 3);
    dataset_close(ds[0]);
    dataset_close(ds[1]);
}

/* dataset_check (cnn-pack info) goes on past a bad shard and says why of each. */
typedef struct seen {
    int calls, bad[3];
    char why[3][1024];
} seen;

static void on_shard(void *ctx, const dataset *ds, int s, const cnn_err *bad)
{
    seen *v = ctx;
    CHECK_EQ(s, v->calls);
    CHECK_EQ(dataset_get_info(ds)->n_shards, 3);
    v->calls++;
    v->bad[s] = bad != NULL;
    snprintf(v->why[s], sizeof v->why[s], "%s", bad ? bad->msg : "");
}

static void check_all_shards(void)
{
    fresh();
    char shard2[300];
    snprintf(shard2, sizeof shard2, "%s/d-00002-of-00003.h5", dir);
    flip_byte(shard1, dataset_offset(shard1, "blob") + 5);
    CHECK_EQ(unlink(shard2), 0);
    cnn_err e = {0};
    for (int verify = 0; verify < 2; verify++) {
        seen v = {0};
        int n_bad = -1;
        CHECK_EQ(dataset_check(master, verify, on_shard, &v, &n_bad, &e), CNN_OK);
        CHECK_EQ(v.calls, 3);
        CHECK_EQ(n_bad, 1 + verify);
        CHECK(!v.bad[0] && v.bad[1] == verify && v.bad[2]);
        if (verify)
            CHECK_STR_CONTAINS(v.why[1], "blob's checksum");
        CHECK_STR_CONTAINS(v.why[2], "d-00002-of-00003.h5");
        CHECK_STR_CONTAINS(v.why[2], "No such file");
    }
    printf("  %-22s -> 1: %s\n  %22s    2: %s\n", "check every shard", "blob's checksum", "",
           "missing");
    seen v = {0};
    int n_bad = -1;
    CHECK(dataset_check("/nonexistent/d.h5", true, on_shard, &v, &n_bad, &e) < 0);
    CHECK_EQ(v.calls, 0);
    CHECK_STR_CONTAINS(e.msg, "/nonexistent/d.h5");
}

static void disk_full(void)
{
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s/full", dir);
    pack_opts o = {prefix, 2, DATA_ENCODED, DATA_CLASSIFY, 0, 0, 0, "t", NULL, 0, 0, 0};
    cnn_err e = {0};
    pack_writer *w = NULL;
    CHECK_EQ(pack_open(&o, &w, &e), CNN_OK);
    static uint8_t big[200000];
    CHECK_EQ(pack_add(w, 0, big, sizeof big, 0, 1, 1, NULL, 0, &e), CNN_OK);
    /* As a full disk: writes past 120000 bytes fail with EFBIG instead of a signal. */
    struct rlimit old, lim = {120000, 120000};
    CHECK_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
    const float m[3] = {0}, s[3] = {1, 1, 1};
    int rc = pack_finish(w, m, s, &e);
    printf("  %-22s -> %s\n", "write past the limit", e.msg);
    CHECK(rc < 0);
    CHECK_STR_CONTAINS(e.msg, "full-00000-of-00002.h5");
    CHECK_STR_CONTAINS(e.msg, "too large");
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c full", dir);
    FILE *p = popen(cmd, "r");
    int left = -1;
    CHECK(p && fscanf(p, "%d", &left) == 1);
    pclose(p);
    CHECK_EQ(left, 0);
}

int main(void)
{
    CHECK(mkdtemp(dir));
    snprintf(master, sizeof master, "%s/d.h5", dir);
    snprintf(shard1, sizeof shard1, "%s/d-00001-of-00003.h5", dir);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char cmd[700];

    fresh();
    CHECK_EQ(unlink(shard1), 0);
    expect_error("missing shard", false, "d-00001-of-00003.h5", "No such file");

    fresh();
    CHECK_EQ(truncate(shard1, 20000), 0);
    expect_error("truncated shard", false, "d-00001-of-00003.h5", "truncated");

    fresh();
    snprintf(cmd, sizeof cmd, "echo 'not hdf5' > %s", shard1);
    CHECK_EQ(system(cmd), 0);
    expect_error("text as shard", false, "d-00001-of-00003.h5", "not an HDF5 file");

    fresh();
    hid_t f = H5Fcreate(shard1, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(f >= 0 && io_h5_attr_put_str(f, "format", "something else", NULL) == CNN_OK);
    H5Fclose(f);
    expect_error("foreign HDF5 file", false, "d-00001-of-00003.h5", "not a cnn-dist dataset shard");

    fresh();
    flip_byte(shard1, dataset_offset(shard1, "label") + 4);
    expect_error("flipped index byte", false, "d-00001-of-00003.h5", "checksum");

    fresh();
    flip_byte(shard1, dataset_offset(shard1, "blob") + 5);
    flipped_blob();

    fresh();
    const int64_t lab64[3] = {1, 1, 1};
    replace("label", H5T_NATIVE_INT64, 3, lab64, false);
    expect_error("int64 labels", false, "d-00001-of-00003.h5", "'label' has the wrong dtype");

    fresh();
    const int32_t h4[4] = {2, 2, 2, 2};
    replace("height", H5T_NATIVE_INT32, 4, h4, false);
    expect_error("4 heights for 3", false, "d-00001-of-00003.h5", "'height' has the wrong shape");

    fresh();
    const int32_t lab[3] = {1, 3, 1};
    replace("label", H5T_NATIVE_INT32, 3, lab, true);
    expect_error("label out of range", false, "d-00001-of-00003.h5", "label 3, outside the 3");

    cut_after_open();
    check_all_shards();
    disk_full();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ(system(cmd), 0);
    return 0;
}
