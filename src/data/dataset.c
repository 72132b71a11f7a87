/* The dataset reader (DESIGN.md "Data format"). dataset_open reads the master, validates
 * every shard against it (dataset_shard.c) and closes HDF5 again; what stays open is one
 * O_RDONLY descriptor per shard and the blob's file offset. dataset_read is then pread()
 * only: lock-free, thread-safe, no libhdf5 call, which serialises everything behind one
 * global lock. Small datasets (all blobs <= ram_bytes) are read whole at open instead: one
 * pread per tiny sample is syscall-bound, a memcpy is not (dataset_cache.c: the memory).
 * Shard files are named relative to the master's directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset_impl.h"


typedef struct master {
    char **files; /* (n_files): as many as the file lists, which may not be n_shards */
    int n_files;
    int64_t *samples;
    uint32_t *index_crc, *blob_crc;
} master;

static int parse_enum(hid_t f, const char *name, const char *a, const char *b, int *out,
                      cnn_err *e)
{
    char *v = NULL;
    CNN_TRY(e, io_h5_attr_get_str(f, name, true, &v, e));
    *out = strcmp(v, a) == 0 ? 0 : strcmp(v, b) == 0 ? 1 : -1;
    int rc = *out >= 0 ? CNN_OK
                       : CNN_ERR(e, CNN_EINVAL, "attribute %s is '%s', expected '%s' or '%s'",
                                 name, v, a, b);
    free(v);
    return rc;
}

static int read_info(hid_t f, dataset_info *in, cnn_err *e)
{
    char *fmt = NULL;
    CNN_TRY(e, io_h5_attr_get_str(f, "format", true, &fmt, e));
    int rc = strcmp(fmt, DATA_MASTER_FORMAT) == 0
                 ? CNN_OK
                 : CNN_ERR(e, CNN_EINVAL, "not a cnn-dist dataset master file (format '%s'%s)",
                           fmt, strcmp(fmt, DATA_SHARD_FORMAT) == 0 ? ": this is a shard, "
                           "open PREFIX.h5" : "");
    free(fmt);
    CNN_TRY(e, rc);
    int64_t v[5] = {0};
    CNN_TRY(e, io_h5_attr_get(f, "format_version", H5T_NATIVE_INT64, 1, &v[0], e));
    if (v[0] != DATA_FORMAT_VERSION)
        return CNN_ERR(e, CNN_EINVAL, "format version %lld; this build reads version %d, "
                       "repack the dataset", (long long)v[0], DATA_FORMAT_VERSION);
    static const char *const ints[4] = {"num_shards", "raw_h", "raw_w", "raw_c"};
    for (int i = 0; i < 4; i++) {
        CNN_TRY(e, io_h5_attr_get(f, ints[i], H5T_NATIVE_INT64, 1, &v[i + 1], e));
        if (v[i + 1] < 0 || v[i + 1] > 99999 || (i == 0 && v[1] < 1))
            return CNN_ERR(e, CNN_EINVAL, "attribute %s is %lld", ints[i], (long long)v[i + 1]);
    }
    in->n_shards = (int)v[1];
    in->raw_h = (int)v[2];
    in->raw_w = (int)v[3];
    in->raw_c = (int)v[4];
    CNN_TRY(e, io_h5_attr_get(f, "num_samples", H5T_NATIVE_INT64, 1, &in->n, e));
    if (in->n < 0 || in->n > DATA_MAX_SAMPLES)
        return CNN_ERR(e, CNN_EINVAL, "num_samples = %lld is outside [0, %lld] (the limit "
                       "DATA_MAX_SAMPLES); the master file is corrupt: repack the dataset",
                       (long long)in->n, (long long)DATA_MAX_SAMPLES);
    int mode = 0, task = 0;
    CNN_TRY(e, parse_enum(f, "mode", "encoded", "raw", &mode, e));
    CNN_TRY(e, parse_enum(f, "task", "classify", "segment", &task, e));
    in->mode = mode ? DATA_RAW : DATA_ENCODED;
    in->task = task ? DATA_SEGMENT : DATA_CLASSIFY;
    if (in->mode == DATA_RAW &&
        (in->raw_h < 1 || in->raw_w < 1 || (in->raw_c != 1 && in->raw_c != 3)))
        return CNN_ERR(e, CNN_EINVAL, "raw mode with image size %dx%dx%d", in->raw_h,
                       in->raw_w, in->raw_c);
    CNN_TRY(e, io_h5_attr_get(f, "mean", H5T_NATIVE_FLOAT, 3, in->mean, e));
    CNN_TRY(e, io_h5_attr_get(f, "std", H5T_NATIVE_FLOAT, 3, in->std, e));
    char *src = NULL;
    CNN_TRY(e, io_h5_attr_get_str(f, "source", true, &src, e));
    snprintf(in->source, sizeof in->source, "%s", src);
    free(src);
    CNN_TRY(e, data_read_strings(f, "classes", false, &in->classes, &in->n_classes, e));
    if (in->n_classes > DATA_MAX_CLASSES)
        return CNN_ERR(e, CNN_EINVAL, "%d classes, more than %d", in->n_classes,
                       DATA_MAX_CLASSES);
    return CNN_OK;
}

