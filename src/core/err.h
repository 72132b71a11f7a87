/* Errors in two tiers (STYLE.md 13-16).
 * User-fixable problems (config, dataset, CLI) return a negative CNN_E* code and fill a
 * cnn_err; callers propagate with CNN_TRY, which appends their file:line to the trace.
 * Programming and device faults call cnn_fatal(): print with rank and host, then end
 * every rank through the abort hook (MPI_Abort once comm installs it). */
#ifndef CNN_CORE_ERR_H
#define CNN_CORE_ERR_H

#include <stddef.h>

enum {
    CNN_OK = 0,
    CNN_EINVAL = -1,  /* bad user input: config value, shape, command line */
    CNN_ENOMEM = -2,  /* an allocation the user can shrink (batch, model) failed */
    CNN_EIO = -3,     /* missing or unreadable file */
    CNN_ENOTSUP = -4, /* valid request this build or backend cannot do */
    CNN_ESTATE = -5,  /* call made in the wrong state (e.g. layer used before infer) */
};

typedef struct cnn_err {
    int code;
    char msg[1024];  /* what failed, with which value, and what to do */
    char trace[512]; /* file:line of the origin, then of each CNN_TRY on the way up */
} cnn_err;

/* Fills e (when not NULL) and returns code, so `return CNN_ERR(e, CNN_EINVAL, ...)` reads well. */
int cnn_err_set(cnn_err *e, int code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define CNN_ERR(e, code, ...) cnn_err_set((e), (code), __FILE__, __LINE__, __VA_ARGS__)

/* Appends " <- file:line" to e->trace. */
void cnn_err_trace(cnn_err *e, const char *file, int line);

/* Prefixes e->msg with context ("layer 'conv1': "), keeping the message's own text. */
void cnn_err_prefix(cnn_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* What a command prints for an error it returns (code r) on stderr after flushing stdout:
 * "cnn-dist: [rank R: ]error: MSG" (the rank when world > 1), and where it came from unless
 * it is one a user fixes (CNN_EINVAL, CNN_EIO, CNN_ESTATE). */
void cnn_err_report(const char *prog, int r, const cnn_err *e, int rank, int world);

#define CNN_TRY(e, expr)                                                                 \
    do {                                                                                 \
        int cnn_rc_ = (expr);                                                            \
        if (cnn_rc_ < 0) {                                                               \
            cnn_err_trace((e), __FILE__, __LINE__);                                      \
            return cnn_rc_;                                                              \
        }                                                                                \
    } while (0)

/* Process identity used by every message; written once at start-up by main/comm, before any
 * thread starts. This and the abort hook are the only process-wide state outside cnn_ctx:
 * a fault deep inside a kernel has no context to pass but must still name its rank. */
typedef void (*cnn_abort_fn)(int code);
void cnn_proc_set(int rank, int size, cnn_abort_fn abort_hook);
int cnn_proc_rank(void);
int cnn_proc_size(void);
const char *cnn_proc_host(void);

_Noreturn void cnn_fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define cnn_fatal(...) cnn_fatal_at(__FILE__, __LINE__, __VA_ARGS__)

/* An invariant the code itself guarantees; checked in every build type, also under NDEBUG. */
#define CNN_ASSERT(cond)                                                                 \
    do {                                                                                 \
        if (!(cond))                                                                     \
            cnn_fatal_at(__FILE__, __LINE__, "internal invariant broken: %s", #cond);    \
    } while (0)

/* Host allocations for bookkeeping (descriptors, names): failure here is a fault, not a
 * user error. Large user-sized buffers go through the backend, which reports sizes. */
void *cnn_xmalloc(size_t bytes);
void *cnn_xcalloc(size_t n, size_t size);
/* Doubles an array's capacity (64 elements at first): v = cnn_xgrow(v, &cap, sizeof *v). */
void *cnn_xgrow(void *v, int *cap, size_t size);
char *cnn_xstrdup(const char *s);

#endif
