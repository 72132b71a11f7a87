/* Writing checkpoints (ckpt_save). HDF5 builds the file in memory (io_h5_fapl_image; every
 * tensor's storage is allocated but left to us); we download each tensor to its offset in
 * that image and write it to "<path>.tmp.<pid>" ourselves (src/io: write, fsync, close,
 * rename over path, fsync the directory). HDF5 never touches the disk here because libhdf5
 * 1.10 cannot fail cleanly there: after an H5Fclose that fails to write (disk full), the
 * file's id dangles and the process crashes in HDF5's exit handler. With our own I/O a full
 * disk is an ordinary error, and path keeps the previous checkpoint. Host memory: the file,
 * once. Every tensor "<name>" has its zlib crc32 in the scalar "checksums/<name>", so a
 * load notices a corrupt file (HDF5's own checksums cover only its metadata). */
#include <stdlib.h>
#include <string.h>

#include "ckpt_impl.h"

/* Tensors whose bytes go into the image after HDF5 has placed them, and their checksums. */
typedef struct placed {
    haddr_t off, crc_off;
    const tensor *t;
} placed;

typedef struct placement {
    placed *v;
    int n, cap;
} placement;

static int check_name(const char *what, const char *s, const char *hint, cnn_err *e)
{
    if (s && *s && !strchr(s, '/'))
        return CNN_OK;
    return CNN_ERR(e, CNN_EINVAL,
                   "%s '%s' cannot name an HDF5 dataset: it must be non-empty and without '/' "
                   "(HDF5 reads '/' as a group separator)%s",
                   what, s ? s : "(null)", hint);
}

static int check_names(const net *n, const ckpt_tensor *extra, int n_extra, cnn_err *e)
{
    for (int i = 0; i < n->n_params; i++)
        CNN_TRY(e, check_name("parameter", n->params[i].key, "; rename the layer", e));
    for (int i = 0; i < n->n_buffers; i++)
        CNN_TRY(e, check_name("buffer", n->buffers[i].key, "; rename the layer", e));
    for (int i = 0; i < n_extra; i++) {
        CNN_ASSERT(extra[i].t && extra[i].t->dt == DTYPE_F32);
        CNN_TRY(e, check_name("optimizer state group", extra[i].group, "", e));
        CNN_TRY(e, check_name("optimizer state key", extra[i].key, "", e));
    }
    return CNN_OK;
}

static int write_meta(hid_t f, const ckpt_meta *m, const char *config, cnn_err *e)
{
    const int64_t version = CKPT_VERSION;
    const int64_t pos[4] = {m->epoch, m->step, m->samples_seen, m->sampler_pos};
    static const char *const pos_names[4] = {"epoch", "step", "samples_seen", "sampler_pos"};
    CNN_TRY(e, io_h5_attr_put_str(f, "format", CKPT_FORMAT, e));
    CNN_TRY(e, io_h5_attr_put_i64(f, "format_version", version, e));
    for (int i = 0; i < 4; i++)
        CNN_TRY(e, io_h5_attr_put_i64(f, pos_names[i], pos[i], e));
    CNN_TRY(e, io_h5_attr_put(f, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, &m->seed, e));
    if (m->optimizer[0])
        CNN_TRY(e, io_h5_attr_put_str(f, "optimizer", m->optimizer, e));
    CNN_TRY(e, io_h5_attr_put(f, "rng_key", H5T_STD_U32LE, H5T_NATIVE_UINT32, 2, m->key.k, e));
    if (config)
        CNN_TRY(e, io_h5_attr_put_str(f, "config", config, e));
    if (m->info)
        CNN_TRY(e, ckpt_write_info(f, m->info, e));
    return CNN_OK;
}

/* Dataset name (lcpl creates its groups) and its checksum's, CKPT_CHECKSUMS "/" name. */
static int place(hid_t loc, const char *name, hid_t lcpl, const tensor *t, placement *lay,
                 cnn_err *e)
{
    placed p = {.t = t};
    char crc_name[2 * NET_KEY_MAX + 32];
    snprintf(crc_name, sizeof crc_name, CKPT_CHECKSUMS "/%s", name);
    CNN_TRY(e, ckpt_create_f32(loc, name, lcpl, &t->s, &p.off, e));
    hid_t sp = CNN_H5(e, H5Screate(H5S_SCALAR));
    if (sp < 0)
        return CNN_EIO;
    int rc = io_h5_create_placed(loc, crc_name, lcpl, H5T_STD_U32LE, sp, &p.crc_off, e);
    H5Sclose(sp);
    if (rc == CNN_OK && p.crc_off == HADDR_UNDEF)
        rc = CNN_ERR(e, CNN_EIO, "creating '%s': HDF5 allocated no storage for it", crc_name);
    if (rc < 0)
        return rc;
    if (lay->n == lay->cap)
        lay->v = cnn_xgrow(lay->v, &lay->cap, sizeof *lay->v);
    lay->v[lay->n++] = p;
    return CNN_OK;
}

static int place_extra(hid_t f, hid_t lcpl, const ckpt_tensor *extra, int n_extra,
                       placement *lay, cnn_err *e)
{
    for (int i = 0; i < n_extra; i++) {
        char name[2 * NET_KEY_MAX + 16];
        snprintf(name, sizeof name, "optimizer/%s/%s", extra[i].group, extra[i].key);
        CNN_TRY(e, place(f, name, lcpl, extra[i].t, lay, e));
    }
    return CNN_OK;
}

