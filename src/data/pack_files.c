/* The files cnn-pack writes (docs/data.md). HDF5 builds each file in memory (core driver,
 * no backing store) with the blob allocated last and never filled, so the image holds only
 * metadata and the index; we write that image, copy the blob's bytes from the spool file to
 * the blob's offset, fsync and close, with our own checked I/O (src/io). HDF5 never writes
 * to disk: in libhdf5 1.10 an H5Fclose that fails to write (disk full) leaves a dangling
 * file id that crashes at exit, whereas our write() turns a full disk into an ordinary
 * error. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "data_impl.h"

static const char *mode_name(data_mode m) { return m == DATA_RAW ? "raw" : "encoded"; }
static const char *task_name(data_task t) { return t == DATA_SEGMENT ? "segment" : "classify"; }

static int put_common(hid_t f, const pack_opts *o, cnn_err *e)
{
    CNN_TRY(e, io_h5_attr_put_i64(f, "format_version", DATA_FORMAT_VERSION, e));
    CNN_TRY(e, io_h5_attr_put_i64(f, "num_shards", o->n_shards, e));
    CNN_TRY(e, io_h5_attr_put_str(f, "mode", mode_name(o->mode), e));
    CNN_TRY(e, io_h5_attr_put_str(f, "task", task_name(o->task), e));
    CNN_TRY(e, io_h5_attr_put_i64(f, "raw_h", o->mode == DATA_RAW ? o->raw_h : 0, e));
    CNN_TRY(e, io_h5_attr_put_i64(f, "raw_w", o->mode == DATA_RAW ? o->raw_w : 0, e));
    CNN_TRY(e, io_h5_attr_put_i64(f, "raw_c", o->mode == DATA_RAW ? o->raw_c : 0, e));
    return CNN_OK;
}

static int put_index(hid_t f, const data_index *x, cnn_err *e)
{
    CNN_TRY(e, io_h5_write_array(f, "offset", H5T_STD_I64LE, H5T_NATIVE_INT64, x->offset, x->n, e));
    CNN_TRY(e, io_h5_write_array(f, "length", H5T_STD_I64LE, H5T_NATIVE_INT64, x->length, x->n, e));
    CNN_TRY(e, io_h5_write_array(f, "label", H5T_STD_I32LE, H5T_NATIVE_INT32, x->label, x->n, e));
    CNN_TRY(e, io_h5_write_array(f, "height", H5T_STD_I32LE, H5T_NATIVE_INT32, x->height, x->n, e));
    CNN_TRY(e, io_h5_write_array(f, "width", H5T_STD_I32LE, H5T_NATIVE_INT32, x->width, x->n, e));
    if (x->has_mask) {
        CNN_TRY(e, io_h5_write_array(f, "mask_offset", H5T_STD_I64LE, H5T_NATIVE_INT64,
                                    x->mask_offset, x->n, e));
        CNN_TRY(e, io_h5_write_array(f, "mask_length", H5T_STD_I64LE, H5T_NATIVE_INT64,
                                    x->mask_length, x->n, e));
    }
    return CNN_OK;
}

/* The blob: contiguous, allocated now (so its offset is known) and never filled. */
static int put_blob(hid_t f, int64_t size, haddr_t *off, cnn_err *e)
{
    hsize_t dims[1] = {(hsize_t)size};
    hid_t sp = CNN_H5(e, H5Screate_simple(1, dims, NULL));
    if (sp < 0)
        return CNN_EIO;
    int rc = io_h5_create_placed(f, "blob", H5P_DEFAULT, H5T_STD_U8LE, sp, off, e);
    H5Sclose(sp);
    if (size == 0)
        *off = HADDR_UNDEF;
    else if (rc == CNN_OK && *off == HADDR_UNDEF)
        rc = CNN_ERR(e, CNN_EIO, "HDF5 gave the blob no file offset");
    return rc;
}

