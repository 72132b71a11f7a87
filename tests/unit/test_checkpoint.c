/* Checkpoint round trip: every parameter, buffer and optimizer tensor comes back
 * bit-identical, with the meta data and a config text larger than HDF5's 64 KiB compact
 * attribute limit; the file has the layout h5py and torchvision rely on (checked here with
 * plain HDF5 calls, independently of the loader); a file without meta data (what
 * tools/torch_export.py writes) loads as weights only. */
#include "test_checkpoint_util.h"

static char *big_config(void)
{
    size_t n = 200000;
    char *s = malloc(n + 1);
    CHECK(s);
    for (size_t i = 0; i < n; i++)
        s[i] = i % 61 == 60 ? '\n' : (char)('a' + i % 26);
    memcpy(s, "model: {input: [3, 8, 8]}  # \xc3\xa9t\xc3\xa9\n", 34); /* UTF-8 survives */
    s[n] = '\0';
    return s;
}

/* Optimizer-like state: one "momentum" tensor per parameter, from key. */
static ckpt_tensor *make_extra(net *n, backend *be, rng_key key)
{
    ckpt_tensor *x = calloc((size_t)n->n_params, sizeof *x);
    CHECK(x);
    cnn_err e = {0};
    for (int i = 0; i < n->n_params; i++) {
        tensor *t = malloc(sizeof *t);
        CHECK(t);
        *t = n->params[i].value;
        t->data = NULL;
        CHECK(backend_alloc_tensor(be, t, &e) == 0);
        size_t cnt = (size_t)tensor_numel(t);
        float *h = malloc(cnt * sizeof *h);
        rng_fill_uniform(rng_fold_str(key, n->params[i].key), 0, h, cnt, -1.0f, 1.0f);
        backend_upload(be, t, h);
        free(h);
        x[i] = (ckpt_tensor){"momentum", n->params[i].key, t, false};
    }
    return x;
}

static void free_extra(ckpt_tensor *x, int cnt, backend *be)
{
    for (int i = 0; i < cnt; i++) {
        backend_free_tensor(be, x[i].t);
        free(x[i].t);
    }
    free(x);
}

/* The layout, read with plain HDF5: what h5py's f["layer.weight"] and torch see. */
static void check_layout(const char *path, net *n, int64_t step)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    const net_entry *w = net_entry_find(n, "block.conv.weight");
    CHECK(w);
    hid_t d = H5Dopen2(f, "block.conv.weight", H5P_DEFAULT);
    CHECK(d >= 0);
    hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
    hsize_t dims[8];
    CHECK_EQ(H5Sget_simple_extent_dims(sp, dims, NULL), 4);
    CHECK_EQ(dims[0], 6);
    CHECK_EQ(dims[1], 4);
    CHECK_EQ(dims[2], 3);
    CHECK(H5Tequal(t, H5T_IEEE_F32LE) > 0);
    float *got = malloc(tensor_bytes(&w->value)), *want = ck_host(n->be, &w->value);
    CHECK(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
    CHECK(memcmp(got, want, tensor_bytes(&w->value)) == 0);
    free(got);
    free(want);
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(d);
    int64_t nbt = -1;
    d = H5Dopen2(f, "block.bn.num_batches_tracked", H5P_DEFAULT);
    CHECK(d >= 0);
    t = H5Dget_type(d);
    CHECK(H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 8);
    CHECK(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &nbt) >= 0);
    CHECK_EQ(nbt, step);
    H5Tclose(t);
    H5Dclose(d);
    CHECK(H5Lexists(f, "bn1.num_batches_tracked", H5P_DEFAULT) > 0);
    CHECK(H5Lexists(f, "fc.num_batches_tracked", H5P_DEFAULT) == 0);
    CHECK(H5Lexists(f, "optimizer", H5P_DEFAULT) > 0);
    CHECK(H5Lexists(f, "optimizer/momentum", H5P_DEFAULT) > 0);
    CHECK(H5Lexists(f, "optimizer/momentum/fc.bias", H5P_DEFAULT) > 0);
    CHECK(H5Aexists(f, "format") > 0 && H5Aexists(f, "config") > 0);
    H5Fclose(f);
}

static void write_entry(hid_t f, const net_entry *en, backend *be)
{
    const tensor *t = &en->value;
    hsize_t dims[CNN_MAX_DIMS];
    for (int k = 0; k < t->s.nd; k++)
        dims[k] = (hsize_t)t->s.d[k];
    hid_t sp = H5Screate_simple(t->s.nd, dims, NULL);
    hid_t d = H5Dcreate2(f, en->key, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    float *h = ck_host(be, t);
    CHECK(d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, h) >= 0);
    free(h);
    H5Dclose(d);
    H5Sclose(sp);
}

/* Writes n's entries the way tools/torch_export.py does: root datasets, no attributes. */
static void write_weights_only(const char *path, net *n)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(f >= 0);
    for (int i = 0; i < n->n_params; i++)
        write_entry(f, &n->params[i], n->be);
    for (int i = 0; i < n->n_buffers; i++)
        write_entry(f, &n->buffers[i], n->be);
    H5Fclose(f);
}

