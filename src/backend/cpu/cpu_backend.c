/* CPU backend object: memory, copies, and assembly of the ops table from its groups (the
 * f16/bf16 wrappers of cpu_lowp.c go last, in front of the f32 kernels). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_impl.h"

/* 64-byte alignment: AVX-512 loads and oneDNN's preferred alignment. */
static int cpu_alloc(backend *be, size_t bytes, void **out, cnn_err *e)
{
    (void)be;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    *out = aligned_alloc(64, rounded ? rounded : 64);
    if (!*out)
        return CNN_ERR(e, CNN_ENOMEM, "out of host memory allocating %.1f MiB; reduce the "
                       "batch size or the model", (double)bytes / (1 << 20));
    return CNN_OK;
}

static void cpu_free(backend *be, void *p)
{
    (void)be;
    free(p);
}

static void cpu_copy(backend *be, void *dst, device_kind dd, const void *src, device_kind sd,
                     size_t bytes)
{
    (void)be;
    if (dd != DEVICE_CPU || sd != DEVICE_CPU)
        cnn_fatal("cpu backend: copy between %s and %s memory", device_name(dd),
                  device_name(sd));
    if (bytes)
        memmove(dst, src, bytes);
}

static void cpu_sync(backend *be) { (void)be; }

static void cpu_destroy(backend *be)
{
    if (!be)
        return;
    cpu_state *st = cpu_of(be);
    cpu_conv_cache_destroy(st->conv_cache);
    cpu_lowp_free(st);
    free(st);
    free(be);
}

int cpu_backend_create(int threads, backend **out, cnn_err *e)
{
    if (threads < 0)
        return CNN_ERR(e, CNN_EINVAL, "threads=%d must be >= 0 (0 = OpenMP default)", threads);
    cpu_state *st = cnn_xcalloc(1, sizeof *st);
    backend_ops *ops = &st->ops;
    ops->name = "cpu";
    ops->dev = DEVICE_CPU;
    ops->destroy = cpu_destroy;
    ops->alloc = cpu_alloc;
    ops->free = cpu_free;
    ops->host_alloc = cpu_alloc; /* host memory is this backend's memory */
    ops->host_free = cpu_free;
    ops->copy = cpu_copy;
    ops->sync = cpu_sync;
    cpu_install_elementwise(ops);
    cpu_install_cast(ops);
    cpu_install_act(ops);
    cpu_install_dense(ops);
    cpu_install_conv(ops);
    cpu_install_pool(ops);
    cpu_install_norm(ops);
    cpu_install_loss(ops);
    cpu_install_xent_soft(ops);
    cpu_install_optim(ops);
    cpu_install_lowp(st);
    backend *be = cnn_xcalloc(1, sizeof *be);
    be->ops = ops;
    be->impl = st;
    be->threads = threads ? threads : omp_get_max_threads();
    if (threads)
        omp_set_num_threads(threads);
    *out = be;
    return CNN_OK;
}
