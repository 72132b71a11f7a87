/* HDF5 edits of a written file for the structure-aware targets (fuzz_dataset.c,
 * fuzz_ckpt.c): what another tool, a bad copy or a newer writer could leave in a file that
 * is still valid HDF5. Each edit is best effort: when HDF5 refuses it, the file stays as
 * it was. */
#ifndef CNN_FUZZ_H5EDIT_H
#define CNN_FUZZ_H5EDIT_H

#include <hdf5.h>
#include <stdint.h>

/* Opens path read-write (HDF5's errors silenced); -1 when it cannot. Until fuzz_h5_close,
 * allocations are not leak-checked (libhdf5's own leaks in edits, fuzz_h5edit.c). */
hid_t fuzz_h5_open(const char *path);
void fuzz_h5_close(hid_t f);
/* Removes the link name (a dataset, a group or "group/name"). */
void fuzz_h5_delete(hid_t f, const char *name);
/* Replaces attribute name of object obj ("." = the root) by one of kind % 8: int64 v,
 * uint32 v, float v, 3 floats, 2 int64, a string chosen by v (format names, modes, tasks,
 * "", a long one), a string of v bytes, a float64 v. */
void fuzz_h5_attr(hid_t f, const char *obj, const char *name, int kind, int64_t v);
/* Replaces dataset name by one of kind % 8 (int64, int32, uint32, uint8, float32, float64,
 * variable-length strings, fixed strings of v bytes) with len elements (1-D; a negative len:
 * a scalar). Filled with v (strings: "x") when len <= 4096; above, the storage is never
 * written, so HDF5 reads fill values: a header that claims more than the file holds. */
void fuzz_h5_dataset(hid_t f, const char *name, int kind, int64_t len, int64_t v);

#endif
