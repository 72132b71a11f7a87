/* In-memory HDF5 files for ckpt_save: the core driver without backing store, with file
 * image callbacks that hand us its buffer when the file is closed, so the file exists once
 * in host memory and HDF5 never writes to disk (checkpoint.c says why). The core driver
 * grows its buffer only when it flushes: metadata to the cache's addresses, then the whole
 * allocated size (zero-filled). Tensor storage is allocated but never written by HDF5. */
#include <stdlib.h>
#include <string.h>

#include "ckpt_impl.h"

static void *img_malloc(size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op;
    ckpt_image *im = udata;
    void *p = malloc(size);
    if (p)
        im->size = size;
    return p;
}

static void *img_memcpy(void *dst, const void *src, size_t n, H5FD_file_image_op_t op,
                        void *udata)
{
    (void)op;
    (void)udata;
    return memcpy(dst, src, n);
}

static void *img_realloc(void *p, size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op;
    ckpt_image *im = udata;
    void *q = realloc(p, size);
    if (q)
        im->size = size;
    return q;
}

/* At file close the buffer becomes ours; any other release is a real free. */
static herr_t img_free(void *p, H5FD_file_image_op_t op, void *udata)
{
    ckpt_image *im = udata;
    if (op == H5FD_FILE_IMAGE_OP_FILE_CLOSE) {
        free(im->buf);
        im->buf = p;
    } else {
        free(p);
    }
    return 0;
}

/* One ckpt_image serves every copy of the property list. */
static void *udata_copy(void *udata) { return udata; }
static herr_t udata_free(void *udata)
{
    (void)udata;
    return 0;
}

hid_t ckpt_fapl_image(ckpt_image *im, int datasets, cnn_err *e)
{
    H5FD_file_image_callbacks_t cb = {img_malloc, img_memcpy, img_realloc, img_free,
                                      udata_copy, udata_free, im};
    hid_t p = ckpt_fapl(e);
    if (p < 0)
        return p;
    /* Growth by 1 byte: the buffer ends exactly at the end of the file. The old (default)
     * file format: readable by any HDF5, and strings are variable-length in the global
     * heap, so a long config text does not hit the 64 KiB object header limit. HDF5 1.10
     * takes ~450 bytes of metadata per dataset: one block of twice that keeps all of it at
     * the start of the file, so flushing grows the buffer a few times, not once per
     * dataset; the unused rest of the block stays in the file. */
    size_t block = ((size_t)64 << 10) + (size_t)datasets * 1024;
    if (CNN_H5(e, H5Pset_fapl_core(p, 1, 0)) < 0 ||
        CNN_H5(e, H5Pset_meta_block_size(p, (hsize_t)block)) < 0 ||
        CNN_H5(e, H5Pset_file_image_callbacks(p, &cb)) < 0) {
        H5Pclose(p);
        return -1;
    }
    return p;
}
