/* HDF5 attributes: numbers (scalar or 1-D) and strings, written as h5py writes them
 * (variable-length UTF-8 for str) and read back with their count and class checked, so a
 * file edited by hand is reported, not misread. */
#include <stdlib.h>
#include <string.h>

#include "io.h"

hid_t io_h5_vlen_str_type(cnn_err *e)
{
    hid_t t = CNN_H5(e, H5Tcopy(H5T_C_S1));
    if (t < 0)
        return t;
    if (CNN_H5(e, H5Tset_size(t, H5T_VARIABLE)) < 0 ||
        CNN_H5(e, H5Tset_cset(t, H5T_CSET_UTF8)) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

int io_h5_attr_put(hid_t obj, const char *name, hid_t file_type, hid_t mem_type, int n,
                   const void *v, cnn_err *e)
{
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp = CNN_H5(e, n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL));
    if (sp < 0)
        return CNN_EIO;
    hid_t a = CNN_H5(e, H5Acreate2(obj, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT));
    int rc = a < 0 || CNN_H5(e, H5Awrite(a, mem_type, v)) < 0 ? CNN_EIO : CNN_OK;
    if (a >= 0 && CNN_H5(rc ? NULL : e, H5Aclose(a)) < 0)
        rc = CNN_EIO;
    H5Sclose(sp);
    return rc;
}

int io_h5_attr_put_i64(hid_t obj, const char *name, int64_t v, cnn_err *e)
{
    return io_h5_attr_put(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &v, e);
}

int io_h5_attr_put_u32(hid_t obj, const char *name, uint32_t v, cnn_err *e)
{
    return io_h5_attr_put(obj, name, H5T_STD_U32LE, H5T_NATIVE_UINT32, 1, &v, e);
}

int io_h5_attr_put_f32(hid_t obj, const char *name, const float *v, int n, cnn_err *e)
{
    return io_h5_attr_put(obj, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, n, v, e);
}

int io_h5_attr_put_str(hid_t obj, const char *name, const char *s, cnn_err *e)
{
    hid_t t = io_h5_vlen_str_type(e);
    if (t < 0)
        return CNN_EIO;
    int rc = io_h5_attr_put(obj, name, t, t, 1, &s, e);
    H5Tclose(t);
    return rc;
}

/* Opens attribute name of obj into *out and checks it has n elements (1: scalar or (1)). */
static int attr_open(hid_t obj, const char *name, int n, hid_t *out, cnn_err *e)
{
    htri_t has = CNN_H5(e, H5Aexists(obj, name));
    if (has < 0)
        return CNN_EIO;
    if (!has)
        return CNN_ERR(e, CNN_EINVAL, "attribute '%s' is missing", name);
    hid_t a = CNN_H5(e, H5Aopen(obj, name, H5P_DEFAULT));
    if (a < 0)
        return CNN_EIO;
    hid_t sp = CNN_H5(e, H5Aget_space(a));
    hssize_t got = sp < 0 ? -1 : CNN_H5(e, H5Sget_simple_extent_npoints(sp));
    if (sp >= 0)
        H5Sclose(sp);
    if (got != n) {
        H5Aclose(a);
        if (got < 0)
            return CNN_EIO;
        return CNN_ERR(e, CNN_EINVAL, "attribute '%s' has %lld values, expected %d", name,
                       (long long)got, n);
    }
    *out = a;
    return CNN_OK;
}

int io_h5_attr_get(hid_t obj, const char *name, hid_t mem_type, int n, void *v, cnn_err *e)
{
    hid_t a = -1;
    CNN_TRY(e, attr_open(obj, name, n, &a, e));
    hid_t ft = CNN_H5(e, H5Aget_type(a));
    H5T_class_t want = H5Tget_class(mem_type);
    int rc = CNN_OK;
    if (ft < 0)
        rc = CNN_EIO;
    else if (H5Tget_class(ft) != want)
        rc = CNN_ERR(e, CNN_EINVAL, "attribute '%s' is not %s", name,
                     want == H5T_FLOAT ? "a float" : "an integer");
    else if (CNN_H5(e, H5Aread(a, mem_type, v)) < 0)
        rc = CNN_EIO;
    if (ft >= 0)
        H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

/* The string of attribute a, whose file type is ft, read in that same type. */
static int read_str(hid_t a, hid_t ft, char **out, cnn_err *e)
{
    if (H5Tget_class(ft) != H5T_STRING)
        return CNN_ERR(e, CNN_EINVAL, "not a string");
    hid_t mt = CNN_H5(e, H5Tcopy(ft));
    if (mt < 0)
        return CNN_EIO;
    int rc = CNN_OK;
    if (H5Tis_variable_str(ft) > 0) {
        char *s = NULL;
        if (CNN_H5(e, H5Aread(a, mt, &s)) < 0)
            rc = CNN_EIO;
        else
            *out = cnn_xstrdup(s ? s : "");
        if (s)
            H5free_memory(s);
    } else if (H5Tget_size(ft) > IO_H5_MAX_STR_BYTES) {
        rc = CNN_ERR(e, CNN_EINVAL, "a string of %zu bytes, above the limit of %zu bytes "
                     "(IO_H5_MAX_STR_BYTES)", H5Tget_size(ft), IO_H5_MAX_STR_BYTES);
    } else {
        char *s = cnn_xcalloc(H5Tget_size(ft) + 1, 1);
        if (CNN_H5(e, H5Aread(a, mt, s)) < 0) {
            free(s);
            rc = CNN_EIO;
        } else {
            *out = s;
        }
    }
    H5Tclose(mt);
    return rc;
}

int io_h5_attr_get_str(hid_t obj, const char *name, bool required, char **out, cnn_err *e)
{
    *out = NULL;
    if (!required) {
        htri_t has = CNN_H5(e, H5Aexists(obj, name));
        if (has <= 0)
            return has < 0 ? CNN_EIO : CNN_OK;
    }
    hid_t a = -1;
    CNN_TRY(e, attr_open(obj, name, 1, &a, e));
    hid_t ft = CNN_H5(e, H5Aget_type(a));
    int rc = ft < 0 ? CNN_EIO : read_str(a, ft, out, e);
    if (ft >= 0)
        H5Tclose(ft);
    H5Aclose(a);
    if (rc < 0)
        cnn_err_prefix(e, "attribute '%s': ", name);
    return rc;
}
