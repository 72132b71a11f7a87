/* Our forward against torchvision's on the same weights (issue #4, section 5).
 *   torchvision_equiv CONFIG.yaml FIXTURE.h5 [--save DIR]
 * The fixture (tools/fixtures/torchvision_equiv.py) lists torchvision's state_dict (key,
 * shape, uniform range) and holds torchvision's eval() logits in float64 for a Philox input;
 * the weights are Philox values too, so nothing large is committed. This program writes them
 * in the layout of tools/torch_export.py (root datasets, no meta data), loads that file with
 * ckpt_load into the net built from CONFIG's `model` at batch 2, runs net_forward (eval) and
 * requires max |ours - ref| <= 1e-4 * max |ref|. Our float32 forward differs from float64 by
 * rounding in sums of up to 3*3*512 = 4608 products per output through 8-13 layers: torch's
 * own float32 run is ~7e-7 off by that measure, so 1e-4 leaves room for other summation
 * orders while a single layer's weights scaled by 1.001 moves the logits by 5e-4 to 1e-3.
 * --save DIR: after the check, set new weights (the same ranges from another key) through
 * the net's tensors, run the same input and write DIR/<model>.h5 (ckpt_save) and
 * DIR/<model>.logits.f32 for torchvision_equiv.py --verify: the other direction, which
 * needs python, so it is not a ctest.
 * --weights FILE: load FILE instead of generating it (torchvision_equiv.py --export writes
 * one with tools/torch_export.py), to check that script's output.
 * --write-weights FILE: only write the checked weights (torch_export.py's layout) to FILE,
 * for tests that apply them elsewhere (e2e.predict_torchvision). */
#include <hdf5.h>
#include <unistd.h>

#include "../../src/config/config.h"
#include "../../src/train/train.h"
#include "../check.h"

#define TOL_REL 1e-4

typedef struct manifest {
    int n;
    char (*key)[128];
    int *kind, *ndim;
    int64_t (*dims)[4];
    float *lo, *hi;
} manifest;

static void read_ds(hid_t f, const char *name, hid_t mt, void *out)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0 || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
        fprintf(stderr, "fixture: cannot read '%s'\n", name);
        exit(1);
    }
    H5Dclose(d);
}

static void read_attr(hid_t f, const char *name, hid_t mt, void *out)
{
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    CHECK(a >= 0 && H5Aread(a, mt, out) >= 0);
    H5Aclose(a);
}

static void *xcalloc(size_t n, size_t s)
{
    void *p = calloc(n, s);
    CHECK(p);
    return p;
}

static void read_fixture(const char *path, manifest *m, rng_key *base, float range[2],
                         double *logits)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    hid_t d = H5Dopen2(f, "manifest_kind", H5P_DEFAULT), sp = H5Dget_space(d);
    m->n = (int)H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    H5Dclose(d);
    size_t n = (size_t)m->n;
    m->key = xcalloc(n, sizeof *m->key);
    m->kind = xcalloc(n, sizeof *m->kind);
    m->ndim = xcalloc(n, sizeof *m->ndim);
    m->dims = xcalloc(n, sizeof *m->dims);
    m->lo = xcalloc(n, sizeof *m->lo);
    m->hi = xcalloc(n, sizeof *m->hi);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, sizeof *m->key);
    read_ds(f, "manifest_key", st, m->key);
    H5Tclose(st);
    read_ds(f, "manifest_kind", H5T_NATIVE_INT, m->kind);
    read_ds(f, "manifest_ndim", H5T_NATIVE_INT, m->ndim);
    read_ds(f, "manifest_dims", H5T_NATIVE_INT64, m->dims);
    read_ds(f, "manifest_lo", H5T_NATIVE_FLOAT, m->lo);
    read_ds(f, "manifest_hi", H5T_NATIVE_FLOAT, m->hi);
    read_ds(f, "logits", H5T_NATIVE_DOUBLE, logits);
    read_attr(f, "base_key", H5T_NATIVE_UINT32, base->k);
    read_attr(f, "input_range", H5T_NATIVE_FLOAT, range);
    H5Fclose(f);
}

