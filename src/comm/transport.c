/* Which transport reduces a backend's memory: the one place in src/comm that knows whether
 * this build has NCCL (STYLE.md 3). Host memory always goes through MPI; a backend with a
 * native stream (CUDA) goes through NCCL, or is refused when the build has none (no silent
 * staging of every gradient through the host). */
#include "transport.h"

int transport_create(comm *c, backend *be, transport **out, cnn_err *e)
{
    *out = NULL;
    if (be->ops->dev == DEVICE_CPU)
        return transport_mpi_create(c, be, out, e);
#ifdef CNN_HAVE_NCCL
    if (be->ops->native_stream && be->ops->native_stream(be))
        return transport_nccl_create(c, be, out, e);
    return CNN_ERR(e, CNN_ENOTSUP,
                   "backend '%s' gives no native stream (backend_ops.native_stream) for the "
                   "NCCL transport to order its all-reduces against", be->ops->name);
#else
    return CNN_ERR(e, CNN_ENOTSUP,
                   "backend '%s' keeps gradients in device memory, and this build has no NCCL "
                   "transport for it; rebuild with the CUDA toolkit's NCCL (libnccl) found, "
                   "or run with device: cpu", be->ops->name);
#endif
}
