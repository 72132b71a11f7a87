/* HDF5 plumbing for checkpoints: checked calls that turn HDF5's error stack into a cnn_err
 * message (STYLE.md 13: the call, file:line, rank, the library's words), silencing HDF5's own
 * printing, file access properties, and attributes (numbers and strings). */
#include <stdlib.h>
#include <string.h>

#include "ckpt_impl.h"

typedef struct h5_walk {
    int n;
    char inner[256]; /* the innermost record: where HDF5 detected the problem */
    char minor[128]; /* its minor message ("Not an HDF5 file", "Can't open object") */
    char outer[256]; /* the API function's record */
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

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int64_t ckpt_h5_check(int64_t rc, const char *call, const char *file, int line, cnn_err *e)
{
    if (rc >= 0)
        return rc;
    /* A copy, so the stack stays intact while H5Eget_msg (an API call) runs. */
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
    for (char *c = why; *c; c++) /* HDF5 quotes ctime(), newline included */
        if (*c == '\n')
            *c = ' ';
    cnn_err_set(e, CNN_EIO, file, line, "HDF5 call %s failed at %s:%d on rank %d: %s", call,
                base_name(file), line, cnn_proc_rank(), why);
    return rc;
}

void ckpt_h5_quiet_begin(ckpt_h5_quiet *q)
{
    if (H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data) < 0) {
        q->fn = NULL;
        q->data = NULL;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void ckpt_h5_quiet_end(const ckpt_h5_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->fn, q->data); }

hid_t ckpt_fapl(cnn_err *e)
{
    hid_t p = CNN_H5(e, H5Pcreate(H5P_FILE_ACCESS));
    if (p >= 0 && CNN_H5(e, H5Pset_fclose_degree(p, H5F_CLOSE_STRONG)) < 0) {
        H5Pclose(p);
        return -1;
    }
    return p;
}

int ckpt_attr_put(hid_t obj, const char *name, hid_t file_type, hid_t mem_type, int n,
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

static hid_t vlen_str_type(cnn_err *e)
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

int ckpt_attr_put_str(hid_t obj, const char *name, const char *s, cnn_err *e)
{
    hid_t t = vlen_str_type(e);
    if (t < 0)
        return CNN_EIO;
    int rc = ckpt_attr_put(obj, name, t, t, 1, &s, e);
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

int ckpt_attr_get(hid_t obj, const char *name, hid_t mem_type, int n, void *v, cnn_err *e)
{
    hid_t a = -1;
    CNN_TRY(e, attr_open(obj, name, n, &a, e));
    int rc = CNN_H5(e, H5Aread(a, mem_type, v)) < 0 ? CNN_EIO : CNN_OK;
    H5Aclose(a);
    return rc;
}

static int read_str(hid_t a, char **out, cnn_err *e)
{
    hid_t ft = CNN_H5(e, H5Aget_type(a));
    if (ft < 0)
        return CNN_EIO;
    int rc = CNN_OK;
    if (H5Tget_class(ft) != H5T_STRING) {
        rc = CNN_ERR(e, CNN_EINVAL, "attribute is not a string");
    } else if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = vlen_str_type(e);
        char *s = NULL;
        if (mt < 0 || CNN_H5(e, H5Aread(a, mt, &s)) < 0)
            rc = CNN_EIO;
        else
            *out = cnn_xstrdup(s ? s : "");
        if (s)
            H5free_memory(s);
        if (mt >= 0)
            H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(ft);
        hid_t mt = CNN_H5(e, H5Tcopy(ft));
        char *s = cnn_xcalloc(n + 1, 1);
        if (mt < 0 || CNN_H5(e, H5Aread(a, mt, s)) < 0) {
            free(s);
            rc = CNN_EIO;
        } else {
            *out = s;
        }
        if (mt >= 0)
            H5Tclose(mt);
    }
    H5Tclose(ft);
    return rc;
}

int ckpt_attr_get_str(hid_t obj, const char *name, char **out, cnn_err *e)
{
    *out = NULL;
    htri_t has = CNN_H5(e, H5Aexists(obj, name));
    if (has <= 0)
        return has < 0 ? CNN_EIO : CNN_OK;
    hid_t a = -1;
    CNN_TRY(e, attr_open(obj, name, 1, &a, e));
    int rc = read_str(a, out, e);
    H5Aclose(a);
    if (rc < 0)
        cnn_err_prefix(e, "attribute '%s': ", name);
    return rc;
}
