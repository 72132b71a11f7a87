/* Checked HDF5 calls: a failing call's text, file:line and rank, with HDF5's own words taken
 * from its error stack (STYLE.md 13); silencing HDF5's printing while our calls run; the file
 * access properties of reading. */
#include <string.h>

#include "io.h"

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

int64_t io_h5_check(int64_t rc, const char *call, const char *file, int line, cnn_err *e)
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

void io_h5_quiet_begin(io_h5_quiet *q)
{
    if (H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data) < 0) {
        q->fn = NULL;
        q->data = NULL;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void io_h5_quiet_end(const io_h5_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->fn, q->data); }

hid_t io_h5_fapl(cnn_err *e)
{
    hid_t p = CNN_H5(e, H5Pcreate(H5P_FILE_ACCESS));
    if (p >= 0 && CNN_H5(e, H5Pset_fclose_degree(p, H5F_CLOSE_STRONG)) < 0) {
        H5Pclose(p);
        return -1;
    }
    return p;
}

hid_t io_h5_open_read(const char *path, cnn_err *e)
{
    hid_t fapl = io_h5_fapl(e);
    if (fapl < 0)
        return -1;
    hid_t f = CNN_H5(e, H5Fopen(path, H5F_ACC_RDONLY, fapl));
    H5Pclose(fapl);
    return f;
}
