/* The dataset format round trip: pack_* writes classify/segment, raw/encoded datasets with
 * several shards of uneven size (one empty), dataset_* reads every sample back byte for
 * byte; the layout is checked with plain HDF5 calls (what h5py sees: contiguous uint8 blob,
 * index dtypes, attributes), and 8 threads reading at once match a sequential read; all of
 * it both with pread and with the blobs cached in memory (ram_bytes, all or nothing). */
#include <hdf5.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/data/data.h"
#include "../check.h"

#define NS 3

/* Sample i's bytes: a deterministic pattern of variable length (encoded) or fixed (raw). */
static size_t sample_len(int i, bool raw) { return raw ? 4 * 5 * 3 : (size_t)(7 + (i * 37) % 91); }
static uint8_t sample_byte(int i, size_t k) { return (uint8_t)(i * 131 + k * 7 + 3); }
static int shard_of(int i) { return i < 5 ? 0 : i < 5 ? 1 : 2; } /* shard 1 stays empty */

static void pack(const char *prefix, data_task task, bool raw, int n)
{
    char *classes[3] = {"cat", "dog", "b\xc3\xa4r"};
    pack_opts o = {prefix, NS, raw ? DATA_RAW : DATA_ENCODED, task, 4, 5, 3, "unit test",
                   task == DATA_CLASSIFY ? classes : NULL, task == DATA_CLASSIFY ? 3 : 0, 0, 0};
    cnn_err e = {0};
    pack_writer *w = NULL;
    CHECK_EQ(pack_open(&o, &w, &e), CNN_OK);
    uint8_t buf[256], mask[64];
    for (int i = 0; i < n; i++) {
        size_t len = sample_len(i, raw);
        for (size_t k = 0; k < len; k++)
            buf[k] = sample_byte(i, k);
        for (size_t k = 0; k < 20; k++)
            mask[k] = (uint8_t)(i + k);
        int rc = pack_add(w, shard_of(i), buf, len, i % 3, 4, 5, task == DATA_SEGMENT ? mask : NULL,
                          task == DATA_SEGMENT ? 20 - (raw ? 0 : i % 4) : 0, &e);
        if (rc)
            fprintf(stderr, "%s\n", e.msg);
        CHECK_EQ(rc, CNN_OK);
    }
    const float mean[3] = {0.25f, 0.5f, 0.75f}, std[3] = {0.1f, 0.2f, 0.3f};
    CHECK_EQ(pack_finish(w, mean, std, &e), CNN_OK);
}

