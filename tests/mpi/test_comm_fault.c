/* A job that goes wrong on purpose, for tests/mpi/comm_faults.sh (which runs it under
 * mpiexec, times it and reads its output):
 *   timeout: comm.timeout_s 2; rank 1 sleeps 30 s before a collective the others are in:
 *            the watchdog must report rank 1 as not joined and abort the job;
 *   fatal:   rank 1 calls cnn_fatal while the others wait in a collective: the abort hook
 *            must end the job with rank 1's message (the watchdog's 60 s never come). */
#include <string.h>
#include <unistd.h>

#include "../../src/comm/comm.h"
#include "../check.h"

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "timeout") && strcmp(argv[1], "fatal"))) {
        fprintf(stderr, "usage: test_comm_fault timeout|fatal\n");
        return 2;
    }
    bool timeout = !strcmp(argv[1], "timeout");
    comm *c;
    cnn_err e = {0};
    if (comm_init(&argc, &argv, timeout ? 2.0 : 60.0, &c, &e) < 0) {
        fprintf(stderr, "comm_init: %s\n", e.msg);
        return 1;
    }
    double v = 1;
    comm_set_phase(c, "step 1");
    comm_allreduce_sum_f64(c, &v, 1, "loss");
    comm_set_phase(c, "step 2");
    if (comm_rank(c) == 1) {
        if (!timeout)
            cnn_fatal("rank 1 fails on purpose (test_comm_fault)");
        sleep(30);
    }
    comm_allreduce_sum_f64(c, &v, 1, "loss");
    fprintf(stderr, "rank %d: the collective completed, but the job should have ended\n",
            comm_rank(c));
    comm_finalize(c);
    return 0;
}
