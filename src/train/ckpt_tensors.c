/* A checkpoint's tensors without a net (train.h ckpt_list, ckpt_read_tensor): what
 * `cnn-dist filters` draws, from our checkpoints and from weights-only files alike (any
 * h5py dump of a state_dict). Only float datasets at the root count; their values are read
 * as f32 and checked against the stored checksum when the file has one. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_impl.h"

#define READ_MAX_ELEMENTS ((int64_t)1 << 31) /* 8 GiB of f32: no weight is larger */

typedef struct lister {
    ckpt_entry *v;
    int n, cap;
    cnn_err *e;
} lister;

/* The float dataset's shape, or false (not a float dataset, or more than CNN_MAX_DIMS). */
static bool float_shape(hid_t d, shape *s)
{
    hid_t ty = H5Dget_type(d), sp = H5Dget_space(d);
    bool ok = ty >= 0 && sp >= 0 && H5Tget_class(ty) == H5T_FLOAT;
    int nd = ok ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t dims[CNN_MAX_DIMS];
    ok = ok && nd >= 0 && nd <= CNN_MAX_DIMS && H5Sget_simple_extent_dims(sp, dims, NULL) >= 0;
    if (ok) {
        *s = (shape){.nd = nd};
        for (int i = 0; i < nd; i++)
            s->d[i] = (int64_t)dims[i];
    }
    if (ty >= 0)
        H5Tclose(ty);
    if (sp >= 0)
        H5Sclose(sp);
    return ok;
}

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *ctx)
{
    lister *l = ctx;
    if (info->type != H5L_TYPE_HARD)
        return 0;
    H5O_info_t oi;
    if (CNN_H5(l->e, H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT)) < 0)
        return -1;
    if (oi.type != H5O_TYPE_DATASET)
        return 0;
    hid_t d = CNN_H5(l->e, H5Dopen2(g, name, H5P_DEFAULT));
    if (d < 0)
        return -1;
    shape s;
    if (float_shape(d, &s)) {
        if (l->n == l->cap)
            l->v = cnn_xgrow(l->v, &l->cap, sizeof *l->v);
        l->v[l->n++] = (ckpt_entry){cnn_xstrdup(name), s};
    }
    H5Dclose(d);
    return 0;
}

/* A missing file or one that is not HDF5 said plainly, before HDF5's own messages. */
static int readable_h5(const char *path, cnn_err *e)
{
    if (access(path, R_OK) != 0)
        return CNN_ERR(e, CNN_EIO, "checkpoint %s: cannot read it: %s", path, strerror(errno));
    io_h5_quiet q;
    io_h5_quiet_begin(&q);
    htri_t is = H5Fis_hdf5(path);
    io_h5_quiet_end(&q);
    if (is <= 0)
        return CNN_ERR(e, CNN_EINVAL, "checkpoint %s is not an HDF5 file (a cnn-dist checkpoint "
                       "or a tools/torch_export.py file)", path);
    return CNN_OK;
}

int ckpt_list(const char *path, ckpt_entry **out, int *n, cnn_err *e)
{
    *out = NULL;
    *n = 0;
    CNN_TRY(e, readable_h5(path, e));
    io_h5_quiet q;
    io_h5_quiet_begin(&q);
    hid_t f = io_h5_open_read(path, e);
    lister l = {.e = e};
    int rc = f < 0 ? CNN_EIO : CNN_OK;
    if (rc == CNN_OK && CNN_H5(e, H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, NULL, list_cb,
                                             &l)) < 0)
        rc = CNN_EIO;
    if (f >= 0)
        H5Fclose(f);
    io_h5_quiet_end(&q);
    if (rc < 0) {
        ckpt_list_free(l.v, l.n);
        cnn_err_prefix(e, "reading %s: ", path);
        return rc;
    }
    *out = l.v;
    *n = l.n;
    return CNN_OK;
}

void ckpt_list_free(ckpt_entry *v, int n)
{
    for (int i = 0; v && i < n; i++)
        free(v[i].name);
    free(v);
}

int ckpt_read_tensor(const char *path, const char *name, float **data, shape *s, cnn_err *e)
{
    *data = NULL;
    CNN_TRY(e, readable_h5(path, e));
    io_h5_quiet q;
    io_h5_quiet_begin(&q);
    hid_t f = io_h5_open_read(path, e), d = -1;
    int rc = f < 0 ? CNN_EIO : CNN_OK;
    if (rc == CNN_OK && H5Lexists(f, name, H5P_DEFAULT) <= 0)
        rc = CNN_ERR(e, CNN_EINVAL, "no tensor '%s' in the file", name);
    if (rc == CNN_OK && (d = CNN_H5(e, H5Dopen2(f, name, H5P_DEFAULT))) < 0)
        rc = CNN_EIO;
    if (rc == CNN_OK && !float_shape(d, s))
        rc = CNN_ERR(e, CNN_EINVAL, "'%s' is not a float tensor", name);
    int64_t count = rc == CNN_OK ? shape_numel(s) : 0;
    if (rc == CNN_OK && (count < 1 || count > READ_MAX_ELEMENTS))
        rc = CNN_ERR(e, CNN_EINVAL, "'%s' has %lld elements; between 1 and %lld are read",
                     name, (long long)count, (long long)READ_MAX_ELEMENTS);
    if (rc == CNN_OK) {
        *data = cnn_xmalloc((size_t)count * sizeof **data);
        if (CNN_H5(e, H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data)) < 0)
            rc = CNN_EIO;
    }
    if (rc == CNN_OK && H5Lexists(f, CKPT_CHECKSUMS, H5P_DEFAULT) > 0)
        rc = ckpt_check_sum(f, name, *data, (size_t)count * sizeof **data, e);
    if (d >= 0)
        H5Dclose(d);
    if (f >= 0)
        H5Fclose(f);
    io_h5_quiet_end(&q);
    if (rc < 0) {
        free(*data);
        *data = NULL;
        cnn_err_prefix(e, "reading %s: ", path);
    }
    return rc;
}
