/* HDF5 plumbing of the dataset format: checked calls that turn HDF5's error stack into a
 * cnn_err message (STYLE.md 13), silencing HDF5's own printing, in-memory file images,
 * attributes and string datasets. Written for src/data (modules do not share private
 * headers), in the manner of src/train/ckpt_h5.c. */
#include <stdlib.h>
#include <string.h>

#include "data_impl.h"

typedef struct h5_walk {
    int n;
    char inner[256], minor[128], outer[256];
} h5_walk;

static herr_t walk_cb(unsigned n, const H5E_error2_t *d, void *ctx)
{
    h5_walk *w = ctx;
    if (n == 0) {
        snprintf(w->inner, sizeof w->inner, "%s", d->desc ? d->desc : "");
        if (H5Eget_msg(d->min_num, NULL, w->minor, sizeof w->minor) < 0)
            w->minor[0] = '\0';
    }
    snprintf(w->outer, sizeof w->outer, "%s", d->desc ? d->desc : "");
    w->n++;
    return 0;
}

int64_t data_h5_check(int64_t rc, const char *call, const char *file, int line, cnn_err *e)
{
    if (rc >= 0)
        return rc;
    h5_walk w = {0};
    hid_t st = H5Eget_current_stack();
    if (st >= 0) {
        H5Ewalk2(st, H5E_WALK_UPWARD, walk_cb, &w);
        H5Eclose_stack(st);
    }
    char why[640];
    if (w.n == 0)
        snprintf(why, sizeof why, "no HDF5 error record");
    else if (w.n == 1 || strcmp(w.inner, w.outer) == 0)
        snprintf(why, sizeof why, "%s (%s)", w.outer, w.minor);
    else
        snprintf(why, sizeof why, "%s: %s (%s)", w.outer, w.inner, w.minor);
    for (char *c = why; *c; c++)
        if (*c == '\n')
            *c = ' ';
    const char *base = strrchr(file, '/');
    cnn_err_set(e, CNN_EIO, file, line, "HDF5 call %s failed at %s:%d on rank %d: %s", call,
                base ? base + 1 : file, line, cnn_proc_rank(), why);
    return rc;
}

void data_h5_quiet_begin(data_h5_quiet *q)
{
    if (H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data) < 0) {
        q->fn = NULL;
        q->data = NULL;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void data_h5_quiet_end(const data_h5_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->fn, q->data); }

hid_t data_fapl_read(cnn_err *e)
{
    hid_t p = CNN_H5(e, H5Pcreate(H5P_FILE_ACCESS));
    if (p >= 0 && CNN_H5(e, H5Pset_fclose_degree(p, H5F_CLOSE_STRONG)) < 0) {
        H5Pclose(p);
        return -1;
    }
    return p;
}

static void *img_malloc(size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op;
    void *p = malloc(size);
    if (p)
        ((data_image *)udata)->size = size;
    return p;
}

static void *img_memcpy(void *dst, const void *src, size_t n, H5FD_file_image_op_t op,
                        void *udata)
{
    (void)op;
    (void)udata;
    return memcpy(dst, src, n);
}

static void *img_realloc(void *p, size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op;
    void *q = realloc(p, size);
    if (q)
        ((data_image *)udata)->size = size;
    return q;
}

/* At file close the buffer becomes ours; any other release is a real free. */
static herr_t img_free(void *p, H5FD_file_image_op_t op, void *udata)
{
    data_image *im = udata;
    if (op == H5FD_FILE_IMAGE_OP_FILE_CLOSE) {
        free(im->buf);
        im->buf = p;
    } else {
        free(p);
    }
    return 0;
}

static void *udata_copy(void *udata) { return udata; }
static herr_t udata_free(void *udata)
{
    (void)udata;
    return 0;
}

hid_t data_fapl_image(data_image *im, cnn_err *e)
{
    H5FD_file_image_callbacks_t cb = {img_malloc, img_memcpy, img_realloc, img_free,
                                      udata_copy, udata_free, im};
    hid_t p = data_fapl_read(e);
    if (p < 0)
        return p;
    /* Growth by 1 byte: the image ends where HDF5's last write ends. One large metadata
     * block keeps all metadata at the start of the file, before the blob (pack_files.c).
     * The 1.8 file format checksums its metadata: a damaged file is reported as such,
     * whereas libhdf5 1.10 parsing damaged 1.6-format headers overran its buffers when
     * fuzzed. Readable by HDF5 >= 1.8 and h5py. */
    if (CNN_H5(e, H5Pset_fapl_core(p, 1, 0)) < 0 ||
        CNN_H5(e, H5Pset_libver_bounds(p, H5F_LIBVER_V18, H5F_LIBVER_V18)) < 0 ||
        CNN_H5(e, H5Pset_meta_block_size(p, (hsize_t)64 << 10)) < 0 ||
        CNN_H5(e, H5Pset_file_image_callbacks(p, &cb)) < 0) {
        H5Pclose(p);
        return -1;
    }
    return p;
}