/* The weights as tools/torch_export.py writes them: f32 datasets, int64 counters. */
static void write_weights(const char *path, const manifest *m, rng_key base)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(f >= 0);
    for (int i = 0; i < m->n; i++) {
        hsize_t dims[4];
        size_t cnt = 1;
        for (int k = 0; k < m->ndim[i]; k++)
            cnt *= (size_t)(dims[k] = (hsize_t)m->dims[i][k]);
        hid_t sp = m->ndim[i] ? H5Screate_simple(m->ndim[i], dims, NULL) : H5Screate(H5S_SCALAR);
        bool counter = m->kind[i] == 1;
        hid_t d = H5Dcreate2(f, m->key[i], counter ? H5T_STD_I64LE : H5T_IEEE_F32LE, sp,
                             H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        CHECK(d >= 0);
        if (counter) {
            int64_t zero = 0;
            CHECK(H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &zero) >= 0);
        } else {
            float *v = xcalloc(cnt, sizeof *v);
            rng_fill_uniform(rng_fold_str(base, m->key[i]), 0, v, cnt, m->lo[i], m->hi[i]);
            CHECK(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
            free(v);
        }
        H5Dclose(d);
        H5Sclose(sp);
    }
    CHECK(H5Fclose(f) >= 0);
}

/* Eval forward of the fixture's input; returns the logits (host copy, to free). */
static float *forward(net *n, rng_key base, const float range[2])
{
    size_t cnt = (size_t)tensor_numel(&n->input);
    float *x = xcalloc(cnt, sizeof *x);
    rng_fill_uniform(rng_fold_str(base, "input"), 0, x, cnt, range[0], range[1]);
    backend_upload(n->be, &n->input, x);
    free(x);
    exec ex = {.be = n->be, .training = false, .key = base, .reduce_ranks = 1};
    net_forward(n, &ex, false);
    const tensor *out = net_output(n);
    float *y = xcalloc((size_t)tensor_numel(out), sizeof *y);
    backend_download(n->be, out, y);
    return y;
}

