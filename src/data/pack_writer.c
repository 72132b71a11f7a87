/* The dataset writer behind cnn-pack. pack_add appends a sample's bytes to its shard's spool
 * file ("<shard>.blob.tmp.<pid>", so memory stays flat for any shard size) and its index
 * entry to memory; pack_seal builds each owned shard at "<shard>.tmp.<pid>" (pack_files.c)
 * and re-reads it with the reader's checks; pack_rename_shards moves them into place and
 * pack_write_master writes the master last. Each shard has its own lock: threads may fill
 * different shards at once. pack_abort removes everything this writer created. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_impl.h"

typedef struct shard_w {
    pthread_mutex_t mu;
    char *path, *tmp, *spool;
    int spool_fd; /* -1 until the first sample */
    data_index x;
    int64_t cap, blob_size;
    uint32_t blob_crc;
    bool owned, sealed, renamed;
} shard_w;

struct pack_writer {
    pack_opts o; /* prefix, source and classes are owned copies */
    shard_w *sh;
    char *master, *master_tmp;
};

static int check_opts(const pack_opts *o, cnn_err *e)
{
    if (!o->prefix || !*o->prefix)
        return CNN_ERR(e, CNN_EINVAL, "no output prefix given; pass --out PREFIX");
    if (o->n_shards < 1 || o->n_shards > 99999)
        return CNN_ERR(e, CNN_EINVAL, "%d shards requested; use 1 to 99999", o->n_shards);
    if (o->mode == DATA_RAW && (o->raw_h < 1 || o->raw_w < 1 || (o->raw_c != 1 && o->raw_c != 3)))
        return CNN_ERR(e, CNN_EINVAL, "raw mode needs a size and 1 or 3 channels, got %dx%dx%d",
                       o->raw_h, o->raw_w, o->raw_c);
    if (o->n_classes < 0 || o->n_classes > DATA_MAX_CLASSES)
        return CNN_ERR(e, CNN_EINVAL, "%d classes; at most %d are supported", o->n_classes,
                       DATA_MAX_CLASSES);
    if (o->world < 0 || (o->world > 0 && (o->rank < 0 || o->rank >= o->world)))
        return CNN_ERR(e, CNN_EINVAL, "rank %d of %d is not a valid rank", o->rank, o->world);
    return CNN_OK;
}

static void index_grow(shard_w *sh, bool seg)
{
    if (sh->x.n < sh->cap)
        return;
    sh->cap = sh->cap ? sh->cap * 2 : 16;
    size_t c = (size_t)sh->cap;
    int64_t **i64[4] = {&sh->x.offset, &sh->x.length, &sh->x.mask_offset, &sh->x.mask_length};
    int32_t **i32[3] = {&sh->x.label, &sh->x.height, &sh->x.width};
    for (int k = 0; k < (seg ? 4 : 2); k++) {
        *i64[k] = realloc(*i64[k], c * sizeof(int64_t));
        CNN_ASSERT(*i64[k]);
    }
    for (int k = 0; k < 3; k++) {
        *i32[k] = realloc(*i32[k], c * sizeof(int32_t));
        CNN_ASSERT(*i32[k]);
    }
}

int pack_open(const pack_opts *o, pack_writer **out, cnn_err *e)
{
    *out = NULL;
    CNN_TRY(e, check_opts(o, e));
    CNN_TRY(e, io_mkdir_parents(o->prefix, e)); /* users name a fresh output path */
    pack_writer *w = cnn_xcalloc(1, sizeof *w);
    w->o = *o;
    w->o.prefix = cnn_xstrdup(o->prefix);
    w->o.source = cnn_xstrdup(o->source ? o->source : "");
    w->o.classes = o->n_classes ? cnn_xcalloc((size_t)o->n_classes, sizeof(char *)) : NULL;
    for (int i = 0; i < o->n_classes; i++)
        w->o.classes[i] = cnn_xstrdup(o->classes[i]);
    if (w->o.world == 0)
        w->o.world = 1;
    size_t n = strlen(o->prefix) + 4;
    w->master = cnn_xmalloc(n);
    snprintf(w->master, n, "%s.h5", o->prefix);
    w->master_tmp = io_tmp_name(w->master, "");
    w->sh = cnn_xcalloc((size_t)o->n_shards, sizeof *w->sh);
    for (int s = 0; s < o->n_shards; s++) {
        shard_w *sh = &w->sh[s];
        CNN_ASSERT(pthread_mutex_init(&sh->mu, NULL) == 0);
        sh->path = data_shard_name(o->prefix, s, o->n_shards, false);
        sh->tmp = io_tmp_name(sh->path, "");
        sh->spool = io_tmp_name(sh->path, ".blob");
        sh->spool_fd = -1;
        sh->owned = s % w->o.world == w->o.rank;
        sh->blob_crc = data_crc32(0, NULL, 0);
        sh->x.has_mask = o->task == DATA_SEGMENT;
        index_grow(sh, sh->x.has_mask); /* arrays exist even for an empty shard */
    }
    *out = w;
    return CNN_OK;
}

