/* The public face of src/io: file helpers shared by checkpoints (src/train) and datasets
 * (src/data). Checked HDF5 calls that turn HDF5's error stack into a cnn_err (STYLE.md 13),
 * HDF5 files built in memory whose buffer we take over, small attribute and dataset helpers,
 * and crash-safe files: write "<path>.tmp.<pid>" with checked I/O, fsync, rename over path,
 * fsync the directory. HDF5 never writes to disk through these helpers: in libhdf5 1.10 an
 * H5Fclose that fails to write (disk full) leaves a dangling id that crashes at exit. */
#ifndef CNN_IO_H
#define CNN_IO_H

#include <hdf5.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../core/core.h"

/* ---- checked HDF5 calls (h5_check.c) ---- */
/* Evaluates an HDF5 call; when it returns a negative value, fills e (CNN_EIO) with the call's
 * text, file:line, the rank and HDF5's own messages from its error stack, which is then
 * cleared. Yields the call's value, so `if (CNN_H5(e, H5Dwrite(...)) < 0)` reads well. */
#define CNN_H5(e, call) io_h5_check((int64_t)(call), #call, __FILE__, __LINE__, (e))
int64_t io_h5_check(int64_t rc, const char *call, const char *file, int line, cnn_err *e);

/* HDF5 prints its error stack to stderr by default; public calls that use HDF5 switch that
 * off while they run (errors go through cnn_err instead) and restore the caller's handler. */
typedef struct io_h5_quiet {
    H5E_auto2_t fn;
    void *data;
} io_h5_quiet;
void io_h5_quiet_begin(io_h5_quiet *q);
void io_h5_quiet_end(const io_h5_quiet *q);

/* File access for reading: object ids left open are closed with the file. */
hid_t io_h5_fapl(cnn_err *e);
/* Opens path read-only with that access; -1 with HDF5's message in e on failure. */
hid_t io_h5_open_read(const char *path, cnn_err *e);

/* ---- HDF5 files built in memory (h5_image.c) ---- */
/* A file that HDF5 builds in memory (the core driver, no backing store) and whose buffer we
 * take over when HDF5 closes it, instead of copying it. */
typedef struct io_h5_image {
    char *buf;   /* after H5Fclose: the file's bytes, ours to write and free */
    size_t size; /* bytes in buf */
} io_h5_image;
/* File access that builds into im, with metadata allocated in blocks of meta_block bytes
 * (one large block keeps all of it at the start of the file). Callers may add their own
 * settings (library version bounds) to the returned list. */
hid_t io_h5_fapl_image(io_h5_image *im, size_t meta_block, cnn_err *e);

/* ---- attributes (h5_attr.c) ---- */
/* Variable-length UTF-8 strings (what h5py writes for str); the caller closes the type. */
hid_t io_h5_vlen_str_type(cnn_err *e);
/* n values (1: a scalar attribute) of mem_type from v, stored as file_type. */
int io_h5_attr_put(hid_t obj, const char *name, hid_t file_type, hid_t mem_type, int n,
                   const void *v, cnn_err *e);
int io_h5_attr_put_i64(hid_t obj, const char *name, int64_t v, cnn_err *e);
int io_h5_attr_put_u32(hid_t obj, const char *name, uint32_t v, cnn_err *e);
int io_h5_attr_put_f32(hid_t obj, const char *name, const float *v, int n, cnn_err *e);
int io_h5_attr_put_str(hid_t obj, const char *name, const char *s, cnn_err *e);
/* Numbers converted to mem_type, whose class (integer or float) the file's must match; n
 * values (1: scalar or (1)); a missing attribute is an error. */
int io_h5_attr_get(hid_t obj, const char *name, hid_t mem_type, int n, void *v, cnn_err *e);
/* *out: a malloc'ed copy (variable- or fixed-length string); when absent, an error if
 * required, else CNN_OK with *out = NULL. A fixed-length string may have at most
 * IO_H5_MAX_STR_BYTES (the largest attribute we write is a config, at most 4 MiB). */
#define IO_H5_MAX_STR_BYTES ((size_t)64 << 20)
int io_h5_attr_get_str(hid_t obj, const char *name, bool required, char **out, cnn_err *e);

