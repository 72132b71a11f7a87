/* Private to the checkpoint files of src/train: the float32 tensor datasets and the
 * state_dict order of a net's entries. HDF5 plumbing (CNN_H5, attributes, in-memory files,
 * crash-safe writes) comes from src/io. */
#ifndef CNN_TRAIN_CKPT_IMPL_H
#define CNN_TRAIN_CKPT_IMPL_H

#include "../io/io.h"
#include "train.h"

/* Bytes of one tensor in a checkpoint file (16 GiB: a 4-billion-parameter embedding): its
 * dimensions come from the file, so they are checked (with overflow) before anything is
 * compared with them or sized by them. */
#define CKPT_MAX_TENSOR_BYTES ((uint64_t)1 << 34)

/* A float32 dataset with shape s (rank 0: scalar) whose contiguous storage HDF5 allocates
 * now and never fills: its little-endian bytes belong at *offset of the file image, written
 * by the caller. lcpl may create intermediate groups. */
int ckpt_create_f32(hid_t loc, const char *name, hid_t lcpl, const shape *s, haddr_t *offset,
                    cnn_err *e);
/* Opens a dataset and checks that it holds floats of shape want; the error names the
 * dataset as `what` with both shapes. Returns the dataset id or a negative code. */
hid_t ckpt_open_f32(hid_t loc, const char *name, const char *what, const shape *want,
                    cnn_err *e);

/* The group of the tensors' checksums: the scalar uint32 "checksums/<name>" is the crc32 of
 * dataset <name>'s little-endian bytes. */
#define CKPT_CHECKSUMS "checksums"
uint32_t ckpt_crc32(const void *p, size_t n);
/* A tensor's bytes as read (little-endian f32, bytes of them) against the crc32 stored in
 * "checksums/<name>"; the error says the file is corrupt and how to go on. */
int ckpt_check_sum(hid_t f, const char *name, const void *data, size_t bytes, cnn_err *e);

/* The root attributes of ckpt_model_info (ckpt_info.c). */
int ckpt_write_info(hid_t f, const ckpt_model_info *info, cnn_err *e);

/* Every parameter and buffer of n in state_dict order (per node: parameters, then
 * buffers, as torch.nn.Module.state_dict). *out is malloc'ed; returns the count. */
int ckpt_state_entries(const net *n, const net_entry ***out);
/* The node keeps running statistics, so torch adds "<name>.num_batches_tracked". */
bool ckpt_has_running_stats(const net *n, int node);
/* Largest tensor among the entries and extras, in bytes (the host staging buffer of loads). */
size_t ckpt_max_bytes(const net *n, const ckpt_tensor *extra, int n_extra);

#endif