/* ram_bytes 0 reads with pread, the default holds every blob in memory; same bytes. */
static void check_read(const char *prefix, data_task task, bool raw, int n, size_t ram_bytes)
{
    char path[256];
    snprintf(path, sizeof path, "%s.h5", prefix);
    cnn_err e = {0};
    dataset *ds = NULL;
    dataset_open_opts o = {true, ram_bytes, NULL};
    int rc = dataset_open_with(path, &o, &ds, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    CHECK_EQ(rc, CNN_OK);
    const dataset_info *in = dataset_get_info(ds);
    CHECK_EQ(in->cached, ram_bytes > 0);
    CHECK_EQ(in->n, n);
    CHECK_EQ(in->n_shards, NS);
    CHECK_EQ(in->mode, raw ? DATA_RAW : DATA_ENCODED);
    CHECK_EQ(in->task, task);
    CHECK_EQ(in->n_classes, task == DATA_CLASSIFY ? 3 : 0);
    if (task == DATA_CLASSIFY)
        CHECK(strcmp(in->classes[2], "b\xc3\xa4r") == 0);
    CHECK_NEAR(in->std[2], 0.3f, 0);
    CHECK(strcmp(in->source, "unit test") == 0);
    for (int i = 0; i < n; i++) {
        sample_ref r;
        dataset_ref(ds, i, &r);
        CHECK_EQ(r.len, (int64_t)sample_len(i, raw));
        CHECK_EQ(r.label, task == DATA_CLASSIFY ? i % 3 : -1);
        CHECK_EQ(r.h, 4);
        CHECK_EQ(r.w, 5);
        uint8_t img[256], mask[64];
        CHECK_EQ(dataset_read(ds, i, img, mask, &e), CNN_OK);
        for (int64_t k = 0; k < r.len; k++)
            CHECK_EQ(img[k], sample_byte(i, (size_t)k));
        if (task == DATA_SEGMENT) {
            CHECK_EQ(r.mask_len, 20 - (raw ? 0 : i % 4));
            for (int64_t k = 0; k < r.mask_len; k++)
                CHECK_EQ(mask[k], (uint8_t)(i + k));
        }
    }
    dataset_close(ds);
}

/* What h5py sees, through plain HDF5 calls on shard 2 of the classify/raw dataset. */
static void check_layout(const char *prefix)
{
    char path[256];
    snprintf(path, sizeof path, "%s-00002-of-00003.h5", prefix);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    hid_t b = H5Dopen2(f, "blob", H5P_DEFAULT);
    hid_t dcpl = H5Dget_create_plist(b), t = H5Dget_type(b);
    CHECK_EQ(H5Pget_layout(dcpl), H5D_CONTIGUOUS);
    CHECK(H5Tequal(t, H5T_STD_U8LE) > 0);
    CHECK(H5Dget_offset(b) != HADDR_UNDEF);
    hsize_t size = H5Dget_storage_size(b);
    CHECK_EQ(size, (hsize_t)(11 - 5) * 60);
    uint8_t *all = malloc(size);
    CHECK(H5Dread(b, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, all) >= 0);
    for (int i = 5; i < 11; i++) /* shard 2 holds samples 5.. in order */
        for (size_t k = 0; k < 60; k++)
            CHECK_EQ(all[(i - 5) * 60 + k], sample_byte(i, k));
    free(all);
    static const char *const names[5] = {"offset", "length", "label", "height", "width"};
    hid_t want[5] = {H5T_STD_I64LE, H5T_STD_I64LE, H5T_STD_I32LE, H5T_STD_I32LE, H5T_STD_I32LE};
    for (int k = 0; k < 5; k++) {
        hid_t d = H5Dopen2(f, names[k], H5P_DEFAULT), dt = H5Dget_type(d);
        CHECK(H5Tequal(dt, want[k]) > 0);
        H5Tclose(dt);
        H5Dclose(d);
    }
    int64_t n = 0, ver = 0;
    hid_t a = H5Aopen(f, "num_samples", H5P_DEFAULT);
    CHECK(H5Aread(a, H5T_NATIVE_INT64, &n) >= 0);
    H5Aclose(a);
    a = H5Aopen(f, "format_version", H5P_DEFAULT);
    CHECK(H5Aread(a, H5T_NATIVE_INT64, &ver) >= 0);
    H5Aclose(a);
    CHECK_EQ(n, 6);
    CHECK_EQ(ver, 1);
    H5Tclose(t);
    H5Pclose(dcpl);
    H5Dclose(b);
    H5Fclose(f);
}

typedef struct thr {
    const dataset *ds;
    int id, n;
    uint8_t *out; /* (n, 60) */
    int rc;
} thr;

static void *reader(void *p)
{
    thr *t = p;
    cnn_err e = {0};
    for (int rep = 0; rep < 50; rep++)
        for (int i = (t->id + rep) % t->n; i < t->n && t->rc == 0; i += 3)
            t->rc = dataset_read(t->ds, i, t->out + (size_t)i * 60, NULL, &e);
    return NULL;
}

static void check_threads(const char *prefix, int n, size_t ram_bytes)
{
    char path[256];
    snprintf(path, sizeof path, "%s.h5", prefix);
    cnn_err e = {0};
    dataset *ds = NULL;
    dataset_open_opts o = {false, ram_bytes, NULL};
    CHECK_EQ(dataset_open_with(path, &o, &ds, &e), CNN_OK);
    CHECK_EQ(dataset_get_info(ds)->cached, ram_bytes > 0);
    uint8_t *seq = calloc((size_t)n, 60);
    for (int i = 0; i < n; i++)
        CHECK_EQ(dataset_read(ds, i, seq + (size_t)i * 60, NULL, &e), CNN_OK);
    thr t[8];
    pthread_t id[8];
    for (int k = 0; k < 8; k++) {
        t[k] = (thr){ds, k, n, calloc((size_t)n, 60), 0};
        CHECK_EQ(pthread_create(&id[k], NULL, reader, &t[k]), 0);
    }
    for (int k = 0; k < 8; k++) {
        CHECK_EQ(pthread_join(id[k], NULL), 0);
        CHECK_EQ(t[k].rc, CNN_OK);
        CHECK(memcmp(t[k].out, seq, (size_t)n * 60) == 0);
        free(t[k].out);
    }
    free(seq);
    dataset_close(ds);
}

/* pack_add from 4 threads at once, each filling its own shard (as cnn-pack's workers). */
typedef struct adder {
    pack_writer *w;
    int shard, rc;
} adder;

static void *add_shard(void *p)
{
    adder *a = p;
    cnn_err e = {0};
    uint8_t buf[256];
    for (int i = a->shard; i < 400 && a->rc == 0; i += 4) {
        size_t len = sample_len(i, false);
        for (size_t k = 0; k < len; k++)
            buf[k] = sample_byte(i, k);
        a->rc = pack_add(a->w, a->shard, buf, len, i % 3, 4, 5, NULL, 0, &e);
    }
    return NULL;
}

static void check_parallel_pack(const char *dir)
{
    char prefix[300], path[320];
    snprintf(prefix, sizeof prefix, "%s/par", dir);
    snprintf(path, sizeof path, "%s.h5", prefix);
    char *classes[3] = {"a", "b", "c"};
    pack_opts o = {prefix, 4, DATA_ENCODED, DATA_CLASSIFY, 0, 0, 0, "threads", classes, 3, 0, 0};
    cnn_err e = {0};
    pack_writer *w = NULL;
    CHECK_EQ(pack_open(&o, &w, &e), CNN_OK);
    adder a[4];
    pthread_t id[4];
    for (int k = 0; k < 4; k++) {
        a[k] = (adder){w, k, 0};
        CHECK_EQ(pthread_create(&id[k], NULL, add_shard, &a[k]), 0);
    }
    for (int k = 0; k < 4; k++) {
        CHECK_EQ(pthread_join(id[k], NULL), 0);
        CHECK_EQ(a[k].rc, CNN_OK);
    }
    const float m[3] = {0}, sd[3] = {1, 1, 1};
    CHECK_EQ(pack_finish(w, m, sd, &e), CNN_OK);
    dataset *ds = NULL;
    CHECK_EQ(dataset_open(path, true, &ds, &e), CNN_OK);
    CHECK_EQ(dataset_get_info(ds)->n, 400);
    uint8_t img[256];
    for (int j = 0; j < 400; j++) { /* global j is sample 4 * (j % 100) + j / 100 */
        int i = 4 * (j % 100) + j / 100;
        sample_ref r;
        dataset_ref(ds, j, &r);
        CHECK_EQ(r.len, (int64_t)sample_len(i, false));
        CHECK_EQ(r.label, i % 3);
        CHECK_EQ(dataset_read(ds, j, img, NULL, &e), CNN_OK);
        for (int64_t k = 0; k < r.len; k++)
            CHECK_EQ(img[k], sample_byte(i, (size_t)k));
    }
    dataset_close(ds);
}

/* The cache is all or nothing: the 11 raw samples' blobs are 660 bytes in all. */
static void check_cache_limit(const char *prefix)
{
    char path[256];
    snprintf(path, sizeof path, "%s.h5", prefix);
    cnn_err e = {0};
    for (size_t ram = 659; ram <= 660; ram++) {
        dataset *ds = NULL;
        dataset_open_opts o = {false, ram, NULL};
        CHECK_EQ(dataset_open_with(path, &o, &ds, &e), CNN_OK);
        CHECK_EQ(dataset_get_info(ds)->cached, ram == 660);
        dataset_close(ds);
    }
    dataset *ds = NULL;
    CHECK_EQ(dataset_open(path, false, &ds, &e), CNN_OK); /* default: 1 GiB */
    CHECK(dataset_get_info(ds)->cached);
    dataset_close(ds);
}

int main(void)
{
    char dir[] = "/tmp/cnn_test_dataset_XXXXXX";
    CHECK(mkdtemp(dir));
    char prefix[4][300];
    static const char *const names[4] = {"cls_raw", "cls_enc", "seg_raw", "seg_enc"};
    for (int k = 0; k < 4; k++) {
        snprintf(prefix[k], sizeof prefix[k], "%s/%s", dir, names[k]);
        data_task task = k < 2 ? DATA_CLASSIFY : DATA_SEGMENT;
        bool raw = k % 2 == 0;
        pack(prefix[k], task, raw, 11);
        check_read(prefix[k], task, raw, 11, 0);
        check_read(prefix[k], task, raw, 11, DATASET_RAM_DEFAULT);
        printf("  %s: 11 samples in 3 shards (5, 0, 6) read back, pread and cached\n",
               names[k]);
    }
    check_layout(prefix[0]);
    check_threads(prefix[0], 11, 0);
    check_threads(prefix[0], 11, DATASET_RAM_DEFAULT);
    check_cache_limit(prefix[0]);
    printf("  layout via plain HDF5 and 8 concurrent readers ok\n");
    check_parallel_pack(dir);
    printf("  4 threads packing 4 shards at once ok\n");
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp", dir);
    FILE *p = popen(cmd, "r");
    int tmps = -1;
    CHECK(p && fscanf(p, "%d", &tmps) == 1);
    pclose(p);
    CHECK_EQ(tmps, 0); /* no temporary file left behind */
    if (getenv("KEEP")) return 0;
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ(system(cmd), 0);
    return 0;
}
