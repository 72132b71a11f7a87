/* Checkpoint load errors, strict like torchvision: the first mismatching tensor named with
 * both shapes, missing and unexpected keys, wrong dtypes, foreign formats and versions,
 * optimizer state of the wrong shape, names HDF5 cannot hold, a missing file, a tensor whose
 * bytes no longer match its checksum (or whose checksum is gone). A failed load leaves the
 * net as it was. Files are edited with plain HDF5 calls (and one byte write). */
#include "test_checkpoint_util.h"

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    CHECK(a && b);
    char buf[65536];
    for (size_t k; (k = fread(buf, 1, sizeof buf, a)) > 0;)
        CHECK(fwrite(buf, 1, k, b) == k);
    fclose(a);
    CHECK(fclose(b) == 0);
}

typedef enum edit {
    ADD_NBT_FC, ADD_GROUP, INT_WEIGHT, FORMAT, VERSION, NO_STEP, NO_SUM, CORRUPT
} edit;

/* Flips the bits of 3 bytes in the middle of dataset name's contiguous storage. */
static void corrupt(const char *path, const char *name)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    CHECK(d >= 0);
    haddr_t off = H5Dget_offset(d);
    hsize_t size = H5Dget_storage_size(d);
    CHECK(off != HADDR_UNDEF && size > 8);
    H5Dclose(d);
    CHECK(H5Fclose(f) >= 0);
    FILE *fp = fopen(path, "r+b");
    CHECK(fp);
    unsigned char b[3];
    CHECK(fseek(fp, (long)(off + size / 2), SEEK_SET) == 0 && fread(b, 1, 3, fp) == 3);
    for (int i = 0; i < 3; i++)
        b[i] ^= 0xFF;
    CHECK(fseek(fp, (long)(off + size / 2), SEEK_SET) == 0 && fwrite(b, 1, 3, fp) == 3);
    CHECK(fclose(fp) == 0);
}

/* A copy of base at path with one edit. */
static void edited(const char *base, const char *path, edit what)
{
    copy_file(base, path);
    if (what == CORRUPT) {
        corrupt(path, "fc.weight");
        return;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0);
    hid_t sc = H5Screate(H5S_SCALAR);
    int64_t v = 2;
    if (what == ADD_NBT_FC) {
        hid_t d = H5Dcreate2(f, "fc.num_batches_tracked", H5T_STD_I64LE, sc, H5P_DEFAULT,
                             H5P_DEFAULT, H5P_DEFAULT);
        CHECK(d >= 0 && H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) >= 0);
        H5Dclose(d);
    } else if (what == ADD_GROUP) {
        hid_t g = H5Gcreate2(f, "extra", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        CHECK(g >= 0);
        H5Gclose(g);
    } else if (what == INT_WEIGHT) {
        CHECK(H5Ldelete(f, "conv1.weight", H5P_DEFAULT) >= 0);
        hsize_t dims[4] = {4, 3, 3, 3};
        hid_t sp = H5Screate_simple(4, dims, NULL);
        hid_t d = H5Dcreate2(f, "conv1.weight", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                             H5P_DEFAULT);
        CHECK(d >= 0);
        H5Dclose(d);
        H5Sclose(sp);
    } else if (what == FORMAT) {
        CHECK(H5Adelete(f, "format") >= 0);
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, 8);
        hid_t a = H5Acreate2(f, "format", t, sc, H5P_DEFAULT, H5P_DEFAULT);
        CHECK(a >= 0 && H5Awrite(a, t, "keras!!!") >= 0);
        H5Aclose(a);
        H5Tclose(t);
    } else if (what == VERSION) {
        hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
        CHECK(a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0);
        H5Aclose(a);
    } else if (what == NO_SUM) {
        CHECK(H5Ldelete(f, "checksums/fc.weight", H5P_DEFAULT) >= 0);
    } else {
        CHECK(H5Adelete(f, "step") >= 0);
    }
    H5Sclose(sc);
    CHECK(H5Fclose(f) >= 0);
}

/* Loads path into c and expects an error with the fragments; c must stay unchanged. */
static void expect_load_err(const char *path, ck_net *c, const char *const *frags)
{
    cnn_err e = {0};
    tensor snap = c->n->params_flat;
    float *before = ck_host(c->n->be, &snap);
    int rc = ckpt_load(path, c->n, NULL, NULL, 0, NULL, &e);
    ck_expect_err(rc, &e, frags);
    CHECK(e.code == CNN_EINVAL || e.code == CNN_EIO);
    float *after = ck_host(c->n->be, &snap);
    CHECK(memcmp(before, after, tensor_bytes(&snap)) == 0);
    free(before);
    free(after);
}
#define LOAD_ERR(path, c, ...)                                                           \
    expect_load_err((path), (c), (const char *const[]){__VA_ARGS__, NULL})