static int read_master(hid_t f, dataset_info *in, master *m, cnn_err *e)
{
    CNN_TRY(e, read_info(f, in, e));
    int ns = in->n_shards;
    CNN_TRY(e, data_read_strings(f, "shard_files", true, &m->files, &m->n_files, e));
    if (m->n_files != ns)
        return CNN_ERR(e, CNN_EINVAL, "dataset shard_files lists %d files for %d shards",
                       m->n_files, ns);
    for (int s = 0; s < ns; s++)
        if (!m->files[s][0] || strchr(m->files[s], '/'))
            return CNN_ERR(e, CNN_EINVAL, "shard_files[%d] = '%s' is not a file name", s,
                           m->files[s]);
    CNN_TRY(e, data_read_ints(f, "shard_samples", ns, 8, true, (void **)&m->samples, e));
    CNN_TRY(e, data_read_ints(f, "shard_index_crc32", ns, 4, false, (void **)&m->index_crc, e));
    CNN_TRY(e, data_read_ints(f, "shard_blob_crc32", ns, 4, false, (void **)&m->blob_crc, e));
    int64_t total = 0;
    for (int s = 0; s < ns; s++) {
        if (m->samples[s] < 0 || m->samples[s] > INT64_MAX / 2 - total)
            return CNN_ERR(e, CNN_EINVAL, "shard_samples[%d] is %lld", s, (long long)m->samples[s]);
        total += m->samples[s];
    }
    if (total != in->n)
        return CNN_ERR(e, CNN_EINVAL, "the shards hold %lld samples, num_samples says %lld",
                       (long long)total, (long long)in->n);
    return CNN_OK;
}

static int open_master(const char *path, dataset_info *in, master *m, cnn_err *e)
{
    if (access(path, R_OK) != 0)
        return CNN_ERR(e, CNN_EIO, "cannot read %s: %s", path, strerror(errno));
    io_h5_quiet q;
    io_h5_quiet_begin(&q);
    int rc = CNN_OK;
    if (H5Fis_hdf5(path) <= 0)
        rc = CNN_ERR(e, CNN_EINVAL, "not an HDF5 file (truncated or foreign)");
    hid_t f = rc ? -1 : io_h5_open_read(path, e);
    if (rc == CNN_OK)
        rc = f < 0 ? CNN_EIO : read_master(f, in, m, e);
    if (f >= 0)
        H5Fclose(f);
    io_h5_quiet_end(&q);
    return rc;
}

static char *shard_path(const char *master_path, const char *file)
{
    const char *slash = strrchr(master_path, '/');
    size_t dir = slash ? (size_t)(slash - master_path) + 1 : 0;
    char *p = cnn_xmalloc(dir + strlen(file) + 1);
    memcpy(p, master_path, dir);
    strcpy(p + dir, file);
    return p;
}