static int build_shard(hid_t f, const data_shard_spec *s, haddr_t *blob_off, cnn_err *e)
{
    CNN_TRY(e, io_h5_attr_put_str(f, "format", DATA_SHARD_FORMAT, e));
    CNN_TRY(e, put_common(f, s->o, e));
    CNN_TRY(e, io_h5_attr_put_i64(f, "shard", s->shard, e));
    CNN_TRY(e, io_h5_attr_put_i64(f, "num_samples", s->x->n, e));
    CNN_TRY(e, io_h5_attr_put_u32(f, "index_crc32", data_index_crc32(s->x), e));
    CNN_TRY(e, io_h5_attr_put_u32(f, "blob_crc32", s->blob_crc32, e));
    CNN_TRY(e, put_index(f, s->x, e));
    return put_blob(f, s->blob_size, blob_off, e); /* last: nothing is placed after it */
}

/* Copies the spool's n bytes to fd at off, checking their crc32 on the way. */
static int copy_blob(const data_shard_spec *s, int fd, off_t off, const char *tmp, cnn_err *e)
{
    size_t chunk = (size_t)4 << 20;
    char *buf = cnn_xmalloc(chunk);
    uint32_t crc = data_crc32(0, NULL, 0);
    int rc = CNN_OK;
    for (int64_t done = 0; done < s->blob_size && rc == CNN_OK;) {
        size_t k = (size_t)(s->blob_size - done) < chunk ? (size_t)(s->blob_size - done) : chunk;
        int r = io_pread_all(s->spool_fd, buf, k, (off_t)done);
        if (r != 0)
            rc = CNN_ERR(e, CNN_EIO, "reading back the spool file of %s failed: %s", tmp,
                         r > 0 ? "it is shorter than written" : strerror(errno));
        else if (io_pwrite_all(fd, buf, k, off + (off_t)done) != 0)
            rc = CNN_ERR(e, CNN_EIO, "writing %s failed: %s", tmp, strerror(errno));
        crc = data_crc32(crc, buf, k);
        done += (int64_t)k;
    }
    free(buf);
    if (rc == CNN_OK && crc != s->blob_crc32)
        rc = CNN_ERR(e, CNN_EIO, "the spool file of %s changed while packing (crc32 %08x, "
                     "written %08x); is another process writing there?", tmp, crc,
                     s->blob_crc32);
    return rc;
}

/* Writes im to tmp, with the blob's bytes (if any) at blob_off, then fsync and close. */
static int write_file(const char *tmp, const io_h5_image *im, const data_shard_spec *s,
                      haddr_t blob_off, cnn_err *e)
{
    int fd;
    CNN_TRY(e, io_file_create(tmp, &fd, e));
    size_t head = im->size;
    bool blob = s && s->blob_size > 0;
    if (blob && head > blob_off)
        head = blob_off; /* HDF5 placed something after the blob: written below */
    int rc = CNN_OK;
    if (io_write_all(fd, im->buf, head) != 0)
        rc = CNN_ERR(e, CNN_EIO, "writing %s failed: %s", tmp, strerror(errno));
    if (rc == CNN_OK && blob)
        rc = copy_blob(s, fd, (off_t)blob_off, tmp, e);
    size_t tail = blob ? (size_t)blob_off + (size_t)s->blob_size : im->size;
    if (rc == CNN_OK && im->size > tail &&
        io_pwrite_all(fd, im->buf + tail, im->size - tail, (off_t)tail) != 0)
        rc = CNN_ERR(e, CNN_EIO, "writing %s failed: %s", tmp, strerror(errno));
    return io_file_sync_close(fd, tmp, rc, e);
}

/* File access for an image: growth by 1 byte (io_h5_fapl_image), one large metadata block
 * keeping all metadata at the start of the file, before the blob. The 1.8 file format
 * checksums its metadata: a damaged file is reported as such, whereas libhdf5 1.10 parsing
 * damaged 1.6-format headers overran its buffers when fuzzed. Readable by HDF5 >= 1.8 and
 * h5py. */
static hid_t fapl_image(io_h5_image *im, cnn_err *e)
{
    hid_t p = io_h5_fapl_image(im, (size_t)64 << 10, e);
    if (p >= 0 && CNN_H5(e, H5Pset_libver_bounds(p, H5F_LIBVER_V18, H5F_LIBVER_V18)) < 0) {
        H5Pclose(p);
        return -1;
    }
    return p;
}

typedef int (*build_fn)(hid_t f, const void *arg, haddr_t *blob_off, cnn_err *e);

