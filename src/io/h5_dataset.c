/* Small HDF5 datasets written in one call (1-D arrays, scalars), and datasets whose
 * contiguous storage HDF5 places in the file image but leaves for the caller to fill (large
 * tensors and blobs are written with our own I/O, io.h). */
#include "io.h"

/* rank 0: a scalar; rank 1: (n). */
static int write_ds(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, int rank,
                    int64_t n, const void *v, cnn_err *e)
{
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp = CNN_H5(e, rank ? H5Screate_simple(1, dims, NULL) : H5Screate(H5S_SCALAR));
    if (sp < 0)
        return CNN_EIO;
    hid_t d = CNN_H5(e, H5Dcreate2(loc, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT,
                                   H5P_DEFAULT));
    int rc = d < 0 ? CNN_EIO : CNN_OK;
    if (rc == CNN_OK && n > 0 &&
        CNN_H5(e, H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v)) < 0)
        rc = CNN_EIO;
    if (d >= 0 && CNN_H5(rc ? NULL : e, H5Dclose(d)) < 0)
        rc = CNN_EIO;
    H5Sclose(sp);
    if (rc < 0)
        cnn_err_prefix(e, "writing '%s': ", name);
    return rc;
}

int io_h5_write_array(hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                      const void *v, int64_t n, cnn_err *e)
{
    return write_ds(loc, name, file_type, mem_type, 1, n, v, e);
}

int io_h5_write_scalar(hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                       const void *v, cnn_err *e)
{
    return write_ds(loc, name, file_type, mem_type, 0, 1, v, e);
}

int io_h5_create_placed(hid_t loc, const char *name, hid_t lcpl, hid_t file_type, hid_t space,
                        haddr_t *offset, cnn_err *e)
{
    *offset = HADDR_UNDEF;
    hid_t dcpl = CNN_H5(e, H5Pcreate(H5P_DATASET_CREATE)), d = -1;
    int rc = dcpl < 0 ? CNN_EIO : CNN_OK;
    if (rc == CNN_OK && (CNN_H5(e, H5Pset_layout(dcpl, H5D_CONTIGUOUS)) < 0 ||
                         CNN_H5(e, H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY)) < 0 ||
                         CNN_H5(e, H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER)) < 0))
        rc = CNN_EIO;
    if (rc == CNN_OK)
        d = CNN_H5(e, H5Dcreate2(loc, name, file_type, space, lcpl, dcpl, H5P_DEFAULT));
    if (rc == CNN_OK && d < 0)
        rc = CNN_EIO;
    if (rc == CNN_OK)
        *offset = H5Dget_offset(d); /* HADDR_UNDEF (no error record) when it has no storage */
    if (d >= 0 && CNN_H5(rc ? NULL : e, H5Dclose(d)) < 0)
        rc = CNN_EIO;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return rc;
}