/* Index, descriptor and the blob checksum attribute; the blob itself is read later. */
static int open_shard(dataset *ds, const master *m, int s, cnn_err *e)
{
    const dataset_info *in = &ds->info;
    shard_r *sh = &ds->sh[s];
    data_shard_want w = {s, in->n_shards, in->mode, in->task, in->raw_h, in->raw_w, in->raw_c,
                         in->task == DATA_CLASSIFY ? in->n_classes : 0, m->samples[s], true,
                         m->index_crc[s]};
    CNN_TRY(e, data_shard_load(sh->path, &w, &sh->s, e));
    sh->fd = open(sh->path, O_RDONLY | O_CLOEXEC);
    if (sh->fd < 0)
        return CNN_ERR(e, CNN_EIO, "cannot open %s: %s", sh->path, strerror(errno));
    if (sh->s.blob_crc32 != m->blob_crc[s])
        return CNN_ERR(e, CNN_EINVAL, "shard file %s: blob checksum attribute %08x, the master "
                       "says %08x: the shard belongs to another packing; repack", sh->path,
                       sh->s.blob_crc32, m->blob_crc[s]);
    return CNN_OK;
}

/* When verify, the blob's crc32: from memory when cached, else streamed from the file. It
 * is not taken unasked: at zlib's 0.3-1 GB/s it would cost more than reading the blob. */
static int check_blob(const shard_r *sh, uint32_t want, bool verify, cnn_err *e)
{
    if (!verify)
        return CNN_OK;
    uint32_t crc = 0;
    if (sh->mem)
        crc = data_crc32(data_crc32(0, NULL, 0), sh->mem, (size_t)sh->s.blob_size);
    else
        CNN_TRY(e, data_blob_crc32(sh->fd, sh->path, &sh->s, &crc, e));
    if (crc != want)
        return CNN_ERR(e, CNN_EINVAL, "shard file %s: the blob's checksum is %08x, expected "
                       "%08x: the file is corrupt; repack or restore it", sh->path, crc, want);
    return CNN_OK;
}

static void master_free(master *m)
{
    for (int s = 0; m->files && s < m->n_files; s++)
        free(m->files[s]);
    free(m->files);
    free(m->samples);
    free(m->index_crc);
    free(m->blob_crc);
}

/* The master read and the shard table set up (paths, first indices), no shard opened. */
static int open_begin(const char *master_path, dataset **out, master *m, cnn_err *e)
{
    CNN_ASSERT(H5Tequal(H5T_NATIVE_INT64, H5T_STD_I64LE) > 0);
    dataset *ds = cnn_xcalloc(1, sizeof *ds);
    *out = ds;
    CNN_TRY(e, open_master(master_path, &ds->info, m, e));
    int ns = ds->info.n_shards;
    ds->sh = cnn_xcalloc((size_t)ns, sizeof *ds->sh);
    int64_t first = 0;
    for (int s = 0; s < ns; s++) {
        ds->sh[s].fd = -1;
        ds->sh[s].path = shard_path(master_path, m->files[s]);
        ds->sh[s].first = first;
        first += m->samples[s];
    }
    return CNN_OK;
}

int dataset_open_with(const char *master_path, const dataset_open_opts *o, dataset **out,
                      cnn_err *e)
{
    *out = NULL;
    dataset *ds = NULL;
    master m = {0};
    int rc = open_begin(master_path, &ds, &m, e);
    int ns = ds->sh ? ds->info.n_shards : 0;
    for (int s = 0; s < ns && rc == CNN_OK; s++)
        rc = open_shard(ds, &m, s, e);
    rc = dataset_cache_load(ds, o, rc, e); /* also on errors: it may call collectives */
    for (int s = 0; s < ns && rc == CNN_OK; s++)
        rc = check_blob(&ds->sh[s], m.blob_crc[s], o->verify_blobs, e);
    master_free(&m);
    if (rc < 0) {
        cnn_err_prefix(e, "dataset %s: ", master_path);
        dataset_close(ds);
        return rc;
    }
    *out = ds;
    return CNN_OK;
}

int dataset_open(const char *master_path, bool verify_blobs, dataset **out, cnn_err *e)
{
    dataset_open_opts o = {verify_blobs, DATASET_RAM_DEFAULT, NULL};
    return dataset_open_with(master_path, &o, out, e);
}

