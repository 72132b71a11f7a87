/* Tests of faults that end the process (cnn_fatal): the call runs in a forked child whose
 * stderr is captured. Fork before the parent starts an OpenMP team (libgomp's threads do not
 * survive a fork). */
#ifndef CNN_TESTS_SUPPORT_CHILD_H
#define CNN_TESTS_SUPPORT_CHILD_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check.h"

/* Runs fn(arg) in a child with its stderr read into msg (n bytes, NUL-terminated); true when
 * the child failed (a non-zero exit or a signal), as a fatal fault must make it. */
static inline bool child_fails(void (*fn)(void *), void *arg, char *msg, size_t n)
{
    int fd[2];
    CHECK(pipe(fd) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        fn(arg);
        _exit(0); /* reached only when fn returned */
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    while (got < n - 1 && (r = read(fd[0], msg + got, n - 1 - got)) > 0)
        got += (size_t)r;
    msg[got] = 0;
    close(fd[0]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

#endif