static int place_all(hid_t f, const net *n, const ckpt_tensor *extra, int n_extra,
                     placement *lay, cnn_err *e)
{
    hid_t lcpl = CNN_H5(e, H5Pcreate(H5P_LINK_CREATE));
    if (lcpl < 0)
        return CNN_EIO;
    int rc = CNN_H5(e, H5Pset_create_intermediate_group(lcpl, 1)) < 0 ? CNN_EIO : CNN_OK;
    for (int i = 0; i < n->n_params && rc == CNN_OK; i++)
        rc = place(f, n->params[i].key, lcpl, &n->params[i].value, lay, e);
    for (int i = 0; i < n->n_buffers && rc == CNN_OK; i++)
        rc = place(f, n->buffers[i].key, lcpl, &n->buffers[i].value, lay, e);
    if (rc == CNN_OK)
        rc = place_extra(f, lcpl, extra, n_extra, lay, e);
    H5Pclose(lcpl);
    return rc;
}

static int build(hid_t f, const net *n, const ckpt_meta *meta, const ckpt_tensor *extra,
                 int n_extra, const char *config, placement *lay, cnn_err *e)
{
    CNN_TRY(e, write_meta(f, meta, config, e));
    /* torchvision's strict load wants it; PyTorch only reads it with momentum=None. */
    for (int i = 0; i < n->n_nodes; i++) {
        if (!ckpt_has_running_stats(n, i))
            continue;
        char key[NET_KEY_MAX + 32];
        snprintf(key, sizeof key, "%s.num_batches_tracked", n->nodes[i].l->name);
        CNN_TRY(e, io_h5_write_scalar(f, key, H5T_STD_I64LE, H5T_NATIVE_INT64, &meta->step, e));
    }
    return place_all(f, n, extra, n_extra, lay, e);
}

/* The file's bytes: HDF5's in-memory file with every tensor downloaded into its place. */
static int make_image(const char *path, const net *n, const ckpt_meta *meta,
                      const ckpt_tensor *extra, int n_extra, const char *config,
                      io_h5_image *im, cnn_err *e)
{
    placement lay = {0};
    /* Tensors are copied into the image as they are in memory. */
    CNN_ASSERT(H5Tequal(H5T_NATIVE_FLOAT, H5T_IEEE_F32LE) > 0);
    CNN_ASSERT(H5Tequal(H5T_NATIVE_UINT32, H5T_STD_U32LE) > 0);
    /* The old (default) file format: readable by any HDF5, and strings are variable-length
     * in the global heap, so a long config text does not hit the 64 KiB object header
     * limit. HDF5 1.10 takes ~450 bytes of metadata per dataset: one block of twice that
     * keeps all of it at the start of the file, so flushing grows the buffer a few times,
     * not once per dataset; the unused rest of the block stays in the file. */
    int datasets = 2 * (n->n_params + n->n_buffers + n_extra) + n->n_nodes;
    hid_t fapl = io_h5_fapl_image(im, ((size_t)64 << 10) + (size_t)datasets * 1024, e);
    if (fapl < 0)
        return CNN_EIO;
    hid_t f = CNN_H5(e, H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
    H5Pclose(fapl);
    if (f < 0)
        return CNN_EIO;
    int rc = build(f, n, meta, extra, n_extra, config, &lay, e);
    /* Flushing writes the metadata and grows the buffer to the allocated size. */
    if (rc == CNN_OK && CNN_H5(e, H5Fflush(f, H5F_SCOPE_GLOBAL)) < 0)
        rc = CNN_EIO;
    if (CNN_H5(rc ? NULL : e, H5Fclose(f)) < 0 && rc == CNN_OK)
        rc = CNN_EIO;
    if (rc == CNN_OK && !im->buf)
        rc = CNN_ERR(e, CNN_ENOMEM, "HDF5 could not build the %zu-byte file in memory",
                     im->size);
    for (int i = 0; i < lay.n && rc == CNN_OK; i++) {
        const placed *p = &lay.v[i];
        size_t bytes = tensor_bytes(p->t);
        if (p->off + bytes > im->size || p->crc_off + sizeof(uint32_t) > im->size) {
            rc = CNN_ERR(e, CNN_EIO, "HDF5's in-memory file (%zu bytes) ends inside a tensor "
                         "placed at byte %llu; this HDF5 version is not supported", im->size,
                         (unsigned long long)p->off);
            break;
        }
        unsigned char *at = (unsigned char *)im->buf + p->off;
        backend_download(n->be, p->t, at);
        uint32_t crc = ckpt_crc32(at, bytes);
        memcpy((unsigned char *)im->buf + p->crc_off, &crc, sizeof crc);
    }
    free(lay.v);
    return rc;
}

int ckpt_save(const char *path, const net *n, const ckpt_meta *meta, const ckpt_tensor *extra,
              int n_extra, const char *config_text, cnn_err *e)
{
    CNN_ASSERT(n->be && "ckpt_save needs a net bound by net_alloc");
    const ckpt_meta zero = {0};
    char *tmp = io_tmp_name(path, "");
    io_h5_image im = {0};
    io_h5_quiet q;
    io_h5_quiet_begin(&q);
    int rc = check_names(n, extra, n_extra, e);
    if (rc == CNN_OK)
        rc = make_image(tmp, n, meta ? meta : &zero, extra, n_extra, config_text, &im, e);
    io_h5_quiet_end(&q);
    if (rc == CNN_OK)
        rc = io_file_write(tmp, im.buf, im.size, e);
    free(im.buf);
    if (rc == CNN_OK)
        rc = io_file_commit(tmp, path, e);
    free(tmp);
    if (rc < 0)
        cnn_err_prefix(e, "saving checkpoint %s: ", path);
    return rc;
}
