/* Pieces of the dataset format shared by writer and reader: string datasets, crc32 over
 * the index datasets in their fixed order, and shard file names (docs/data.md). */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data_impl.h"

static int read_vlen(hid_t d, hid_t sp, int n, char **v, cnn_err *e)
{
    hid_t mt = io_h5_vlen_str_type(e);
    if (mt < 0)
        return CNN_EIO;
    char **raw = cnn_xcalloc((size_t)n, sizeof *raw);
    int rc = CNN_H5(e, H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw)) < 0 ? CNN_EIO : 0;
    for (int i = 0; i < n && rc == CNN_OK; i++)
        v[i] = cnn_xstrdup(raw[i] ? raw[i] : "");
    if (rc == CNN_OK)
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw);
    free(raw);
    H5Tclose(mt);
    return rc;
}

static int read_fixed(hid_t d, const char *name, hid_t ft, int n, char **v, cnn_err *e)
{
    size_t len = H5Tget_size(ft);
    /* The type's size comes from the file: checked before it sizes an allocation. */
    if (len > (size_t)DATA_MAX_STRING_BYTES / (size_t)n)
        return CNN_ERR(e, CNN_EINVAL, "dataset '%s' holds %d strings of %zu bytes, above the "
                       "limit of %lld bytes (DATA_MAX_STRING_BYTES)", name, n, len,
                       (long long)DATA_MAX_STRING_BYTES);
    char *buf = cnn_xcalloc((size_t)n, len + 1);
    hid_t mt = CNN_H5(e, H5Tcopy(ft));
    int rc = mt < 0 || CNN_H5(e, H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf)) < 0
                 ? CNN_EIO
                 : CNN_OK;
    for (int i = n - 1; i >= 0 && rc == CNN_OK; i--) {
        char *s = cnn_xcalloc(len + 1, 1);
        memcpy(s, buf + (size_t)i * len, len);
        v[i] = s;
    }
    if (mt >= 0)
        H5Tclose(mt);
    free(buf);
    return rc;
}

int data_read_strings(hid_t loc, const char *name, bool required, char ***out, int *n,
                      cnn_err *e)
{
    *out = NULL;
    *n = 0;
    htri_t has = CNN_H5(e, H5Lexists(loc, name, H5P_DEFAULT));
    if (has < 0)
        return CNN_EIO;
    if (!has)
        return required ? CNN_ERR(e, CNN_EINVAL, "dataset '%s' is missing", name) : CNN_OK;
    hid_t d = CNN_H5(e, H5Dopen2(loc, name, H5P_DEFAULT));
    if (d < 0)
        return CNN_EIO;
    hid_t ft = CNN_H5(e, H5Dget_type(d)), sp = CNN_H5(e, H5Dget_space(d));
    int rc = ft < 0 || sp < 0 ? CNN_EIO : CNN_OK;
    hssize_t cnt = rc ? 0 : H5Sget_simple_extent_npoints(sp);
    if (rc == CNN_OK && (H5Tget_class(ft) != H5T_STRING || H5Sget_simple_extent_ndims(sp) != 1))
        rc = CNN_ERR(e, CNN_EINVAL, "dataset '%s' is not a 1-D array of strings", name);
    else if (rc == CNN_OK && (cnt < 0 || cnt > DATA_MAX_CLASSES * 10))
        rc = CNN_ERR(e, CNN_EINVAL, "dataset '%s' has %lld strings, more than supported",
                     name, (long long)cnt);
    char **v = NULL;
    if (rc == CNN_OK && cnt > 0) {
        v = cnn_xcalloc((size_t)cnt, sizeof *v);
        rc = H5Tis_variable_str(ft) > 0 ? read_vlen(d, sp, (int)cnt, v, e)
                                        : read_fixed(d, name, ft, (int)cnt, v, e);
    }
    if (ft >= 0)
        H5Tclose(ft);
    if (sp >= 0)
        H5Sclose(sp);
    H5Dclose(d);
    if (rc < 0) {
        for (hssize_t i = 0; v && i < cnt; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    *out = v;
    *n = (int)cnt;
    return CNN_OK;
}

int data_write_strings(hid_t loc, const char *name, char *const *s, int n, cnn_err *e)
{
    if (n == 0)
        return CNN_OK;
    hid_t t = io_h5_vlen_str_type(e);
    if (t < 0)
        return CNN_EIO;
    int rc = io_h5_write_array(loc, name, t, t, s, n, e);
    H5Tclose(t);
    return rc;
}

uint32_t data_crc32(uint32_t crc, const void *p, size_t n)
{
    return (uint32_t)crc32_z(crc, (const Bytef *)p, n);
}

/* The arrays' bytes as stored in memory: little-endian on every platform we build for
 * (checked by the callers' CNN_ASSERT on H5T_NATIVE_INT64 == H5T_STD_I64LE). */
uint32_t data_index_crc32(const data_index *x)
{
    size_t n = (size_t)x->n;
    uint32_t c = data_crc32(0, NULL, 0);
    c = data_crc32(c, x->offset, n * sizeof(int64_t));
    c = data_crc32(c, x->length, n * sizeof(int64_t));
    c = data_crc32(c, x->label, n * sizeof(int32_t));
    c = data_crc32(c, x->height, n * sizeof(int32_t));
    c = data_crc32(c, x->width, n * sizeof(int32_t));
    if (x->has_mask) {
        c = data_crc32(c, x->mask_offset, n * sizeof(int64_t));
        c = data_crc32(c, x->mask_length, n * sizeof(int64_t));
    }
    return c;
}

char *data_shard_name(const char *prefix, int shard, int n_shards, bool base_only)
{
    const char *p = prefix;
    if (base_only && strrchr(prefix, '/'))
        p = strrchr(prefix, '/') + 1;
    size_t len = strlen(p) + 40;
    char *s = cnn_xmalloc(len);
    snprintf(s, len, "%s-%05d-of-%05d.h5", p, shard, n_shards);
    return s;
}
