/* Private to the checkpoint files of src/train: the checked-HDF5-call macro, attribute and
 * dataset helpers, and the state_dict order of a net's entries. */
#ifndef CNN_TRAIN_CKPT_IMPL_H
#define CNN_TRAIN_CKPT_IMPL_H

#include <hdf5.h>

#include "train.h"

/* Evaluates an HDF5 call; when it returns a negative value, fills e (CNN_EIO) with the call's
 * text, file:line, the rank and HDF5's own messages from its error stack, which is then
 * cleared. Yields the call's value, so `if (CNN_H5(e, H5Dwrite(...)) < 0)` reads well. */
#define CNN_H5(e, call) ckpt_h5_check((int64_t)(call), #call, __FILE__, __LINE__, (e))
int64_t ckpt_h5_check(int64_t rc, const char *call, const char *file, int line, cnn_err *e);

/* HDF5 prints its error stack to stderr by default; our public calls switch that off while
 * they run (errors go through cnn_err instead) and restore the caller's handler after. */
typedef struct ckpt_h5_quiet {
    H5E_auto2_t fn;
    void *data;
} ckpt_h5_quiet;
void ckpt_h5_quiet_begin(ckpt_h5_quiet *q);
void ckpt_h5_quiet_end(const ckpt_h5_quiet *q);

/* File access for reading: object ids left open are closed with the file. */
hid_t ckpt_fapl(cnn_err *e);

/* A file that HDF5 builds in memory (the core driver, no backing store) and whose buffer
 * we take over when HDF5 closes it, instead of copying it (ckpt_image.c). */
typedef struct ckpt_image {
    char *buf;   /* after H5Fclose: the file's bytes, ours to write and free */
    size_t size; /* bytes in buf */
} ckpt_image;
/* File access that builds into im, with room for `datasets` datasets' metadata. */
hid_t ckpt_fapl_image(ckpt_image *im, int datasets, cnn_err *e);

/* Root attributes. Strings are variable-length UTF-8 (what h5py writes for str). */
int ckpt_attr_put(hid_t obj, const char *name, hid_t file_type, hid_t mem_type, int n,
                  const void *v, cnn_err *e);
int ckpt_attr_put_str(hid_t obj, const char *name, const char *s, cnn_err *e);
/* Reads a scalar or (n) attribute converted to mem_type; a missing one is an error. */
int ckpt_attr_get(hid_t obj, const char *name, hid_t mem_type, int n, void *v, cnn_err *e);
/* *out: a malloc'ed copy (variable- or fixed-length string), NULL when absent. */
int ckpt_attr_get_str(hid_t obj, const char *name, char **out, cnn_err *e);

/* A float32 dataset with shape s (rank 0: scalar) whose contiguous storage HDF5 allocates
 * now and never fills: its little-endian bytes belong at *offset of the file image, written
 * by the caller. lcpl may create intermediate groups. */
int ckpt_create_f32(hid_t loc, const char *name, hid_t lcpl, const shape *s, haddr_t *offset,
                    cnn_err *e);
int ckpt_write_i64_scalar(hid_t loc, const char *name, int64_t v, cnn_err *e);
/* Opens a dataset and checks that it holds floats of shape want; the error names the
 * dataset as `what` with both shapes. Returns the dataset id or a negative code. */
hid_t ckpt_open_f32(hid_t loc, const char *name, const char *what, const shape *want,
                    cnn_err *e);

/* Every parameter and buffer of n in state_dict order (per node: parameters, then
 * buffers, as torch.nn.Module.state_dict). *out is malloc'ed; returns the count. */
int ckpt_state_entries(const net *n, const net_entry ***out);
/* The node keeps running statistics, so torch adds "<name>.num_batches_tracked". */
bool ckpt_has_running_stats(const net *n, int node);
/* Largest tensor among the entries and extras, in bytes (the host staging buffer of loads). */
size_t ckpt_max_bytes(const net *n, const ckpt_tensor *extra, int n_extra);

#endif
