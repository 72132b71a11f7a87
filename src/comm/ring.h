/* Private to src/comm: a ring all-reduce (sum of f32, in place) over MPI_Isend/MPI_Irecv
 * that the communication thread drives step by step, so that it can sleep between
 * progress calls while backward runs and never spins inside MPI unless asked to. libnbc's
 * MPI_Iallreduce, progressed the same way, reached 0.51-0.73 of a ring MPI_Allreduce's
 * bandwidth on 2 ranks, this ring 0.96-0.99 (comm-bench, bench/README.md). */
#ifndef CNN_COMM_RING_H
#define CNN_COMM_RING_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct ring ring;

/* chunk: floats per message; window: slices (of size ranks x chunk) in flight at once.
 * The communicator is borrowed and must carry nothing else while a reduction runs. */
ring *ring_create(MPI_Comm mc, size_t chunk, int window);
void ring_destroy(ring *r);

/* Starts the sum over ranks of count floats at p (every rank the same count, in the same
 * order of calls). Every rank ends with bit-identical values: each element is added up
 * once, along the ring, and then copied. */
void ring_start(ring *r, float *p, size_t count);

typedef enum ring_state { RING_IDLE, RING_MOVED, RING_DONE } ring_state;
/* Advances the reduction started last: RING_DONE once complete; RING_MOVED when some
 * message completed (call again at once), RING_IDLE when none did. block: wait inside MPI
 * until some message completes (MPI_Waitsome) instead of testing (MPI_Testsome). */
ring_state ring_progress(ring *r, bool block);

#endif
