/* Checkpoint datasets: float32 tensors with their shapes (storage placed by HDF5, bytes
 * written by the caller), their crc32 checksums, the shape and checksum checks of loading,
 * and the state_dict order in which entries are checked. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ckpt_impl.h"

uint32_t ckpt_crc32(const void *p, size_t n)
{
    return (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), p, n);
}

/* Dataset d (named path) holds exactly one integer. */
static int one_integer(hid_t d, const char *path, cnn_err *e)
{
    hid_t t = CNN_H5(e, H5Dget_type(d)), sp = CNN_H5(e, H5Dget_space(d));
    int rc = t < 0 || sp < 0 ? CNN_EIO : CNN_OK;
    hssize_t n = rc ? 0 : H5Sget_simple_extent_npoints(sp);
    if (rc == CNN_OK && (H5Tget_class(t) != H5T_INTEGER || n != 1))
        rc = CNN_ERR(e, CNN_EINVAL, "'%s' is not one integer checksum (%lld values of class "
                     "%d): the file is damaged or was not written by cnn-dist", path,
                     (long long)n, (int)H5Tget_class(t));
    if (t >= 0)
        H5Tclose(t);
    if (sp >= 0)
        H5Sclose(sp);
    return rc;
}

int ckpt_check_sum(hid_t f, const char *name, const void *data, size_t bytes, cnn_err *e)
{
    char path[2 * NET_KEY_MAX + 32];
    snprintf(path, sizeof path, CKPT_CHECKSUMS "/%s", name);
    htri_t has = CNN_H5(e, H5Lexists(f, path, H5P_DEFAULT));
    if (has < 0)
        return CNN_EIO;
    if (!has)
        return CNN_ERR(e, CNN_EINVAL, "'%s' has no checksum ('%s' is missing) although the "
                       "file has others: the file is damaged", name, path);
    hid_t d = CNN_H5(e, H5Dopen2(f, path, H5P_DEFAULT));
    if (d < 0)
        return CNN_EIO;
    uint32_t want;
    /* One integer, checked before the read: H5S_ALL reads every element the file claims
     * into &want (a (3,) dataset overran the stack; found by fuzz-ckpt). */
    int rc = one_integer(d, path, e);
    if (rc == CNN_OK &&
        CNN_H5(e, H5Dread(d, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, &want)) < 0)
        rc = CNN_EIO;
    H5Dclose(d);
    uint32_t got = ckpt_crc32(data, bytes);
    if (rc == CNN_OK && got != want)
        rc = CNN_ERR(e, CNN_EIO, "'%s' does not match its checksum (crc32 %08x, stored %08x): "
                     "the file is corrupt (an earlier checkpoint of its run directory may be "
                     "intact: --resume PATH)", name, (unsigned)got,
                     (unsigned)want);
    return rc;
}

static hid_t space_of(const shape *s, cnn_err *e)
{
    hsize_t dims[CNN_MAX_DIMS];
    for (int i = 0; i < s->nd; i++)
        dims[i] = (hsize_t)s->d[i];
    return CNN_H5(e, s->nd ? H5Screate_simple(s->nd, dims, NULL) : H5Screate(H5S_SCALAR));
}

int ckpt_create_f32(hid_t loc, const char *name, hid_t lcpl, const shape *s, haddr_t *offset,
                    cnn_err *e)
{
    hid_t sp = space_of(s, e);
    int rc = sp < 0 ? CNN_EIO
                    : io_h5_create_placed(loc, name, lcpl, H5T_IEEE_F32LE, sp, offset, e);
    if (rc == CNN_OK && *offset == HADDR_UNDEF)
        rc = CNN_ERR(e, CNN_EIO, "HDF5 allocated no contiguous storage for it");
    if (sp >= 0)
        H5Sclose(sp);
    if (rc < 0)
        cnn_err_prefix(e, "creating '%s': ", name);
    return rc;
}

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integers";
    case H5T_FLOAT: return "floats";
    case H5T_STRING: return "a string";
    case H5T_COMPOUND: return "a compound type";
    default: return "a non-numeric type";
    }
}

/* "(1000, 512)" from HDF5 dimensions, like shape_str. */
static const char *dims_str(int nd, const hsize_t *d, char *buf, size_t n)
{
    size_t off = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < nd && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, i ? ", %llu" : "%llu",
                                (unsigned long long)d[i]);
    if (off < n)
        snprintf(buf + off, n - off, ")");
    return buf;
}