int dataset_check(const char *master_path, bool verify_blobs, dataset_check_fn fn, void *ctx,
                  int *n_bad, cnn_err *e)
{
    *n_bad = 0;
    dataset *ds = NULL;
    master m = {0};
    int rc = open_begin(master_path, &ds, &m, e);
    for (int s = 0; rc == CNN_OK && s < ds->info.n_shards; s++) {
        cnn_err bad = {0};
        int r = open_shard(ds, &m, s, &bad);
        if (r == CNN_OK)
            r = check_blob(&ds->sh[s], m.blob_crc[s], verify_blobs, &bad);
        if (r < 0) {
            data_shard_free(&ds->sh[s].s);
            (*n_bad)++;
        }
        fn(ctx, ds, s, r < 0 ? &bad : NULL);
    }
    if (rc < 0)
        cnn_err_prefix(e, "dataset %s: ", master_path);
    master_free(&m);
    dataset_close(ds);
    return rc;
}

const dataset_info *dataset_get_info(const dataset *ds) { return &ds->info; }

/* The shard holding global sample i: the last one whose first index is <= i. */
static const shard_r *find(const dataset *ds, int64_t i, int64_t *local)
{
    CNN_ASSERT(i >= 0 && i < ds->info.n);
    int lo = 0, hi = ds->info.n_shards - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (ds->sh[mid].first <= i)
            lo = mid;
        else
            hi = mid - 1;
    }
    while (i - ds->sh[lo].first >= ds->sh[lo].s.x.n) /* skips empty shards */
        lo++;
    *local = i - ds->sh[lo].first;
    return &ds->sh[lo];
}

void dataset_ref(const dataset *ds, int64_t i, sample_ref *r)
{
    int64_t k = 0;
    const shard_r *sh = find(ds, i, &k);
    const data_index *x = &sh->s.x;
    r->index = i;
    r->label = x->label[k];
    r->h = x->height[k];
    r->w = x->width[k];
    r->len = x->length[k];
    r->mask_len = x->has_mask ? x->mask_length[k] : 0;
}

static int read_span(const shard_r *sh, int64_t i, uint8_t *dst, int64_t off, int64_t len,
                     cnn_err *e)
{
    if (sh->mem) { /* check_samples put [off, off + len) inside the blob */
        memcpy(dst, sh->mem + off, (size_t)len);
        return CNN_OK;
    }
    int r = io_pread_all(sh->fd, dst, (size_t)len, (off_t)(sh->s.blob_off + off));
    if (r != 0)
        return CNN_ERR(e, CNN_EIO, "reading sample %lld from %s failed: %s", (long long)i,
                       sh->path, r > 0 ? "the file was truncated after opening" : strerror(errno));
    return CNN_OK;
}

int dataset_read(const dataset *ds, int64_t i, uint8_t *img, uint8_t *mask, cnn_err *e)
{
    int64_t k = 0;
    const shard_r *sh = find(ds, i, &k);
    const data_index *x = &sh->s.x;
    CNN_TRY(e, read_span(sh, i, img, x->offset[k], x->length[k], e));
    if (x->has_mask && mask)
        CNN_TRY(e, read_span(sh, i, mask, x->mask_offset[k], x->mask_length[k], e));
    return CNN_OK;
}

void dataset_shard(const dataset *ds, int s, const char **path, int64_t *n,
                   uint32_t *index_crc32, uint32_t *blob_crc32)
{
    CNN_ASSERT(s >= 0 && s < ds->info.n_shards);
    *path = ds->sh[s].path;
    *n = ds->sh[s].s.x.n;
    *index_crc32 = ds->sh[s].s.index_crc32;
    *blob_crc32 = ds->sh[s].s.blob_crc32;
}

void dataset_close(dataset *ds)
{
    if (!ds)
        return;
    for (int s = 0; ds->sh && s < ds->info.n_shards; s++) {
        if (ds->sh[s].fd >= 0)
            close(ds->sh[s].fd);
        free(ds->sh[s].path);
        data_shard_free(&ds->sh[s].s);
    }
    free(ds->sh);
    data_cache_free(&ds->cache);
    for (int i = 0; i < ds->info.n_classes; i++)
        free(ds->info.classes[i]);
    free(ds->info.classes);
    free(ds);
}
