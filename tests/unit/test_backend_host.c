/* Host memory from the backend (the loader's batch ring): aligned, writable, every size. On
 * the CPU it is this backend's own memory, so a tensor view over it works with its ops. */
#include <stdint.h>
#include <string.h>

#include "../check.h"
#include "../../src/core/core.h"

/* The absurd-size case must come back as NULL under ASan too, as from glibc. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

int main(void)
{
    backend *be;
    cnn_err e = {0};
    CHECK_EQ(backend_create("cpu", 1, &be, &e), 0);
    static const size_t sizes[] = {0, 1, 63, 64, 65, 4096, (size_t)3 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = NULL;
        CHECK_EQ(be->ops->host_alloc(be, sizes[i], &p, &e), 0);
        CHECK(p != NULL);
        CHECK_EQ((uintptr_t)p % 64, 0);
        memset(p, 0xab, sizes[i]);
        be->ops->host_free(be, p);
    }
    /* A batch buffer from host_alloc used as a tensor by the backend's own ops. */
    float *h = NULL;
    CHECK_EQ(be->ops->host_alloc(be, 8 * sizeof *h, (void **)&h, &e), 0);
    tensor t = tensor_view(h, SHAPE(2, 4), DTYPE_F32, DEVICE_CPU);
    be->ops->fill(be, &t, 1.5);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(h[i], 1.5f);
    be->ops->host_free(be, h);
    /* An absurd size is a clean error naming the size, not a crash. */
    void *q = NULL;
    CHECK(be->ops->host_alloc(be, (size_t)1 << 62, &q, &e) < 0);
    CHECK_EQ(e.code, CNN_ENOMEM);
    CHECK(strstr(e.msg, "MiB") != NULL);
    backend_destroy(be);
    return 0;
}
