/* Every limit that a corrupt header cannot exceed is hit once, and its refusal names the
 * file and the limit: decoded pixels (DECODE_MAX_PIXELS; a JPEG's pixels per byte of file,
 * DECODE_JPEG_PIXELS_PER_BYTE) through cnn-pack's per-file path; samples of a dataset's
 * master and of a shard (DATA_MAX_SAMPLES); the strings of a string dataset
 * (DATA_MAX_STRING_BYTES) and of a string attribute (IO_H5_MAX_STR_BYTES); the bytes of a
 * checkpoint tensor (CKPT_MAX_TENSOR_BYTES). The files are valid HDF5 whose headers claim
 * too much (storage never written), so they stay small, but for the attribute, whose bytes
 * HDF5 stores (64 MiB in /tmp for a moment). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/data/decode_impl.h"
#include "../../src/data/pack_images_impl.h"
#include "../../src/io/io.h"
#include "../../src/train/ckpt_impl.h"
#include "test_checkpoint_util.h"

static char dir[256];

static const char *in_dir(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void write_file(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, n, f) == n && fclose(f) == 0);
}

/* A fixture JPEG whose SOF0 says w x h. */
static void jpeg_claiming(const char *out, unsigned w, unsigned h)
{
    char src[1024];
    snprintf(src, sizeof src, "%s", __FILE__);
    char *slash = strrchr(src, '/');
    CHECK(slash);
    snprintf(slash, sizeof src - (size_t)(slash - src), "/../fixtures/images/rgb_base.jpg");
    FILE *f = fopen(src, "rb");
    CHECK(f);
    uint8_t b[4096];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    size_t i = 2;
    while (i + 9 < n && !(b[i] == 0xFF && b[i + 1] == 0xC0))
        i++;
    CHECK(i + 9 < n);
    b[i + 5] = (uint8_t)(h >> 8), b[i + 6] = (uint8_t)h;
    b[i + 7] = (uint8_t)(w >> 8), b[i + 8] = (uint8_t)w;
    write_file(out, b, n);
}

static void pack_refuses(const char *path, const char *limit)
{
    pack_cfg c = {.mode = DATA_ENCODED, .task = DATA_CLASSIFY, .threads = 1, .shards = 1};
    pack_item it = {(char *)path, NULL, 0};
    pack_sample s;
    pack_sample_make(&c, &it, false, &s);
    printf("  %s: %s\n", limit, s.msg);
    CHECK(s.rc < 0);
    CHECK_STR_CONTAINS(s.msg, path);
    CHECK_STR_CONTAINS(s.msg, limit);
    pack_sample_free(&s);
}

static void pixels(void)
{
    jpeg_claiming(in_dir("huge.jpg"), 20000, 20000);
    pack_refuses(in_dir("huge.jpg"), "DECODE_MAX_PIXELS");
    jpeg_claiming(in_dir("thin.jpg"), 3000, 3000); /* 9M pixels in about 1 KB */
    pack_refuses(in_dir("thin.jpg"), "DECODE_JPEG_PIXELS_PER_BYTE");
}

static void set_i64_attr(const char *path, const char *name, int64_t v)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0);
    CHECK(H5Adelete(f, name) >= 0);
    cnn_err e = {0};
    CHECK_EQ(io_h5_attr_put_i64(f, name, v, &e), CNN_OK);
    CHECK(H5Fclose(f) >= 0);
}

/* Replaces dataset name of path by n unwritten fixed strings of len bytes. */
static void set_big_strings(const char *path, const char *name, hsize_t n, size_t len)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0);
    CHECK(H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(1, &n, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    CHECK(H5Tset_size(t, len) >= 0 && H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_LATE) >= 0);
    hid_t d = H5Dcreate2(f, name, t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CHECK(d >= 0);
    H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp), H5Tclose(t);
    CHECK(H5Fclose(f) >= 0);
}

/* The master's "source" attribute as one fixed-length string above IO_H5_MAX_STR_BYTES
 * (1.8-format files keep attributes above 64 KiB in dense storage). */
