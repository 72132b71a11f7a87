/* Picks the backend by name at run time. The only place outside comm/ and the build that
 * knows whether CUDA was compiled in. */
#include <string.h>

#include "cpu/cpu.h"

int backend_create(const char *name, int threads, backend **out, cnn_err *e)
{
    *out = NULL;
    if (!strcmp(name, "cpu") || !strcmp(name, "auto")) {
        /* auto picks CUDA when a GPU is visible, once the CUDA backend exists (#3). */
        CNN_TRY(e, cpu_backend_create(threads, out, e));
    } else if (!strcmp(name, "cuda")) {
#ifdef CNN_HAVE_CUDA
        return CNN_ERR(e, CNN_ENOTSUP, "device: cuda: the CUDA backend is not implemented yet "
                       "(issue #3); use device: cpu");
#else
        return CNN_ERR(e, CNN_ENOTSUP, "device: cuda: this build has no CUDA support "
                       "(configure with -DCNN_CUDA=ON on a machine with the CUDA toolkit)");
#endif
    } else {
        return CNN_ERR(e, CNN_EINVAL, "device: '%s' is not one of: auto, cpu, cuda", name);
    }
    int rc = backend_check_complete((*out)->ops, e);
    if (rc < 0) {
        backend_destroy(*out);
        *out = NULL;
        return rc;
    }
    return CNN_OK;
}
