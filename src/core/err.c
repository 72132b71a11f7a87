/* Error records, fatal exit and the process identity they print. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
    int rank, size;
    cnn_abort_fn abort_hook;
    char host[64];
} proc = {0, 1, NULL, ""};

void cnn_proc_set(int rank, int size, cnn_abort_fn abort_hook)
{
    proc.rank = rank;
    proc.size = size;
    proc.abort_hook = abort_hook;
    proc.host[0] = '\0';
}

int cnn_proc_rank(void) { return proc.rank; }
int cnn_proc_size(void) { return proc.size; }

const char *cnn_proc_host(void)
{
    if (!proc.host[0] && gethostname(proc.host, sizeof proc.host - 1) != 0)
        snprintf(proc.host, sizeof proc.host, "?");
    return proc.host;
}

int cnn_err_set(cnn_err *e, int code, const char *file, int line, const char *fmt, ...)
{
    if (!e)
        return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    snprintf(e->trace, sizeof e->trace, "%s:%d", file, line);
    return code;
}

void cnn_err_trace(cnn_err *e, const char *file, int line)
{
    if (!e)
        return;
    size_t n = strlen(e->trace);
    if (n + 8 < sizeof e->trace)
        snprintf(e->trace + n, sizeof e->trace - n, " <- %s:%d", file, line);
}

void cnn_err_prefix(cnn_err *e, const char *fmt, ...)
{
    if (!e)
        return;
    char head[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    size_t hn = strlen(head), mn = strlen(e->msg);
    if (hn + mn >= sizeof e->msg)
        mn = sizeof e->msg - 1 - hn;
    memmove(e->msg + hn, e->msg, mn);
    memcpy(e->msg, head, hn);
    e->msg[hn + mn] = '\0';
}

void cnn_fatal_at(const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "[r%d/%d %s] FATAL %s:%d: %s\n", proc.rank, proc.size, cnn_proc_host(),
            file, line, msg);
    fflush(stderr);
    if (proc.abort_hook)
        proc.abort_hook(1);
    abort();
}

void *cnn_xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        cnn_fatal("malloc(%zu) failed: host memory exhausted", bytes);
    return p;
}

void *cnn_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        cnn_fatal("calloc(%zu, %zu) failed: host memory exhausted", n, size);
    return p;
}

void *cnn_xgrow(void *v, int *cap, size_t size)
{
    int c = *cap ? 2 * *cap : 64;
    void *p = realloc(v, (size_t)c * size);
    if (!p)
        cnn_fatal("realloc(%zu) failed: host memory exhausted", (size_t)c * size);
    *cap = c;
    return p;
}

char *cnn_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = cnn_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

void cnn_err_report(const char *prog, int r, const cnn_err *e, int rank, int world)
{
    fflush(stdout);
    if (world > 1)
        fprintf(stderr, "%s: rank %d: error: %s\n", prog, rank, e->msg);
    else
        fprintf(stderr, "%s: error: %s\n", prog, e->msg);
    if (r != CNN_EINVAL && r != CNN_EIO && r != CNN_ESTATE) /* a fault: where it came from */
        fprintf(stderr, "  (at %s)\n", e->trace);
}