int main(void)
{
    cnn_err e = {0};
    backend *be;
    CHECK(backend_create("cpu", 1, &be, &e) == 0);
    char *dir = ck_tmpdir(), base[512], p[600];
    snprintf(base, sizeof base, "%s/ckpt.h5", dir);
    snprintf(p, sizeof p, "%s/edited.h5", dir);

    ck_net a = ck_build(be, 4, true, "block", 5);
    ck_fill(a.n, rng_key_from_seed(1));
    ckpt_meta m = {true, 1, 10, 640, 0, 7, {{1, 2}}, "sgd", NULL};
    CHECK(ckpt_save(base, a.n, &m, NULL, 0, "seed: 7\n", &e) == 0);

    ck_net c = ck_build(be, 4, true, "block", 7);
    LOAD_ERR(base, &c, base, "'fc.weight' is (5, 6) in the file but (7, 6) in the model");
    ck_free(&c);
    c = ck_build(be, 5, true, "block", 7); /* conv1 comes first in state_dict order */
    LOAD_ERR(base, &c, "'conv1.weight' is (4, 3, 3, 3) in the file but (5, 3, 3, 3) in the model");
    ck_free(&c);
    c = ck_build(be, 4, true, "blk", 5);
    LOAD_ERR(base, &c, "'blk.conv.weight' of the model is missing from the file",
             "e.g. 'block.bn.bias'");
    ck_free(&c);
    c = ck_build(be, 4, false, "block", 5);
    LOAD_ERR(base, &c, "unexpected 'conv1.bias' in the file");
    ck_free(&c);

    c = ck_build(be, 4, true, "block", 5);
    edited(base, p, ADD_NBT_FC);
    LOAD_ERR(p, &c, "unexpected 'fc.num_batches_tracked'");
    edited(base, p, ADD_GROUP);
    LOAD_ERR(p, &c, "unexpected group 'extra'");
    edited(base, p, INT_WEIGHT);
    LOAD_ERR(p, &c, "'conv1.weight' holds integers in the file, expected float32");
    edited(base, p, FORMAT);
    LOAD_ERR(p, &c, "'format' attribute is 'keras!!!'");
    edited(base, p, VERSION);
    LOAD_ERR(p, &c, "format version 2; this build reads versions up to 1");
    edited(base, p, NO_STEP);
    LOAD_ERR(p, &c, "attribute 'step' is missing");
    edited(base, p, CORRUPT);
    LOAD_ERR(p, &c, "'fc.weight' does not match its checksum", "the file is corrupt");
    edited(base, p, NO_SUM);
    LOAD_ERR(p, &c, "'fc.weight' has no checksum");
    snprintf(p, sizeof p, "%s/nope.h5", dir);
    LOAD_ERR(p, &c, "nope.h5", "No such file or directory");
    CHECK(ckpt_load(base, c.n, NULL, NULL, 0, NULL, &e) == 0);

    /* Optimizer state: wrong shape is an error; a name with '/' cannot be saved. */
    tensor t = tensor_view(NULL, SHAPE(6, 5), DTYPE_F32, DEVICE_CPU);
    CHECK(backend_alloc_tensor(be, &t, &e) == 0);
    ckpt_tensor x = {"momentum", "fc.weight", &t, false};
    CHECK(ckpt_save(base, a.n, &m, &x, 1, NULL, &e) == 0);
    tensor t2 = tensor_view(NULL, SHAPE(5, 6), DTYPE_F32, DEVICE_CPU);
    CHECK(backend_alloc_tensor(be, &t2, &e) == 0);
    x.t = &t2;
    int rc = ckpt_load(base, c.n, NULL, &x, 1, NULL, &e);
    CK_EXPECT_ERR(rc, &e,
                  "optimizer state 'optimizer/momentum/fc.weight' is (6, 5) in the file but "
                  "(5, 6) in the model");
    x.group = "a/b";
    rc = ckpt_save(base, a.n, &m, &x, 1, NULL, &e);
    CK_EXPECT_ERR(rc, &e, "saving checkpoint", "'a/b' cannot name an HDF5 dataset");
    CHECK(ckpt_load(base, c.n, NULL, NULL, 0, NULL, &e) == 0); /* the old file is intact */

    backend_free_tensor(be, &t);
    backend_free_tensor(be, &t2);
    ck_free(&c);
    ck_free(&a);
    backend_destroy(be);
    ck_rmdir(dir);
    printf("checkpoint errors: ok\n");
    return 0;
}