static int check_sample(const pack_writer *w, int shard, size_t len, int32_t label, int32_t h,
                        int32_t wpx, const uint8_t *mask, size_t mask_len, cnn_err *e)
{
    const pack_opts *o = &w->o;
    CNN_ASSERT(shard >= 0 && shard < o->n_shards && w->sh[shard].owned);
    CNN_ASSERT(!w->sh[shard].sealed);
    if (h < 1 || wpx < 1)
        return CNN_ERR(e, CNN_EINVAL, "sample of size %dx%d; images must not be empty", h, wpx);
    if (o->mode == DATA_RAW &&
        (h != o->raw_h || wpx != o->raw_w || len != (size_t)h * (size_t)wpx * (size_t)o->raw_c))
        return CNN_ERR(e, CNN_EINVAL, "raw sample of %dx%d, %zu bytes; this dataset holds "
                       "%dx%dx%d images", h, wpx, len, o->raw_h, o->raw_w, o->raw_c);
    if (o->task == DATA_CLASSIFY && (label < 0 || (o->n_classes > 0 && label >= o->n_classes)))
        return CNN_ERR(e, CNN_EINVAL, "label %d is outside the %d classes", label, o->n_classes);
    if (o->task == DATA_SEGMENT && (!mask || mask_len == 0))
        return CNN_ERR(e, CNN_EINVAL, "a segmentation sample needs its mask");
    if (o->task == DATA_SEGMENT && o->mode == DATA_RAW && mask_len != (size_t)h * (size_t)wpx)
        return CNN_ERR(e, CNN_EINVAL, "raw mask of %zu bytes for a %dx%d image", mask_len, h, wpx);
    return CNN_OK;
}