static void set_big_source(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0 && H5Adelete(f, "source") >= 0);
    size_t big = IO_H5_MAX_STR_BYTES + 1;
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    CHECK(H5Tset_size(t, big) >= 0);
    hid_t a = H5Acreate2(f, "source", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    char *zeros = calloc(big, 1);
    CHECK(a >= 0 && zeros && H5Awrite(a, t, zeros) >= 0);
    free(zeros);
    H5Aclose(a), H5Sclose(sp), H5Tclose(t);
    CHECK(H5Fclose(f) >= 0);
}

static void open_refuses(const char *master, const char *path, const char *limit)
{
    dataset *ds = NULL;
    cnn_err e = {0};
    CHECK(dataset_open(master, false, &ds, &e) < 0);
    printf("  %s: %s\n", limit, e.msg);
    CHECK_STR_CONTAINS(e.msg, path);
    CHECK_STR_CONTAINS(e.msg, limit);
}

static void samples_and_strings(void)
{
    char prefix[512], master[600], shard[600];
    snprintf(prefix, sizeof prefix, "%s", in_dir("d"));
    snprintf(master, sizeof master, "%s.h5", prefix);
    snprintf(shard, sizeof shard, "%s-00000-of-00001.h5", prefix);
    char *classes[2] = {"a", "b"};
    pack_opts o = {prefix, 1, DATA_ENCODED, DATA_CLASSIFY, 0, 0, 0, "unit test", classes, 2,
                   0, 0};
    cnn_err e = {0};
    pack_writer *w = NULL;
    CHECK_EQ(pack_open(&o, &w, &e), CNN_OK);
    uint8_t px[4] = {1, 2, 3, 4};
    CHECK_EQ(pack_add(w, 0, px, 4, 1, 2, 2, NULL, 0, &e), CNN_OK);
    const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.2f, 0.2f, 0.2f};
    CHECK_EQ(pack_finish(w, mean, std, &e), CNN_OK);
    dataset *ds = NULL;
    CHECK_EQ(dataset_open(master, false, &ds, &e), CNN_OK); /* valid before the edits */
    dataset_close(ds);

    set_i64_attr(shard, "num_samples", DATA_MAX_SAMPLES + 1);
    open_refuses(master, shard, "DATA_MAX_SAMPLES");
    set_i64_attr(master, "num_samples", DATA_MAX_SAMPLES + 1);
    open_refuses(master, master, "DATA_MAX_SAMPLES");
    set_i64_attr(master, "num_samples", 1);
    set_big_strings(master, "classes", 2, (size_t)40 << 20); /* 80 MiB claimed */
    open_refuses(master, master, "DATA_MAX_STRING_BYTES");
    set_big_source(master);
    open_refuses(master, master, "IO_H5_MAX_STR_BYTES");
}

static void checkpoint(void)
{
    cnn_err e = {0};
    backend *be;
    CHECK(backend_create("cpu", 1, &be, &e) == 0);
    ck_net a = ck_build(be, 4, true, "block", 5);
    const char *path = in_dir("ckpt.h5");
    CHECK_EQ(ckpt_save(path, a.n, NULL, NULL, 0, "model: {}\n", &e), CNN_OK);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0 && H5Ldelete(f, "fc.weight", H5P_DEFAULT) >= 0);
    hsize_t dims[2] = {(hsize_t)1 << 20, (hsize_t)1 << 20}; /* 4 TiB of floats claimed */
    hid_t sp = H5Screate_simple(2, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    CHECK(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_LATE) >= 0);
    hid_t d = H5Dcreate2(f, "fc.weight", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CHECK(d >= 0);
    H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp);
    CHECK(H5Fclose(f) >= 0);

    CHECK(ckpt_load_weights(path, a.n, true, &(char *){NULL}, &e) < 0);
    printf("  CKPT_MAX_TENSOR_BYTES: %s\n", e.msg);
    CHECK_STR_CONTAINS(e.msg, path);
    CHECK_STR_CONTAINS(e.msg, "CKPT_MAX_TENSOR_BYTES");
    ck_free(&a);
    backend_destroy(be);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/cnn_limits_XXXXXX");
    CHECK(mkdtemp(dir));
    pixels();
    samples_and_strings();
    checkpoint();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    printf("OK: every input limit refused with the file and the limit named\n");
    return 0;
}