static int make_file(const char *tmp, build_fn build, const void *arg,
                     const data_shard_spec *s, cnn_err *e)
{
    CNN_ASSERT(H5Tequal(H5T_NATIVE_INT64, H5T_STD_I64LE) > 0);
    io_h5_image im = {0};
    haddr_t blob_off = HADDR_UNDEF;
    io_h5_quiet q;
    io_h5_quiet_begin(&q);
    hid_t fapl = fapl_image(&im, e);
    hid_t f = fapl < 0 ? -1 : CNN_H5(e, H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
    if (fapl >= 0)
        H5Pclose(fapl);
    int rc = f < 0 ? CNN_EIO : build(f, arg, &blob_off, e);
    if (f >= 0 && CNN_H5(rc ? NULL : e, H5Fclose(f)) < 0 && rc == CNN_OK)
        rc = CNN_EIO;
    io_h5_quiet_end(&q);
    if (rc == CNN_OK && !im.buf)
        rc = CNN_ERR(e, CNN_ENOMEM, "HDF5 could not build %s in memory", tmp);
    if (rc == CNN_OK)
        rc = write_file(tmp, &im, s, blob_off, e);
    free(im.buf);
    return rc;
}

static int build_shard_cb(hid_t f, const void *arg, haddr_t *blob_off, cnn_err *e)
{
    return build_shard(f, arg, blob_off, e);
}

int data_write_shard(const char *tmp, const data_shard_spec *s, cnn_err *e)
{
    return make_file(tmp, build_shard_cb, s, s, e);
}

typedef struct master_arg {
    const pack_opts *o;
    const pack_shard_info *info;
    const float *mean, *std;
} master_arg;

static int build_master(hid_t f, const void *arg, haddr_t *blob_off, cnn_err *e)
{
    const master_arg *m = arg;
    const pack_opts *o = m->o;
    int ns = o->n_shards;
    (void)blob_off;
    int64_t total = 0, *samples = cnn_xcalloc((size_t)ns, sizeof *samples);
    uint32_t *icrc = cnn_xcalloc((size_t)ns, sizeof *icrc);
    uint32_t *bcrc = cnn_xcalloc((size_t)ns, sizeof *bcrc);
    char **names = cnn_xcalloc((size_t)ns, sizeof *names);
    for (int s = 0; s < ns; s++) {
        samples[s] = m->info[s].n;
        icrc[s] = m->info[s].index_crc32;
        bcrc[s] = m->info[s].blob_crc32;
        names[s] = data_shard_name(o->prefix, s, ns, true);
        total += samples[s];
    }
    int rc = io_h5_attr_put_str(f, "format", DATA_MASTER_FORMAT, e);
    if (rc == CNN_OK)
        rc = put_common(f, o, e);
    if (rc == CNN_OK)
        rc = io_h5_attr_put_i64(f, "num_samples", total, e);
    if (rc == CNN_OK)
        rc = io_h5_attr_put_str(f, "source", o->source ? o->source : "", e);
    if (rc == CNN_OK)
        rc = io_h5_attr_put_f32(f, "mean", m->mean, 3, e);
    if (rc == CNN_OK)
        rc = io_h5_attr_put_f32(f, "std", m->std, 3, e);
    if (rc == CNN_OK)
        rc = data_write_strings(f, "classes", o->classes, o->n_classes, e);
    if (rc == CNN_OK)
        rc = data_write_strings(f, "shard_files", names, ns, e);
    if (rc == CNN_OK)
        rc = io_h5_write_array(f, "shard_samples", H5T_STD_I64LE, H5T_NATIVE_INT64, samples,
                              ns, e);
    if (rc == CNN_OK)
        rc = io_h5_write_array(f, "shard_index_crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, icrc,
                              ns, e);
    if (rc == CNN_OK)
        rc = io_h5_write_array(f, "shard_blob_crc32", H5T_STD_U32LE, H5T_NATIVE_UINT32, bcrc,
                              ns, e);
    for (int s = 0; s < ns; s++)
        free(names[s]);
    free(names);
    free(samples);
    free(icrc);
    free(bcrc);
    return rc;
}

int data_write_master(const char *tmp, const pack_opts *o, const pack_shard_info *info,
                      const float mean[3], const float std[3], cnn_err *e)
{
    master_arg m = {o, info, mean, std};
    return make_file(tmp, build_master, &m, NULL, e);
}