static int spool_append(shard_w *sh, const uint8_t *p, size_t n, cnn_err *e)
{
    if (sh->spool_fd < 0) {
        sh->spool_fd = open(sh->spool, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (sh->spool_fd < 0)
            return CNN_ERR(e, CNN_EIO, "cannot create %s: %s; check the output directory",
                           sh->spool, strerror(errno));
    }
    if (io_write_all(sh->spool_fd, p, n) != 0)
        return CNN_ERR(e, CNN_EIO, "writing %s failed: %s", sh->spool, strerror(errno));
    sh->blob_crc = data_crc32(sh->blob_crc, p, n);
    sh->blob_size += (int64_t)n;
    return CNN_OK;
}

int pack_add(pack_writer *w, int shard, const uint8_t *img, size_t len, int32_t label,
             int32_t h, int32_t w_px, const uint8_t *mask, size_t mask_len, cnn_err *e)
{
    CNN_TRY(e, check_sample(w, shard, len, label, h, w_px, mask, mask_len, e));
    shard_w *sh = &w->sh[shard];
    bool seg = w->o.task == DATA_SEGMENT;
    CNN_ASSERT(pthread_mutex_lock(&sh->mu) == 0);
    index_grow(sh, seg);
    int64_t i = sh->x.n, off = sh->blob_size;
    int rc = spool_append(sh, img, len, e);
    if (rc == CNN_OK && seg)
        rc = spool_append(sh, mask, mask_len, e);
    if (rc == CNN_OK) {
        sh->x.offset[i] = off;
        sh->x.length[i] = (int64_t)len;
        sh->x.label[i] = seg ? -1 : label;
        sh->x.height[i] = h;
        sh->x.width[i] = w_px;
        if (seg) {
            sh->x.mask_offset[i] = off + (int64_t)len;
            sh->x.mask_length[i] = (int64_t)mask_len;
        }
        sh->x.n++;
    }
    CNN_ASSERT(pthread_mutex_unlock(&sh->mu) == 0);
    return rc;
}

static int seal_one(pack_writer *w, int s, pack_shard_info *info, cnn_err *e)
{
    shard_w *sh = &w->sh[s];
    data_shard_spec spec = {&w->o, s, &sh->x, sh->spool_fd, sh->blob_size, sh->blob_crc};
    sh->sealed = true;
    CNN_TRY(e, data_write_shard(sh->tmp, &spec, e));
    data_shard_want want = {s, w->o.n_shards, w->o.mode, w->o.task, w->o.raw_h, w->o.raw_w,
                            w->o.raw_c, w->o.n_classes, sh->x.n, true, data_index_crc32(&sh->x)};
    data_shard back = {0};
    int rc = data_shard_load(sh->tmp, &want, &back, e);
    if (rc == CNN_OK && back.blob_crc32 != sh->blob_crc)
        rc = CNN_ERR(e, CNN_EIO, "%s reads back with another blob checksum", sh->tmp);
    data_shard_free(&back);
    if (rc < 0)
        return rc;
    info->n = sh->x.n;
    info->index_crc32 = want.index_crc32;
    info->blob_crc32 = sh->blob_crc;
    if (sh->spool_fd >= 0) {
        close(sh->spool_fd);
        sh->spool_fd = -1;
        unlink(sh->spool);
    }
    return CNN_OK;
}

int pack_seal(pack_writer *w, pack_shard_info *info, cnn_err *e)
{
    for (int s = 0; s < w->o.n_shards; s++) {
        if (!w->sh[s].owned)
            continue;
        int rc = seal_one(w, s, &info[s], e);
        if (rc < 0) {
            cnn_err_prefix(e, "writing shard %s: ", w->sh[s].path);
            return rc;
        }
    }
    return CNN_OK;
}

int pack_rename_shards(pack_writer *w, cnn_err *e)
{
    for (int s = 0; s < w->o.n_shards; s++) {
        shard_w *sh = &w->sh[s];
        if (!sh->owned)
            continue;
        CNN_ASSERT(sh->sealed);
        if (rename(sh->tmp, sh->path) != 0)
            return CNN_ERR(e, CNN_EIO, "renaming %s to %s failed: %s", sh->tmp, sh->path,
                           strerror(errno));
        sh->renamed = true;
    }
    return io_sync_dir(w->master, e);
}

int pack_write_master(pack_writer *w, const pack_shard_info *info, const float mean[3],
                      const float std[3], cnn_err *e)
{
    int rc = data_write_master(w->master_tmp, &w->o, info, mean, std, e);
    if (rc < 0)
        unlink(w->master_tmp);
    else
        rc = io_file_commit(w->master_tmp, w->master, e); /* removes the tmp on failure */
    if (rc < 0)
        cnn_err_prefix(e, "writing %s: ", w->master);
    return rc;
}

static void writer_free(pack_writer *w, bool remove_all)
{
    for (int s = 0; s < w->o.n_shards; s++) {
        shard_w *sh = &w->sh[s];
        if (sh->spool_fd >= 0)
            close(sh->spool_fd);
        if (remove_all && sh->owned) {
            unlink(sh->spool);
            unlink(sh->tmp);
            if (sh->renamed)
                unlink(sh->path);
        }
        free(sh->path);
        free(sh->tmp);
        free(sh->spool);
        data_index_free(&sh->x);
        pthread_mutex_destroy(&sh->mu);
    }
    for (int i = 0; i < w->o.n_classes; i++)
        free(w->o.classes[i]);
    free(w->o.classes);
    free((char *)w->o.prefix);
    free((char *)w->o.source);
    free(w->sh);
    free(w->master);
    free(w->master_tmp);
    free(w);
}

int pack_finish(pack_writer *w, const float mean[3], const float std[3], cnn_err *e)
{
    CNN_ASSERT(w->o.world == 1 && "MPI packing uses pack_seal, rename and write_master");
    pack_shard_info *info = cnn_xcalloc((size_t)w->o.n_shards, sizeof *info);
    int rc = pack_seal(w, info, e);
    if (rc == CNN_OK)
        rc = pack_rename_shards(w, e);
    if (rc == CNN_OK)
        rc = pack_write_master(w, info, mean, std, e);
    free(info);
    writer_free(w, rc < 0);
    return rc;
}

void pack_close(pack_writer *w)
{
    if (w)
        writer_free(w, false);
}

void pack_abort(pack_writer *w)
{
    if (w)
        writer_free(w, true);
}
