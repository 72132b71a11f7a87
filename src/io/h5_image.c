/* In-memory HDF5 files: the core driver without backing store, with file image callbacks
 * that hand us its buffer when the file is closed, so the file exists once in host memory
 * and HDF5 never writes to disk (io.h says why). The core driver grows its buffer only when
 * it flushes: metadata to the cache's addresses, then the whole allocated size (zero-filled);
 * storage allocated early and never filled is left for the caller to write. */
#include <stdlib.h>
#include <string.h>

#include "io.h"

static void *img_malloc(size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op;
    io_h5_image *im = udata;
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
    io_h5_image *im = udata;
    void *q = realloc(p, size);
    if (q)
        im->size = size;
    return q;
}

/* At file close the buffer becomes ours; any other release is a real free. */
static herr_t img_free(void *p, H5FD_file_image_op_t op, void *udata)
{
    io_h5_image *im = udata;
    if (op == H5FD_FILE_IMAGE_OP_FILE_CLOSE) {
        free(im->buf);
        im->buf = p;
    } else {
        free(p);
    }
    return 0;
}

/* One io_h5_image serves every copy of the property list. */
static void *udata_copy(void *udata) { return udata; }
static herr_t udata_free(void *udata)
{
    (void)udata;
    return 0;
}

hid_t io_h5_fapl_image(io_h5_image *im, size_t meta_block, cnn_err *e)
{
    H5FD_file_image_callbacks_t cb = {img_malloc, img_memcpy, img_realloc, img_free,
                                      udata_copy, udata_free, im};
    hid_t p = io_h5_fapl(e);
    if (p < 0)
        return p;
    /* Growth by 1 byte: the buffer ends exactly where HDF5's last write ends. */
    if (CNN_H5(e, H5Pset_fapl_core(p, 1, 0)) < 0 ||
        CNN_H5(e, H5Pset_meta_block_size(p, (hsize_t)meta_block)) < 0 ||
        CNN_H5(e, H5Pset_file_image_callbacks(p, &cb)) < 0) {
        H5Pclose(p);
        return -1;
    }
    return p;
}
