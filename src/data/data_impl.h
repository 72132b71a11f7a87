/* Private to src/data: string and integer datasets, the names and checksums of the dataset
 * format (docs/data.md) shared by the writer (pack_writer.c) and the reader (dataset.c).
 * HDF5 plumbing (CNN_H5, attributes, in-memory files) and checked POSIX I/O come from
 * src/io. */
#ifndef CNN_DATA_IMPL_H
#define CNN_DATA_IMPL_H

#include "../io/io.h"
#include "data.h"

#define DATA_SHARD_FORMAT "cnn-dist dataset shard"
#define DATA_MASTER_FORMAT "cnn-dist dataset"

/* A (n) dataset of variable-length UTF-8 strings; n == 0 writes nothing. */
int data_write_strings(hid_t loc, const char *name, char *const *s, int n, cnn_err *e);
/* Reads a 1-D string dataset; *n = 0 and *out = NULL when absent and !required. A dataset
 * of fixed-length strings may hold at most DATA_MAX_STRING_BYTES (class names, shard
 * files: a few MB at most). */
#define DATA_MAX_STRING_BYTES ((int64_t)64 << 20)
int data_read_strings(hid_t loc, const char *name, bool required, char ***out, int *n,
                      cnn_err *e);
/* A 1-D integer dataset of n values with this size and sign, read into *out (malloc'ed). */
int data_read_ints(hid_t f, const char *name, int64_t n, int bytes, bool is_signed, void **out,
                   cnn_err *e);

/* zlib crc32 over any length (crc32_z). */
uint32_t data_crc32(uint32_t crc, const void *p, size_t n);

/* The index datasets of a shard, in the order index_crc32 covers them. */
typedef struct data_index {
    int64_t n;
    int64_t *offset, *length;
    int32_t *label, *height, *width;
    int64_t *mask_offset, *mask_length; /* segment only */
    bool has_mask;                      /* segment: the mask datasets exist */
} data_index;
uint32_t data_index_crc32(const data_index *x);
void data_index_free(data_index *x); /* frees the arrays and zeroes x */

/* "PREFIX-SSSSS-of-NNNNN.h5", malloc'ed; base_only drops the prefix's directory. */
char *data_shard_name(const char *prefix, int shard, int n_shards, bool base_only);

/* ---- the dataset's RAM cache (dataset_cache.c) ---- */
typedef struct data_cache {
    uint8_t *base; /* size bytes mapped (munmap), or NULL */
    size_t size;
} data_cache;
/* Private memory of at least bytes for the cache, 2 MiB aligned and faulted in; CNN_ENOMEM
 * when there is none. */
int data_cache_alloc(data_cache *c, size_t bytes, cnn_err *e);
void data_cache_free(data_cache *c); /* tolerates a zeroed c */

/* ---- one shard file (dataset_shard.c reads and validates, pack_files.c writes) ---- */
/* What a shard must hold; n < 0 and !has_index_crc skip those checks (cnn-pack info on a
 * shard alone). */
typedef struct data_shard_want {
    int shard, n_shards;
    data_mode mode;
    data_task task;
    int raw_h, raw_w, raw_c;
    int n_classes; /* classify: labels in [0, n_classes); 0 = unchecked */
    int64_t n;
    bool has_index_crc;
    uint32_t index_crc32;
} data_shard_want;

typedef struct data_shard {
    data_index x;
    int64_t blob_off, blob_size; /* the blob's bytes in the file */
    uint32_t index_crc32, blob_crc32; /* the file's attributes */
} data_shard;
int data_shard_load(const char *path, const data_shard_want *want, data_shard *out,
                    cnn_err *e);
void data_shard_free(data_shard *s);
/* crc32 of the blob's bytes read from fd. */
int data_blob_crc32(int fd, const char *path, const data_shard *s, uint32_t *crc, cnn_err *e);

/* Writes shard file tmp (fsync'ed): HDF5's metadata and the index, then the blob's bytes
 * copied from spool_fd at the blob's offset; checks blob_crc32 while copying. */
typedef struct data_shard_spec {
    const pack_opts *o;
    int shard;
    const data_index *x;
    int spool_fd; /* -1 when the blob is empty */
    int64_t blob_size;
    uint32_t blob_crc32;
} data_shard_spec;
int data_write_shard(const char *tmp, const data_shard_spec *s, cnn_err *e);
int data_write_master(const char *tmp, const pack_opts *o, const pack_shard_info *info,
                      const float mean[3], const float std[3], cnn_err *e);

#endif
