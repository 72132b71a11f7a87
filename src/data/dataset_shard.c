/* Opening and validating one shard file (docs/data.md): format and version, what the master
 * says it holds, dtypes and shapes of the index datasets, their checksum, a contiguous
 * uint8 blob inside the file, and every sample's bytes inside the blob. Used by dataset_open
 * and by the writer, which re-reads each shard it wrote before renaming it into place. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_impl.h"

int data_read_ints(hid_t f, const char *name, int64_t n, int bytes, bool is_signed, void **out,
                   cnn_err *e)
{
    *out = NULL;
    htri_t has = CNN_H5(e, H5Lexists(f, name, H5P_DEFAULT));
    if (has <= 0)
        return has < 0 ? CNN_EIO : CNN_ERR(e, CNN_EINVAL, "dataset '%s' is missing", name);
    hid_t d = CNN_H5(e, H5Dopen2(f, name, H5P_DEFAULT));
    if (d < 0)
        return CNN_EIO;
    hid_t ft = CNN_H5(e, H5Dget_type(d)), sp = CNN_H5(e, H5Dget_space(d));
    int rc = ft < 0 || sp < 0 ? CNN_EIO : CNN_OK;
    hsize_t dim = 0;
    bool ok = rc == CNN_OK && H5Tget_class(ft) == H5T_INTEGER &&
              H5Tget_size(ft) == (size_t)bytes &&
              (H5Tget_sign(ft) == H5T_SGN_2) == is_signed;
    if (rc == CNN_OK && !ok)
        rc = CNN_ERR(e, CNN_EINVAL, "dataset '%s' has the wrong dtype: expected %sint%d",
                     name, is_signed ? "" : "u", bytes * 8);
    else if (rc == CNN_OK && (H5Sget_simple_extent_ndims(sp) != 1 ||
                              H5Sget_simple_extent_dims(sp, &dim, NULL) != 1 ||
                              dim != (hsize_t)n))
        rc = CNN_ERR(e, CNN_EINVAL, "dataset '%s' has the wrong shape: expected (%lld,)", name,
                     (long long)n);
    hid_t mt = bytes == 8 ? (is_signed ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64)
                          : (is_signed ? H5T_NATIVE_INT32 : H5T_NATIVE_UINT32);
    void *v = rc ? NULL : cnn_xmalloc((size_t)(n > 0 ? n : 1) * (size_t)bytes);
    if (rc == CNN_OK && n > 0 &&
        CNN_H5(e, H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v)) < 0)
        rc = CNN_EIO;
    if (ft >= 0)
        H5Tclose(ft);
    if (sp >= 0)
        H5Sclose(sp);
    H5Dclose(d);
    if (rc < 0)
        free(v);
    else
        *out = v;
    return rc;
}

static int want_i64(hid_t f, const char *name, int64_t want, cnn_err *e)
{
    int64_t v = 0;
    CNN_TRY(e, io_h5_attr_get(f, name, H5T_NATIVE_INT64, 1, &v, e));
    if (v != want)
        return CNN_ERR(e, CNN_EINVAL, "attribute %s is %lld, the master says %lld", name,
                       (long long)v, (long long)want);
    return CNN_OK;
}

static int want_str(hid_t f, const char *name, const char *want, cnn_err *e)
{
    char *v = NULL;
    CNN_TRY(e, io_h5_attr_get_str(f, name, true, &v, e));
    int rc = strcmp(v, want) == 0
                 ? CNN_OK
                 : CNN_ERR(e, CNN_EINVAL, "attribute %s is '%s', expected '%s'", name, v, want);
    free(v);
    return rc;
}

static int check_attrs(hid_t f, const data_shard_want *w, int64_t *n, cnn_err *e)
{
    char *fmt = NULL;
    CNN_TRY(e, io_h5_attr_get_str(f, "format", true, &fmt, e));
    int rc = strcmp(fmt, DATA_SHARD_FORMAT) == 0
                 ? CNN_OK
                 : CNN_ERR(e, CNN_EINVAL, "not a cnn-dist dataset shard (format '%s')", fmt);
    free(fmt);
    CNN_TRY(e, rc);
    int64_t ver = 0;
    CNN_TRY(e, io_h5_attr_get(f, "format_version", H5T_NATIVE_INT64, 1, &ver, e));
    if (ver != DATA_FORMAT_VERSION)
        return CNN_ERR(e, CNN_EINVAL, "format version %lld; this build reads version %d, "
                       "repack the dataset with this cnn-pack", (long long)ver,
                       DATA_FORMAT_VERSION);
    CNN_TRY(e, want_i64(f, "shard", w->shard, e));
    CNN_TRY(e, want_i64(f, "num_shards", w->n_shards, e));
    CNN_TRY(e, want_str(f, "mode", w->mode == DATA_RAW ? "raw" : "encoded", e));
    CNN_TRY(e, want_str(f, "task", w->task == DATA_SEGMENT ? "segment" : "classify", e));
    if (w->mode == DATA_RAW) {
        CNN_TRY(e, want_i64(f, "raw_h", w->raw_h, e));
        CNN_TRY(e, want_i64(f, "raw_w", w->raw_w, e));
        CNN_TRY(e, want_i64(f, "raw_c", w->raw_c, e));
    }
    CNN_TRY(e, io_h5_attr_get(f, "num_samples", H5T_NATIVE_INT64, 1, n, e));
    if (*n > DATA_MAX_SAMPLES)
        return CNN_ERR(e, CNN_EINVAL, "num_samples = %lld is above the limit of %lld samples "
                       "per shard (DATA_MAX_SAMPLES); the file is corrupt: repack or restore "
                       "it", (long long)*n, (long long)DATA_MAX_SAMPLES);
    if (*n < 0 || (w->n >= 0 && *n != w->n))
        return CNN_ERR(e, CNN_EINVAL, "holds %lld samples, the master says %lld",
                       (long long)*n, (long long)w->n);
    return CNN_OK;
}

static int read_index(hid_t f, int64_t n, data_index *x, cnn_err *e)
{
    x->n = n;
    CNN_TRY(e, data_read_ints(f, "offset", n, 8, true, (void **)&x->offset, e));
    CNN_TRY(e, data_read_ints(f, "length", n, 8, true, (void **)&x->length, e));
    CNN_TRY(e, data_read_ints(f, "label", n, 4, true, (void **)&x->label, e));
    CNN_TRY(e, data_read_ints(f, "height", n, 4, true, (void **)&x->height, e));
    CNN_TRY(e, data_read_ints(f, "width", n, 4, true, (void **)&x->width, e));
    if (x->has_mask) {
        CNN_TRY(e, data_read_ints(f, "mask_offset", n, 8, true, (void **)&x->mask_offset, e));
        CNN_TRY(e, data_read_ints(f, "mask_length", n, 8, true, (void **)&x->mask_length, e));
    }
    return CNN_OK;
}

/* The blob: uint8, 1-D, contiguous in this file (not chunked, compressed or external). */
static int open_blob(hid_t f, data_shard *s, cnn_err *e)
{
    hid_t d = CNN_H5(e, H5Dopen2(f, "blob", H5P_DEFAULT));
    if (d < 0)
        return CNN_EIO;
    hid_t ft = CNN_H5(e, H5Dget_type(d)), sp = CNN_H5(e, H5Dget_space(d));
    hid_t dcpl = CNN_H5(e, H5Dget_create_plist(d));
    int rc = ft < 0 || sp < 0 || dcpl < 0 ? CNN_EIO : CNN_OK;
    hsize_t dim = 0;
    if (rc == CNN_OK && (H5Tget_class(ft) != H5T_INTEGER || H5Tget_size(ft) != 1 ||
                         H5Tget_sign(ft) != H5T_SGN_NONE))
        rc = CNN_ERR(e, CNN_EINVAL, "dataset 'blob' has the wrong dtype: expected uint8");
    else if (rc == CNN_OK && (H5Sget_simple_extent_ndims(sp) != 1 ||
                              H5Sget_simple_extent_dims(sp, &dim, NULL) != 1))
        rc = CNN_ERR(e, CNN_EINVAL, "dataset 'blob' is not 1-D");
    else if (rc == CNN_OK &&
             (H5Pget_layout(dcpl) != H5D_CONTIGUOUS || H5Pget_external_count(dcpl) != 0))
        rc = CNN_ERR(e, CNN_EINVAL, "dataset 'blob' is not stored contiguously in the file "
                     "(chunked, compressed or external); repack it with cnn-pack");
    if (rc == CNN_OK && dim > (hsize_t)INT64_MAX)
        rc = CNN_ERR(e, CNN_EINVAL, "dataset 'blob' claims %llu bytes", (unsigned long long)dim);
    s->blob_size = rc ? 0 : (int64_t)dim;
    haddr_t off = rc || dim == 0 ? 0 : H5Dget_offset(d);
    if (rc == CNN_OK && dim > 0 && off == HADDR_UNDEF)
        rc = CNN_ERR(e, CNN_EINVAL, "dataset 'blob' has no storage in the file");
    s->blob_off = (int64_t)off;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (ft >= 0)
        H5Tclose(ft);
    if (sp >= 0)
        H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

static int check_span(int64_t i, const char *what, int64_t off, int64_t len, int64_t blob,
                      cnn_err *e)
{
    if (off < 0 || len < 0 || off > blob || len > blob - off)
        return CNN_ERR(e, CNN_EINVAL, "sample %lld: %s bytes [%lld, +%lld) lie outside the "
                       "%lld-byte blob", (long long)i, what, (long long)off, (long long)len,
                       (long long)blob);
    return CNN_OK;
}

static int check_samples(const data_shard *s, const data_shard_want *w, cnn_err *e)
{
    const data_index *x = &s->x;
    int64_t raw = (int64_t)w->raw_h * w->raw_w * w->raw_c;
    for (int64_t i = 0; i < x->n; i++) {
        CNN_TRY(e, check_span(i, "image", x->offset[i], x->length[i], s->blob_size, e));
        if (x->height[i] < 1 || x->width[i] < 1)
            return CNN_ERR(e, CNN_EINVAL, "sample %lld has size %dx%d", (long long)i,
                           x->height[i], x->width[i]);
        if (w->mode == DATA_RAW && (x->length[i] != raw || x->height[i] != w->raw_h ||
                                    x->width[i] != w->raw_w))
            return CNN_ERR(e, CNN_EINVAL, "raw sample %lld is %dx%d with %lld bytes, not "
                           "%dx%dx%d", (long long)i, x->height[i], x->width[i],
                           (long long)x->length[i], w->raw_h, w->raw_w, w->raw_c);
        if (w->task == DATA_CLASSIFY &&
            (x->label[i] < 0 || (w->n_classes > 0 && x->label[i] >= w->n_classes)))
            return CNN_ERR(e, CNN_EINVAL, "sample %lld has label %d, outside the %d classes",
                           (long long)i, x->label[i], w->n_classes);
        if (w->task == DATA_SEGMENT) {
            CNN_TRY(e, check_span(i, "mask", x->mask_offset[i], x->mask_length[i],
                                  s->blob_size, e));
            if (w->mode == DATA_RAW &&
                x->mask_length[i] != (int64_t)x->height[i] * x->width[i])
                return CNN_ERR(e, CNN_EINVAL, "raw mask of sample %lld has %lld bytes, not "
                               "%dx%d", (long long)i, (long long)x->mask_length[i],
                               x->height[i], x->width[i]);
        }
    }
    return CNN_OK;
}

static int load(hid_t f, const char *path, const data_shard_want *w, data_shard *s, cnn_err *e)
{
    int64_t n = 0;
    struct stat st;
    if (stat(path, &st) != 0)
        return CNN_ERR(e, CNN_EIO, "stat failed: %s", strerror(errno));
    CNN_TRY(e, check_attrs(f, w, &n, e));
    if (n > (int64_t)st.st_size) /* every sample has index bytes in the file */
        return CNN_ERR(e, CNN_EINVAL, "num_samples = %lld cannot fit in a %lld-byte file",
                       (long long)n, (long long)st.st_size);
    s->x.has_mask = w->task == DATA_SEGMENT;
    CNN_TRY(e, read_index(f, n, &s->x, e));
    CNN_TRY(e, io_h5_attr_get(f, "index_crc32", H5T_NATIVE_UINT32, 1, &s->index_crc32, e));
    CNN_TRY(e, io_h5_attr_get(f, "blob_crc32", H5T_NATIVE_UINT32, 1, &s->blob_crc32, e));
    uint32_t crc = data_index_crc32(&s->x);
    if (crc != s->index_crc32 || (w->has_index_crc && crc != w->index_crc32))
        return CNN_ERR(e, CNN_EINVAL, "the index datasets' checksum is %08x, the file says "
                       "%08x and the master %08x: the file is corrupt; repack or restore it",
                       crc, s->index_crc32, w->has_index_crc ? w->index_crc32 : crc);
    CNN_TRY(e, open_blob(f, s, e));
    if (s->blob_size > (int64_t)st.st_size || s->blob_off > (int64_t)st.st_size - s->blob_size)
        return CNN_ERR(e, CNN_EINVAL, "the file is truncated: its blob ends at byte %llu, the "
                       "file has %lld",
                       (unsigned long long)s->blob_off + (unsigned long long)s->blob_size,
                       (long long)st.st_size);
    return check_samples(s, w, e);
}

int data_shard_load(const char *path, const data_shard_want *w, data_shard *out, cnn_err *e)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0)
        return CNN_ERR(e, CNN_EIO, "shard file %s: %s; is the dataset complete?", path,
                       strerror(errno));
    io_h5_quiet q;
    io_h5_quiet_begin(&q);
    int rc = CNN_OK;
    if (H5Fis_hdf5(path) <= 0)
        rc = CNN_ERR(e, CNN_EINVAL, "not an HDF5 file (truncated or foreign)");
    hid_t f = rc ? -1 : io_h5_open_read(path, e);
    if (rc == CNN_OK)
        rc = f < 0 ? CNN_EIO : load(f, path, w, out, e);
    if (f >= 0 && H5Fclose(f) < 0 && rc == CNN_OK)
        rc = CNN_H5(e, -1);
    io_h5_quiet_end(&q);
    if (rc < 0) {
        data_shard_free(out);
        cnn_err_prefix(e, "shard file %s: ", path);
    }
    return rc;
}

