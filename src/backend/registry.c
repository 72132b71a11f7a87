/* Picks the backend by name at run time. The only place outside comm/ and the build that
 * knows whether CUDA was compiled in. */
#include <string.h>

#include "cpu/cpu.h"
#ifdef CNN_HAVE_CUDA
#include "cuda/cuda.h"
#endif

static int create_cuda(const backend_opts *o, backend **out, cnn_err *e)
{
#ifdef CNN_HAVE_CUDA
    return cuda_backend_create(o, out, e);
#else
    (void)o;
    (void)out;
    return CNN_ERR(e, CNN_ENOTSUP, "device: cuda: this build has no CUDA support "
                   "(configure with -DCNN_CUDA=ON on a machine with the CUDA toolkit)");
#endif
}

static int cuda_visible(void)
{
#ifdef CNN_HAVE_CUDA
    return cuda_device_count() > 0;
#else
    return 0;
#endif
}

int backend_create_opts(const backend_opts *o, backend **out, cnn_err *e)
{
    *out = NULL;
    const char *name = o->name;
    if (!strcmp(name, "cuda") || (!strcmp(name, "auto") && cuda_visible()))
        CNN_TRY(e, create_cuda(o, out, e));
    else if (!strcmp(name, "cpu") || !strcmp(name, "auto"))
        CNN_TRY(e, cpu_backend_create(o->threads, out, e));
    else
        return CNN_ERR(e, CNN_EINVAL, "device: '%s' is not one of: auto, cpu, cuda", name);
    int rc = backend_check_complete((*out)->ops, e);
    if (rc < 0) {
        backend_destroy(*out);
        *out = NULL;
        return rc;
    }
    return CNN_OK;
}

int backend_create(const char *name, int threads, backend **out, cnn_err *e)
{
    backend_opts o = {.name = name, .threads = threads};
    return backend_create_opts(&o, out, e);
}
