/* Node-shared memory for the dataset's RAM cache (data.h dataset_shared), so that the ranks
 * of a node hold one copy, not one each. POSIX shared memory rather than an MPI-3 shared
 * window: unmapping is local (munmap in dataset_close), while MPI_Win_free is collective
 * and would hang a rank that closes its datasets on an error path while the others are in
 * another collective. Node rank 0 creates the object, every rank allocates its own part
 * with MADV_POPULATE_WRITE (a full /dev/shm then fails here, cleanly, instead of a SIGBUS
 * on first touch), the ranks agree, and the name is unlinked at once: nothing outlives the
 * processes. Any failure gives NULL on every rank (each then caches privately). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "comm_impl.h"

struct comm_shm {
    comm *c;
    MPI_Comm node;
    int rank, size;
    unsigned seq; /* objects made so far, for unique names */
    char name[64]; /* rank 0: the object being made */
};

comm_shm *comm_shm_create(comm *c)
{
    comm_shm *s = cnn_xcalloc(1, sizeof *s);
    s->c = c;
    comm_watch_enter(c, WATCH_MAIN, "node communicator for shared memory");
    CNN_MPI(MPI_Comm_split_type(c->main_comm, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL,
                                &s->node));
    comm_watch_leave(c, WATCH_MAIN);
    CNN_MPI(MPI_Comm_set_errhandler(s->node, MPI_ERRORS_RETURN));
    CNN_MPI(MPI_Comm_rank(s->node, &s->rank));
    CNN_MPI(MPI_Comm_size(s->node, &s->size));
    return s;
}

void comm_shm_destroy(comm_shm *s)
{
    if (!s)
        return;
    CNN_MPI(MPI_Comm_free(&s->node));
    free(s);
}

int comm_shm_rank(const comm_shm *s) { return s->rank; }
int comm_shm_size(const comm_shm *s) { return s->size; }

static void node_allreduce(comm_shm *s, void *v, int n, MPI_Datatype t, MPI_Op op,
                           const char *what)
{
    comm_watch_enter(s->c, WATCH_MAIN, what);
    CNN_MPI(MPI_Allreduce(MPI_IN_PLACE, v, n, t, op, s->node));
    comm_watch_leave(s->c, WATCH_MAIN);
}

/* Rank 0 creates and sizes the object (*created: it exists, to be unlinked); every rank
 * learns its name, or that it failed. */
static int open_object(comm_shm *s, size_t bytes, bool *created)
{
    *created = false;
    struct {
        int ok;
        char name[64];
    } m = {0, ""};
    int fd = -1;
    if (s->rank == 0) {
        snprintf(m.name, sizeof m.name, "/cnn-dist-%ld-%u", (long)getpid(), s->seq);
        fd = shm_open(m.name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
        *created = fd >= 0;
        snprintf(s->name, sizeof s->name, "%s", m.name);
        m.ok = fd >= 0 && ftruncate(fd, (off_t)bytes) == 0;
        if (!m.ok)
            log_all("shared dataset cache: %s %s: %s; each rank caches on its own",
                    fd < 0 ? "shm_open" : "ftruncate", m.name, strerror(errno));
    }
    s->seq++;
    comm_watch_enter(s->c, WATCH_MAIN, "shared memory name");
    CNN_MPI(MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, 0, s->node));
    comm_watch_leave(s->c, WATCH_MAIN);
    if (s->rank != 0 && m.ok)
        fd = shm_open(m.name, O_RDWR | O_CLOEXEC, 0);
    if (m.ok && fd < 0)
        log_all("shared dataset cache: shm_open %s: %s", m.name, strerror(errno));
    if (!m.ok && fd >= 0)
        close(fd);
    return m.ok ? fd : -1;
}

/* Maps the object and allocates this rank's page-aligned share of it (the same split as
 * the dataset cache's parts, so each rank faults in what it then writes). */
static uint8_t *map_part(comm_shm *s, int fd, size_t bytes)
{
    uint8_t *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        log_all("shared dataset cache: mmap of %zu bytes: %s", bytes, strerror(errno));
        return NULL;
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t lo = (size_t)((uint64_t)bytes * (uint64_t)s->rank / (uint64_t)s->size) / page * page;
    size_t hi = s->rank + 1 == s->size
                    ? bytes
                    : (size_t)((uint64_t)bytes * (uint64_t)(s->rank + 1) / (uint64_t)s->size) /
                          page * page;
    int r = hi > lo ? madvise(p + lo, hi - lo, MADV_POPULATE_WRITE) : 0;
    if (r != 0 && errno == EINVAL) /* before Linux 5.14: reserve the pages another way */
        r = posix_fallocate(fd, (off_t)lo, (off_t)(hi - lo)) == 0 ? 0 : -1;
    if (r != 0) {
        log_all("shared dataset cache: allocating %zu bytes of shared memory failed (is "
                "/dev/shm large enough?)", hi - lo);
        munmap(p, bytes);
        return NULL;
    }
    return p;
}

void *comm_shm_map(void *ctx, size_t bytes)
{
    comm_shm *s = ctx;
    uint64_t v[2] = {bytes, ~(uint64_t)bytes}; /* max and ~min of the counts */
    node_allreduce(s, v, 2, MPI_UINT64_T, MPI_MAX, "shared memory size");
    if (v[0] != ~v[1] || bytes == 0)
        return NULL;
    bool created = false;
    int fd = open_object(s, bytes, &created);
    uint8_t *p = fd >= 0 ? map_part(s, fd, bytes) : NULL;
    int ok = p != NULL;
    node_allreduce(s, &ok, 1, MPI_INT, MPI_MIN, "shared memory mapped");
    if (created && shm_unlink(s->name) != 0) /* every rank has it open (or gave up) */
        log_all("shared dataset cache: shm_unlink %s: %s", s->name, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (!ok && p)
        munmap(p, bytes);
    if (!ok)
        return NULL;
    /* The other ranks' parts exist now: map them too, rather than fault page by page. */
    (void)madvise(p, bytes, MADV_POPULATE_READ);
    return p;
}

int comm_shm_agree(void *ctx, int rc)
{
    comm_shm *s = ctx;
    int v = rc;
    node_allreduce(s, &v, 1, MPI_INT, MPI_MIN, "shared dataset cache filled");
    return v;
}