/* The file's dimensions of a float tensor (4 bytes, the most we convert from a float16 or
 * read of a float64 costs twice that) within CKPT_MAX_TENSOR_BYTES. */
static int check_bytes(const char *what, int nd, const hsize_t *dims, cnn_err *e)
{
    uint64_t n = 4;
    for (int i = 0; i < nd; i++) {
        if (dims[i] && n > CKPT_MAX_TENSOR_BYTES / dims[i])
            return CNN_ERR(e, CNN_EINVAL, "%s is above %llu bytes in the file (dimension %d "
                           "of %d is %llu), the limit per tensor (CKPT_MAX_TENSOR_BYTES); the "
                           "file is corrupt", what, (unsigned long long)CKPT_MAX_TENSOR_BYTES,
                           i + 1, nd, (unsigned long long)dims[i]);
        n *= dims[i] ? dims[i] : 1;
    }
    return CNN_OK;
}

/* Checks the class and shape of dataset d against want. */
static int check_ds(hid_t d, const char *what, const shape *want, cnn_err *e)
{
    hid_t t = CNN_H5(e, H5Dget_type(d));
    if (t < 0)
        return CNN_EIO;
    H5T_class_t c = H5Tget_class(t);
    H5Tclose(t);
    if (c != H5T_FLOAT)
        return CNN_ERR(e, CNN_EINVAL, "%s holds %s in the file, expected float32 values", what,
                       class_name(c));
    hid_t sp = CNN_H5(e, H5Dget_space(d));
    if (sp < 0)
        return CNN_EIO;
    hsize_t dims[H5S_MAX_RANK];
    int nd = (int)CNN_H5(e, H5Sget_simple_extent_ndims(sp));
    if (nd >= 0 && CNN_H5(e, H5Sget_simple_extent_dims(sp, dims, NULL)) < 0)
        nd = -1;
    H5Sclose(sp);
    if (nd < 0)
        return CNN_EIO;
    CNN_TRY(e, check_bytes(what, nd, dims, e));
    bool same = nd == want->nd;
    for (int i = 0; same && i < nd; i++)
        same = (int64_t)dims[i] == want->d[i];
    if (!same) {
        char a[160], b[160];
        return CNN_ERR(e, CNN_EINVAL, "%s is %s in the file but %s in the model", what,
                       dims_str(nd, dims, a, sizeof a), shape_str(want, b, sizeof b));
    }
    return CNN_OK;
}

hid_t ckpt_open_f32(hid_t loc, const char *name, const char *what, const shape *want,
                    cnn_err *e)
{
    hid_t d = CNN_H5(e, H5Dopen2(loc, name, H5P_DEFAULT));
    if (d < 0)
        return CNN_EIO;
    int rc = check_ds(d, what, want, e);
    if (rc < 0) {
        H5Dclose(d);
        return rc;
    }
    return d;
}

bool ckpt_has_running_stats(const net *n, int node)
{
    const layer *l = n->nodes[node].l;
    for (int i = 0; i < l->n_slots; i++)
        if (l->slots[i].kind == SLOT_BUFFER && strcmp(l->slots[i].name, "running_mean") == 0)
            return true;
    return false;
}

int ckpt_state_entries(const net *n, const net_entry ***out)
{
    int total = n->n_params + n->n_buffers, p = 0, b = 0;
    const net_entry **v = cnn_xcalloc(total ? (size_t)total : 1, sizeof *v);
    /* Both lists are in node order: a merge puts each node's parameters before its buffers. */
    for (int i = 0; i < total; i++) {
        bool take_param = b == n->n_buffers ||
                          (p < n->n_params && n->params[p].node <= n->buffers[b].node);
        v[i] = take_param ? &n->params[p++] : &n->buffers[b++];
    }
    *out = v;
    return total;
}

size_t ckpt_max_bytes(const net *n, const ckpt_tensor *extra, int n_extra)
{
    size_t m = sizeof(int64_t);
    for (int i = 0; i < n->n_params; i++)
        if (tensor_bytes(&n->params[i].value) > m)
            m = tensor_bytes(&n->params[i].value);
    for (int i = 0; i < n->n_buffers; i++)
        if (tensor_bytes(&n->buffers[i].value) > m)
            m = tensor_bytes(&n->buffers[i].value);
    for (int i = 0; i < n_extra; i++)
        if (tensor_bytes(extra[i].t) > m)
            m = tensor_bytes(extra[i].t);
    return m;
}
