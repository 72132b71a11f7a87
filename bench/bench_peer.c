/* The PyTorch peer of layer-bench: bench/torch_layers.py runs in a child process for the
 * whole benchmark (torch imports once) and answers one JSON line per case on a pipe, so the
 * two sides can take turns on every case. Replies come from json.dumps with its default
 * separators; the few fields read here are parsed by hand rather than with a JSON library. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define INSTALL_HINT "install PyTorch with: apt-get install python3-torch (Debian)"

struct peer {
    pid_t pid;
    FILE *to, *from; /* child's stdin, stdout */
    char *line;
    size_t cap;
};

/* Pointer just past `"key": `, or NULL. */
static const char *json_field(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(line, pat);
    return p ? p + strlen(pat) : NULL;
}

/* A string field without escapes (versions, our own ids); "" when absent. */
static void json_get_str(const char *line, const char *key, char *out, size_t n)
{
    const char *p = json_field(line, key);
    out[0] = '\0';
    if (!p || *p != '"')
        return;
    p++;
    size_t len = strcspn(p, "\"");
    if (len >= n)
        len = n - 1;
    memcpy(out, p, len);
    out[len] = '\0';
}

static int read_reply(peer *p, cnn_err *e)
{
    errno = 0;
    if (getline(&p->line, &p->cap, p->from) < 0)
        return CNN_ERR(e, CNN_EIO, "the PyTorch peer ended without answering (see its "
                       "messages above)%s%s", errno ? ": " : "", errno ? strerror(errno) : "");
    return CNN_OK;
}

static pid_t spawn(const char *python, const char *script, int threads, int *to_fd,
                   int *from_fd)
{
    int in[2], out[2];
    if (pipe(in) < 0)
        return -1;
    if (pipe(out) < 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    char tbuf[16];
    snprintf(tbuf, sizeof tbuf, "%d", threads);
    fflush(NULL); /* the child must not repeat our buffered output */
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execl(python, python, script, "--serve", "--threads", tbuf, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        return -1;
    }
    *to_fd = in[1];
    *from_fd = out[0];
    return pid;
}

/* PyTorch allocates fresh output and gradient tensors every iteration. With glibc's
 * defaults, multi-MB blocks are unmapped on free (or trimmed from the heap top) and
 * page-faulted back in on the next iteration, which doubles some PyTorch times and makes
 * them bimodal. Keeping freed memory in the heap shows PyTorch's kernels at their best: the
 * stricter peer. Set in our environment before fork (glibc read ours long ago), so only the
 * child sees it; a user's own MALLOC_* settings win. */
static void tune_peer_malloc(void)
{
    setenv("MALLOC_MMAP_THRESHOLD_", "16777216", 0);
    setenv("MALLOC_TRIM_THRESHOLD_", "1073741824", 0);
}

int peer_start(const char *python, const char *script, int threads, bool plain_malloc,
               peer **out, peer_info *info, cnn_err *e)
{
    *out = NULL;
    memset(info, 0, sizeof *info);
    if (access(python, X_OK) != 0)
        return CNN_ERR(e, CNN_ENOTSUP, "no Python interpreter at %s; " INSTALL_HINT, python);
    if (access(script, R_OK) != 0)
        return CNN_ERR(e, CNN_EIO, "cannot read the peer script %s: %s; pass --torch-script "
                       "PATH", script, strerror(errno));
    if (!plain_malloc)
        tune_peer_malloc();
    signal(SIGPIPE, SIG_IGN); /* a dead child shows as a failed write, not a dead benchmark */
    int to_fd, from_fd;
    peer *p = cnn_xcalloc(1, sizeof *p);
    p->pid = spawn(python, script, threads, &to_fd, &from_fd);
    if (p->pid < 0) {
        free(p);
        return CNN_ERR(e, CNN_EIO, "cannot start %s: %s", python, strerror(errno));
    }
    p->to = fdopen(to_fd, "w");
    p->from = fdopen(from_fd, "r");
    if (!p->to || !p->from)
        cnn_fatal("fdopen on a fresh pipe failed: %s", strerror(errno));
    int rc = read_reply(p, e);
    if (rc == CNN_OK && json_field(p->line, "error")) {
        char msg[256], hint[256];
        json_get_str(p->line, "error", msg, sizeof msg);
        json_get_str(p->line, "hint", hint, sizeof hint);
        rc = CNN_ERR(e, CNN_ENOTSUP, "%s: %s; %s", python, msg, hint[0] ? hint : INSTALL_HINT);
    }
    if (rc < 0) {
        peer_stop(p);
        return rc;
    }
    json_get_str(p->line, "torch", info->torch, sizeof info->torch);
    json_get_str(p->line, "onednn", info->onednn, sizeof info->onednn);
    json_get_str(p->line, "cudnn", info->cudnn, sizeof info->cudnn);
    json_get_str(p->line, "gpu", info->gpu, sizeof info->gpu);
    const char *t = json_field(p->line, "threads");
    info->threads = t ? atoi(t) : 0;
    *out = p;
    return CNN_OK;
}

int peer_request(peer *p, const char *what, const char *request, int iters, double *ms,
                 bool *finite, cnn_err *e)
{
    fprintf(p->to, "%s\n", request);
    fflush(p->to);
    CNN_TRY(e, read_reply(p, e));
    if (json_field(p->line, "error")) {
        char msg[512];
        json_get_str(p->line, "error", msg, sizeof msg);
        return CNN_ERR(e, CNN_EINVAL, "PyTorch failed on %s: %s", what, msg);
    }
    const char *s = json_field(p->line, "times_ms");
    if (!s || *s != '[')
        return CNN_ERR(e, CNN_EIO, "PyTorch reply without times_ms: %.200s", p->line);
    s++;
    for (int i = 0; i < iters; i++) {
        char *end;
        ms[i] = strtod(s, &end);
        if (end == s)
            return CNN_ERR(e, CNN_EIO, "PyTorch reply has fewer than %d times: %.200s",
                           iters, p->line);
        s = end + strspn(end, ", ");
    }
    const char *f = json_field(p->line, "finite");
    *finite = f && !strncmp(f, "true", 4);
    return CNN_OK;
}

long long peer_reply_int(const peer *p, const char *key, long long def)
{
    const char *v = p->line ? json_field(p->line, key) : NULL;
    return v ? strtoll(v, NULL, 10) : def;
}

int peer_time(peer *p, const bench_case *bc, int warmup, int iters, double *ms, bool *finite,
              cnn_err *e)
{
    char req[512];
    snprintf(req, sizeof req,
             "{\"id\": \"%s\", \"op\": \"%s\", \"n\": %d, \"c\": %d, \"h\": %d, "
             "\"w\": %d, \"k\": %d, \"r\": %d, \"s\": %d, \"stride\": %d, \"pad\": %d, "
             "\"bias\": %s, \"warmup\": %d, \"iters\": %d}",
             bc->id, bench_op_name(bc->op), bc->n, bc->c, bc->h, bc->w, bc->k, bc->r, bc->r,
             bc->stride, bc->pad, bc->bias ? "true" : "false", warmup, iters);
    return peer_request(p, bc->id, req, iters, ms, finite, e);
}

void peer_stop(peer *p)
{
    if (!p)
        return;
    if (p->to)
        fclose(p->to); /* EOF on its stdin ends the serving loop */
    if (p->from)
        fclose(p->from);
    int status;
    while (p->pid > 0 && waitpid(p->pid, &status, 0) < 0 && errno == EINTR) {
    }
    free(p->line);
    free(p);
}
