/* Private to src/comm: the communicator's state, the checked-MPI macro and the watch slots
 * through which every collective tells the watchdog what it is doing. Three communicators
 * duplicated from MPI_COMM_WORLD keep the main thread's collectives, the reducer thread's
 * buckets and the watchdog's messages apart, so that they can never match each other. */
#ifndef CNN_COMM_IMPL_H
#define CNN_COMM_IMPL_H

#include <mpi.h>
#include <pthread.h>

#include "comm.h"

/* A failed MPI call is a fault: name the call, its message, file:line (cnn_fatal adds the
 * rank and host) and end the job. */
void comm_mpi_fail(int rc, const char *call, const char *file, int line);
#define CNN_MPI(call)                                                                    \
    do {                                                                                 \
        int cnn_mpi_rc_ = (call);                                                        \
        if (cnn_mpi_rc_ != MPI_SUCCESS)                                                  \
            comm_mpi_fail(cnn_mpi_rc_, #call, __FILE__, __LINE__);                       \
    } while (0)

#define CNN_PTHREAD(call)                                                                \
    do {                                                                                 \
        int cnn_pt_rc_ = (call);                                                         \
        if (cnn_pt_rc_ != 0)                                                             \
            cnn_fatal("%s failed: error %d", #call, cnn_pt_rc_);                         \
    } while (0)

/* One line of collectives that run one after another: the main thread's (host collectives,
 * sync BN, tensor broadcasts) or the reducer's buckets. */
enum { WATCH_MAIN = 0, WATCH_BUCKETS = 1, WATCH_LINES = 2 };
#define WATCH_WHAT_MAX 96

typedef struct watch_slot {
    int64_t seq;     /* collectives entered on this line so far; the current one's number */
    bool active;     /* inside collective #seq */
    double since;    /* when #seq was entered (active) or left (idle), comm_now() */
    char what[WATCH_WHAT_MAX];
} watch_slot;

typedef struct watchdog watchdog;
struct transport;

struct comm {
    int rank, size, local_rank, local_size;
    MPI_Comm main_comm, bucket_comm, dog_comm;
    double timeout_s;
    pthread_mutex_t watch_mu;
    watch_slot watch[WATCH_LINES];
    char phase[WATCH_WHAT_MAX];
    watchdog *dog;
    struct transport *dev_xport; /* for tensors on a device backend, made on first use */
    backend *dev_xport_be;
};

double comm_now(void); /* monotonic seconds */

/* Brackets one collective on a line; what is copied (truncated). */
void comm_watch_enter(comm *c, int line, const char *what);
void comm_watch_leave(comm *c, int line);
/* A consistent copy of a line's slot. */
watch_slot comm_watch_get(comm *c, int line);

int watchdog_start(comm *c, watchdog **out, cnn_err *e);
void watchdog_stop(watchdog *d);

#endif