hid_t data_vlen_str_type(cnn_err *e)
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

static int attr_put(hid_t obj, const char *name, hid_t ft, hid_t mt, int n, const void *v,
                    cnn_err *e)
{
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp = CNN_H5(e, n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL));
    if (sp < 0)
        return CNN_EIO;
    hid_t a = CNN_H5(e, H5Acreate2(obj, name, ft, sp, H5P_DEFAULT, H5P_DEFAULT));
    int rc = a < 0 || CNN_H5(e, H5Awrite(a, mt, v)) < 0 ? CNN_EIO : CNN_OK;
    if (a >= 0 && CNN_H5(rc ? NULL : e, H5Aclose(a)) < 0)
        rc = CNN_EIO;
    H5Sclose(sp);
    return rc;
}

int data_attr_put_i64(hid_t obj, const char *name, int64_t v, cnn_err *e)
{
    return attr_put(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &v, e);
}

int data_attr_put_u32(hid_t obj, const char *name, uint32_t v, cnn_err *e)
{
    return attr_put(obj, name, H5T_STD_U32LE, H5T_NATIVE_UINT32, 1, &v, e);
}

int data_attr_put_f32(hid_t obj, const char *name, const float *v, int n, cnn_err *e)
{
    return attr_put(obj, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, n, v, e);
}

int data_attr_put_str(hid_t obj, const char *name, const char *s, cnn_err *e)
{
    hid_t t = data_vlen_str_type(e);
    if (t < 0)
        return CNN_EIO;
    int rc = attr_put(obj, name, t, t, 1, &s, e);
    H5Tclose(t);
    return rc;
}

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
        return got < 0 ? CNN_EIO
                       : CNN_ERR(e, CNN_EINVAL, "attribute '%s' has %lld values, expected %d",
                                 name, (long long)got, n);
    }
    *out = a;
    return CNN_OK;
}

int data_attr_get(hid_t obj, const char *name, hid_t mem_type, int n, void *v, cnn_err *e)
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

/* One string from attribute a or dataset d (the other < 0) with file type ft. */
static int read_one_str(hid_t a, hid_t ft, char **out, cnn_err *e)
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

int data_attr_get_str(hid_t obj, const char *name, char **out, cnn_err *e)
{
    *out = NULL;
    hid_t a = -1;
    CNN_TRY(e, attr_open(obj, name, 1, &a, e));
    hid_t ft = CNN_H5(e, H5Aget_type(a));
    int rc = ft < 0 ? CNN_EIO : read_one_str(a, ft, out, e);
    if (ft >= 0)
        H5Tclose(ft);
    H5Aclose(a);
    if (rc < 0)
        cnn_err_prefix(e, "attribute '%s': ", name);
    return rc;
}

int data_write_strings(hid_t loc, const char *name, char *const *s, int n, cnn_err *e)
{
    if (n == 0)
        return CNN_OK;
    hid_t t = data_vlen_str_type(e);
    if (t < 0)
        return CNN_EIO;
    int rc = data_write_array(loc, name, t, t, s, n, e);
    H5Tclose(t);
    return rc;
}

int data_write_array(hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                     const void *v, int64_t n, cnn_err *e)
{
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp = CNN_H5(e, H5Screate_simple(1, dims, NULL));
    if (sp < 0)
        return CNN_EIO;
    hid_t d = CNN_H5(e, H5Dcreate2(loc, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT,
                                   H5P_DEFAULT));
    int rc = d < 0 ? CNN_EIO : CNN_OK;
    if (rc == CNN_OK && n > 0 &&
        CNN_H5(e, H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v)) < 0)
        rc = CNN_EIO;
    if (d >= 0 && CNN_H5(rc ? NULL : e, H5Dclose(d)) < 0)
        rc = CNN_EIO;
    H5Sclose(sp);
    return rc;
}
