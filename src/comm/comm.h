/* The communicator: MPI world and node-local ranks (one GPU per node-local rank), agreement
 * on errors so that no rank hangs, host collectives for counts and metrics, broadcast of the
 * initial weights, synchronized batch-norm sums, the bucketed gradient all-reduce that
 * overlaps backward (reducer), and the watchdog that aborts a job whose collective never
 * completes. Knows the net's flat gradient layout, nothing of layers' internals.
 * Transports: MPI on host memory (CPU backend; a communication thread progresses buckets
 * while the compute thread runs backward) and NCCL on the CUDA backend's memory (a NCCL
 * stream ordered after the compute stream by events); comm.transport picks. */
#ifndef CNN_COMM_H
#define CNN_COMM_H

#include "../net/net.h"

typedef struct comm comm;

/* MPI_Init_thread (MPI_THREAD_MULTIPLE: the reducer's and the watchdog's threads call MPI),
 * world rank/size, node-local rank/size (MPI_Comm_split_type SHARED), and a cnn_fatal abort
 * hook that calls MPI_Abort so that a fault on one rank ends the job within seconds. Starts
 * the watchdog thread (timeout_s: a collective not complete after this long makes the rank
 * report which ranks have not joined it and abort the job). Errors go to e (MPI missing
 * thread support, say, names what the MPI library provided). Runs also without mpirun
 * (singleton: world of 1). */
int comm_init(int *argc, char ***argv, double timeout_s, comm **out, cnn_err *e);
/* Stops the threads, MPI_Finalize. Call on every rank after the last collective. */
void comm_finalize(comm *c);

int comm_rank(const comm *c);
int comm_size(const comm *c);
int comm_local_rank(const comm *c); /* among the ranks of this node: the GPU index */
int comm_local_size(const comm *c);

/* Errors without hangs: every rank passes its rc (CNN_OK or a CNN_E* code) after a step
 * that can fail on some ranks only (opening files, allocating); returns CNN_OK when all
 * succeeded, else the first failing code (lowest rank). A failing rank prints its own
 * message before; the others can print "rank R failed" and exit cleanly. */
int comm_agree(comm *c, int rc);
/* What the program is doing ("epoch 2, step 40", "evaluation after step 40"): watchdog
 * reports quote it next to the name of every collective entered from now on, the comm
 * thread's buckets included. Copied (truncated to 95 bytes). */
void comm_set_phase(comm *c, const char *phase);
/* Ends the whole job now (MPI_Abort) after printing msg with this rank's prefix. */
_Noreturn void comm_abort(comm *c, const char *msg);

/* ---- host collectives, blocking, watched by the watchdog; what names it in reports ---- */
void comm_allreduce_sum_f64(comm *c, double *v, int n, const char *what);
void comm_allreduce_sum_i64(comm *c, int64_t *v, int n, const char *what);
void comm_allreduce_max_f64(comm *c, double *v, int n, const char *what);
void comm_bcast_bytes(comm *c, void *buf, size_t bytes, int root, const char *what);
void comm_barrier(comm *c, const char *what);
/* Every rank's n bytes, concatenated in rank order, to root: a malloc'ed buffer (with a '\0'
 * after the last byte, for text) on root, NULL elsewhere; lens (root only, may be NULL)
 * receives each rank's count. Up to 2 GiB in all. */
char *comm_gather_bytes(comm *c, const void *mine, size_t n, int root, size_t *lens,
                        const char *what);

/* ---- device tensors (f32, memory of be; staged through the host when the transport
 * cannot reach it) ---- */
void comm_bcast_tensor(comm *c, backend *be, tensor *t, int root, const char *what);
/* In place sum over ranks, queued on be's compute stream order (sync BN, BN averaging). */
void comm_allreduce_sum_tensor(comm *c, backend *be, tensor *t, const char *what);
/* For exec.reduce_sum (synchronized batch norm): ctx is a comm_sync_bn. */
typedef struct comm_sync_bn {
    comm *c;
    backend *be;
} comm_sync_bn;
void comm_sync_bn_reduce(void *ctx, tensor *t);

/* ---- bucketed gradient all-reduce (reducer.c) ---- */
typedef struct reducer reducer;
typedef struct reducer_stats {
    int n_buckets;
    size_t bytes;          /* gradient bytes reduced per step */
    double comm_seconds;   /* sum over steps: time the transport spent on buckets */
    double exposed_seconds;/* sum over steps: time reducer_finish waited (not hidden) */
    int64_t steps;
} reducer_stats;
/* Buckets are contiguous slices of n->grads_flat made of whole nodes' parameter ranges,
 * about bucket_bytes each, in the order backward finishes them (offset 0 first). */
int reducer_create(comm *c, net *n, size_t bucket_bytes, reducer **out, cnn_err *e);
/* Pass as net_backward's hook (ctx = the reducer) on the backward pass that completes the
 * step's gradients: a bucket is handed to the transport as soon as all its gradients are
 * final, while backward goes on. */
void reducer_hook(void *ctx, const net *n, int node);
/* Starts every bucket the hook has not started (all of them when the hook was not used),
 * waits for all, and leaves in grads_flat the sum over ranks on every rank. The caller made
 * each rank's gradients its share of the global mean (net_backward_scaled), so the sum is
 * the exact average, also for unequal batches. */
void reducer_finish(reducer *r);
void reducer_get_stats(const reducer *r, reducer_stats *s);
void reducer_destroy(reducer *r);

/* ---- node-shared memory (comm_shm.c): one dataset cache per node ----
 * Wire into dataset_open_opts.shared (data.h) as
 *   {comm_shm_rank(s), comm_shm_size(s), s, comm_shm_map, comm_shm_agree}. */
typedef struct comm_shm comm_shm;
/* Collective over every rank: a communicator of this node's ranks. */
comm_shm *comm_shm_create(comm *c);
void comm_shm_destroy(comm_shm *s); /* collective over every rank; NULL is fine */
int comm_shm_rank(const comm_shm *s);
int comm_shm_size(const comm_shm *s);
/* Collective over the node's ranks (ctx: a comm_shm): bytes of POSIX shared memory mapped
 * in each (the same pages), each rank having allocated its page-aligned share
 * [bytes*r/n, bytes*(r+1)/n); NULL on every rank when any passed 0 or another count or
 * something failed (said on stderr). Unmap with munmap(p, bytes); nothing else to free. */
void *comm_shm_map(void *ctx, size_t bytes);
/* Collective over the node's ranks: the lowest rc (a barrier). */
int comm_shm_agree(void *ctx, int rc);

#endif
