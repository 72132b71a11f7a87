/* Scratch files for the fuzz targets whose readers take a path (cnn-pack's file reader, the
 * dataset reader, checkpoints): one private folder per process on tmpfs (/dev/shm when it
 * exists, else $TMPDIR or /tmp), removed at exit. The readers stat, open and pread their
 * files, so an in-memory HDF5 image alone cannot reach them; tmpfs keeps a write per input
 * at memory speed. */
#ifndef CNN_FUZZ_TMP_H
#define CNN_FUZZ_TMP_H

#include <stddef.h>

/* "<folder>/<name>", in a static buffer valid until the next call. */
const char *fuzz_tmp_path(const char *name);
/* Writes n bytes to fuzz_tmp_path(name) (created or truncated); aborts when it cannot:
 * the harness, not the input, is broken then. Returns the path. */
const char *fuzz_tmp_write(const char *name, const void *p, size_t n);
/* Removes every file of the folder (before the next input writes its own). */
void fuzz_tmp_clear(void);

#endif