int main(void)
{
    cnn_err e = {0};
    backend *be;
    CHECK(backend_create("cpu", 1, &be, &e) == 0);
    char *dir = ck_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/ckpt.h5", dir);

    ck_net a = ck_build(be, 4, true, "block", 5), b = ck_build(be, 4, true, "block", 5);
    ck_fill(a.n, rng_key_from_seed(1));
    ck_fill(b.n, rng_key_from_seed(2));
    CHECK(!ck_same_entries(a.n, b.n));
    ckpt_tensor *xa = make_extra(a.n, be, rng_key_from_seed(3));
    ckpt_tensor *xb = make_extra(b.n, be, rng_key_from_seed(4));
    char *names[3] = {"T-shirt/top", "two\nlines", "\xc3\xa9t\xc3\xa9"}; /* UTF-8 too */
    ckpt_model_info info = {3, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, 3, names};
    ckpt_meta ma = {true, 3, 1234, 5000000000ll, 77, 0xDEADBEEFCAFEull,
                    {{0x12345678u, 0x9abcdef0u}}, "adamw", &info};
    char *config = big_config();

    CHECK(ckpt_save(path, a.n, &ma, xa, a.n->n_params, config, &e) == 0);
    CHECK_EQ(ck_count(dir, ".tmp."), 0);
    check_layout(path, a.n, ma.step);

    /* Half the extras asked for under another group: found stays false, values untouched. */
    xb[0].group = "adam_m";
    float *before = ck_host(be, xb[0].t);
    ckpt_meta mb;
    char *cb = NULL;
    int rc = ckpt_load(path, b.n, &mb, xb, b.n->n_params, &cb, &e);
    if (rc < 0)
        fprintf(stderr, "%s\n", e.msg);
    CHECK_EQ(rc, 0);
    CHECK(ck_same_entries(a.n, b.n));
    CHECK(!xb[0].found);
    float *after = ck_host(be, xb[0].t);
    CHECK(memcmp(before, after, tensor_bytes(xb[0].t)) == 0);
    for (int i = 1; i < b.n->n_params; i++) {
        CHECK(xb[i].found);
        CHECK(ck_same(be, xa[i].t, xb[i].t));
    }
    CHECK(mb.present);
    CHECK_EQ(mb.epoch, 3);
    CHECK_EQ(mb.step, 1234);
    CHECK_EQ(mb.samples_seen, 5000000000ll);
    CHECK_EQ(mb.sampler_pos, 77);
    CHECK(mb.seed == 0xDEADBEEFCAFEull);
    CHECK(mb.key.k[0] == 0x12345678u && mb.key.k[1] == 0x9abcdef0u);
    CHECK(!strcmp(mb.optimizer, "adamw"));
    CHECK(cb && strcmp(cb, config) == 0);
    free(cb);
    ckpt_meta mr;
    char *cr = NULL;
    CHECK(ckpt_read_meta(path, &mr, &cr, &e) == 0);
    CHECK(mr.present && mr.step == 1234 && cr && strlen(cr) == strlen(config));
    free(cr);
    /* The model info: normalization and class names (a newline inside a name is a space). */
    ckpt_model_info ri;
    CHECK_EQ(ckpt_read_info(path, &ri, &e), 0);
    CHECK_EQ(ri.channels, 3);
    CHECK(!memcmp(ri.mean, info.mean, sizeof ri.mean) && !memcmp(ri.std, info.std, sizeof ri.std));
    CHECK_EQ(ri.n_classes, 3);
    CHECK(!strcmp(ri.classes[0], "T-shirt/top") && !strcmp(ri.classes[1], "two lines") &&
          !strcmp(ri.classes[2], names[2]));
    ckpt_info_free(&ri);
    printf("round trip: %d params, %d buffers, %d optimizer tensors, %zu-byte config: identical\n",
           a.n->n_params, a.n->n_buffers, a.n->n_params - 1, strlen(config));

    /* Weights only (torch_export.py's layout): loads, meta absent, no config. */
    char wpath[600];
    snprintf(wpath, sizeof wpath, "%s/weights.h5", dir);
    write_weights_only(wpath, a.n);
    ck_fill(b.n, rng_key_from_seed(9));
    cb = (char *)"unset";
    CHECK(ckpt_load(wpath, b.n, &mb, NULL, 0, &cb, &e) == 0);
    CHECK(ck_same_entries(a.n, b.n));
    CHECK(!mb.present && mb.step == 0 && cb == NULL);
    printf("weights-only file: loaded, meta absent\n");

    free(before);
    free(after);
    free(config);
    free_extra(xa, a.n->n_params, be);
    free_extra(xb, b.n->n_params, be);
    ck_free(&a);
    ck_free(&b);
    backend_destroy(be);
    ck_rmdir(dir);
    printf("checkpoint: ok\n");
    return 0;
}