static double max_rel(const float *got, const double *ref, int64_t cnt)
{
    double err = 0, mag = 0;
    for (int64_t i = 0; i < cnt; i++) {
        double d = fabs((double)got[i] - ref[i]);
        err = d > err || d != d ? d : err;
        mag = fabs(ref[i]) > mag ? fabs(ref[i]) : mag;
    }
    printf("  max |ours - torchvision f64| = %.3g, max |ref| = %.3g\n", err, mag);
    return err / mag;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    CHECK(f && fseek(f, 0, SEEK_END) == 0);
    long len = ftell(f);
    CHECK(len >= 0 && fseek(f, 0, SEEK_SET) == 0);
    char *s = xcalloc((size_t)len + 1, 1);
    CHECK(fread(s, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    return s;
}

/* The other direction: new weights (the manifest's ranges, another key) set through the
 * net's own tensors, saved with ckpt_save for torchvision to load. */
static void save_ours(net *n, const manifest *m, const char *dir, const char *model,
                      const char *config_path, rng_key base, const float range[2])
{
    rng_key k = rng_fold(base, 1);
    for (int i = 0; i < m->n; i++) {
        const net_entry *en = net_entry_find(n, m->key[i]);
        CHECK(m->kind[i] == 1 || en);
        if (!en)
            continue;
        tensor *t = &en->slot->t;
        float *v = xcalloc((size_t)tensor_numel(t), sizeof *v);
        rng_fill_uniform(rng_fold_str(k, en->key), 0, v, (size_t)tensor_numel(t), m->lo[i],
                         m->hi[i]);
        backend_upload(n->be, t, v);
        free(v);
    }
    float *y = forward(n, base, range);
    char path[1024];
    cnn_err e = {0};
    ckpt_meta meta = {true, 1, 100, 3200, 0, 123, rng_key_from_seed(123), "sgd", NULL};
    char *config = slurp(config_path);
    snprintf(path, sizeof path, "%s/%s.h5", dir, model);
    if (ckpt_save(path, n, &meta, NULL, 0, config, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    free(config);
    snprintf(path, sizeof path, "%s/%s.logits.f32", dir, model);
    FILE *f = fopen(path, "wb");
    int64_t cnt = tensor_numel(net_output(n));
    CHECK(f && fwrite(y, sizeof *y, (size_t)cnt, f) == (size_t)cnt && fclose(f) == 0);
    printf("  saved %s/%s.h5 and its logits\n", dir, model);
    free(y);
}

static const char *stem(const char *path, char *buf, size_t n)
{
    const char *s = strrchr(path, '/');
    snprintf(buf, n, "%s", s ? s + 1 : path);
    char *dot = strrchr(buf, '.');
    if (dot)
        *dot = '\0';
    return buf;
}

int main(int argc, char **argv)
{
    bool save = argc == 5 && strcmp(argv[3], "--save") == 0;
    bool given = argc == 5 && strcmp(argv[3], "--weights") == 0;
    bool write_only = argc == 5 && strcmp(argv[3], "--write-weights") == 0;
    if (argc != 3 && !save && !given && !write_only) {
        fprintf(stderr, "usage: %s CONFIG.yaml FIXTURE.h5 [--save DIR | --weights FILE | "
                "--write-weights FILE]\n", argv[0]);
        return 2;
    }
    char model[256], dir[] = "/tmp/cnn_tv_XXXXXX", wpath[512];
    stem(argv[2], model, sizeof model);
    cnn_err e = {0};
    cfg_node *root = NULL;
    net *n = NULL;
    backend *be = NULL;
    if (config_parse_file(argv[1], &root, &e) < 0 ||
        net_create(cfg_get(root, "model"), 2, &n, &e) < 0 ||
        backend_create("cpu", 0, &be, &e) < 0 || net_alloc(n, be, &e) < 0) {
        fprintf(stderr, "%s: %s (%s)\n", argv[1], e.msg, e.trace);
        return 1;
    }
    net_init(n, rng_key_from_seed(0));
    manifest m;
    rng_key base;
    float range[2];
    int64_t cnt = tensor_numel(net_output(n));
    CHECK_EQ(cnt, 2000);
    double *ref = xcalloc((size_t)cnt, sizeof *ref);
    read_fixture(argv[2], &m, &base, range, ref);

    if (write_only) {
        write_weights(argv[4], &m, base);
        printf("%s: wrote %s\n", model, argv[4]);
        return 0;
    }
    if (given) {
        snprintf(wpath, sizeof wpath, "%s", argv[4]);
    } else {
        CHECK(mkdtemp(dir));
        snprintf(wpath, sizeof wpath, "%s/%s.weights.h5", dir, model);
        write_weights(wpath, &m, base);
    }
    ckpt_meta meta;
    int rc = ckpt_load(wpath, n, &meta, NULL, 0, NULL, &e);
    if (!given) {
        unlink(wpath);
        rmdir(dir);
    }
    if (rc < 0) {
        fprintf(stderr, "%s (%s)\n", e.msg, e.trace);
        return 1;
    }
    CHECK(!meta.present);
    printf("%s: %d torchvision entries loaded strictly\n", model, m.n);
    float *y = forward(n, base, range);
    double rel = max_rel(y, ref, cnt);
    printf("  max |ours - ref| / max |ref| = %.3g (criterion <= %g)\n", rel, TOL_REL);
    CHECK(rel <= TOL_REL);
    if (save)
        save_ours(n, &m, argv[4], model, argv[1], base, range);

    free(y);
    free(ref);
    free(m.key);
    free(m.kind);
    free(m.ndim);
    free(m.dims);
    free(m.lo);
    free(m.hi);
    net_destroy(n);
    backend_destroy(be);
    cfg_free(root);
    printf("%s: ok\n", model);
    return 0;
}