/* ---- datasets (h5_dataset.c) ---- */
/* A (n) dataset (file_type on disk, mem_type in v); n == 0 creates it empty. */
int io_h5_write_array(hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                      const void *v, int64_t n, cnn_err *e);
/* A scalar dataset holding *v. */
int io_h5_write_scalar(hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                       const void *v, cnn_err *e);
/* A dataset of file_type and dataspace space whose contiguous storage HDF5 allocates now and
 * never fills: its bytes belong at *offset of the file image, written by the caller.
 * *offset is HADDR_UNDEF when the dataset has no storage (no elements). lcpl may create
 * intermediate groups (H5P_DEFAULT: not). */
int io_h5_create_placed(hid_t loc, const char *name, hid_t lcpl, hid_t file_type, hid_t space,
                        haddr_t *offset, cnn_err *e);

/* ---- checked POSIX I/O and crash-safe files (atomic_file.c) ---- */
/* Loop on short transfers and EINTR; 0, or -1 with errno set. */
int io_write_all(int fd, const void *p, size_t n);
int io_pwrite_all(int fd, const void *p, size_t n, off_t off);
/* 0, or -1 (errno) / 1 (end of file before n bytes). */
int io_pread_all(int fd, void *p, size_t n, off_t off);

/* "<path><what>.tmp.<pid>", malloc'ed: the name a file is written under before the rename. */
char *io_tmp_name(const char *path, const char *what);
/* Creates (truncates) path for writing into *fd. */
int io_file_create(const char *path, int *fd, cnn_err *e);
/* fsync (when rc is CNN_OK) and close fd, written as path; returns rc or the first error. */
int io_file_sync_close(int fd, const char *path, int rc, cnn_err *e);
/* Writes n bytes to a new file path, fsync'ed and closed; removes path again on failure. */
int io_file_write(const char *path, const void *p, size_t n, cnn_err *e);
/* Renames tmp over path (removing tmp when that fails), then fsyncs path's directory, so
 * path holds either its old or its new bytes after a crash. */
int io_file_commit(const char *tmp, const char *path, cnn_err *e);
/* The folders above path, as `mkdir -p` would make them ("runs/a/" makes runs/a too). */
int io_mkdir_parents(const char *path, cnn_err *e);
/* fsync of the directory holding path (a rename there is durable after it). */
int io_sync_dir(const char *path, cnn_err *e);

/* ---- TensorBoard event files (tfevents.c) ---- */
/* A writer of one event file that `tensorboard --logdir` reads as it reads PyTorch's
 * SummaryWriter's. Events are buffered in memory and written (without fsync) by tb_flush,
 * or by any call once 256 KiB wait; a failed write (disk full) returns CNN_EIO naming the
 * file, drops the events not yet written and cuts the file back to its last whole record,
 * so the writer stays usable. One writer is used by one thread at a time. */
typedef struct tb_writer tb_writer;
/* Creates dir (and its parents) when missing, then dir/events.out.tfevents.<unix
 * seconds>.<hostname> (".1", ".2"... appended when that name is taken: a file is never
 * overwritten), and writes the file_version record; errors name the path. */
int tb_open(const char *dir, tb_writer **out, cnn_err *e);
/* The file's path, owned by the writer. */
const char *tb_path(const tb_writer *w);
/* One Event with one scalar Value. wall_time in seconds since the epoch. tag: non-empty
 * UTF-8, any length ("loss/train"; TensorBoard groups charts by the part before '/'). */
int tb_scalar(tb_writer *w, const char *tag, int64_t step, double wall_time, float value,
              cnn_err *e);
/* One Event with one image Value: the PNG's len bytes as they are (borrowed during the
 * call), its height, width and channels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA). */
int tb_image(tb_writer *w, const char *tag, int64_t step, double wall_time, const void *png,
             size_t len, int height, int width, int channels, cnn_err *e);
/* Writes the buffered events to the file (no fsync), so a running job can be watched. */
int tb_flush(tb_writer *w, cnn_err *e);
/* Flushes (a failure is printed on stderr as a warning: call tb_flush first to handle it),
 * closes and frees; tolerates NULL. */
void tb_close(tb_writer *w);
/* CRC32C (Castagnoli) of n bytes, as TFRecord frames use it (before masking). */
uint32_t tb_crc32c(const void *p, size_t n);

#endif