void data_index_free(data_index *x)
{
    free(x->offset);
    free(x->length);
    free(x->label);
    free(x->height);
    free(x->width);
    free(x->mask_offset);
    free(x->mask_length);
    memset(x, 0, sizeof *x);
}

void data_shard_free(data_shard *s)
{
    data_index_free(&s->x);
    memset(s, 0, sizeof *s);
}

int data_blob_crc32(int fd, const char *path, const data_shard *s, uint32_t *crc, cnn_err *e)
{
    size_t chunk = (size_t)4 << 20;
    char *buf = cnn_xmalloc(chunk);
    uint32_t c = data_crc32(0, NULL, 0);
    int rc = CNN_OK;
    for (int64_t done = 0; done < s->blob_size && rc == CNN_OK;) {
        size_t k = (size_t)(s->blob_size - done) < chunk ? (size_t)(s->blob_size - done) : chunk;
        int r = io_pread_all(fd, buf, k, (off_t)(s->blob_off + done));
        if (r != 0)
            rc = CNN_ERR(e, CNN_EIO, "reading the blob of %s failed: %s", path,
                         r > 0 ? "the file is truncated" : strerror(errno));
        c = data_crc32(c, buf, k);
        done += (int64_t)k;
    }
    free(buf);
    *crc = c;
    return rc;
}
