/* The metrics' accumulators, shared by metrics.c (accumulating, the summary numbers) and
 * metrics_class.c (per-class numbers from the confusion matrix). */
#ifndef CNN_TRAIN_METRICS_IMPL_H
#define CNN_TRAIN_METRICS_IMPL_H

#include "metrics.h"

enum { M_LOSS, M_COUNT, M_N, M_TASK }; /* task accumulators start at M_TASK */

struct metrics {
    task_kind task;
    int classes, ignore;
    int conf;    /* index of the (C, C) confusion matrix in acc, -1 when none is kept */
    int n_acc;
    double *acc; /* (n_acc) */
};

#endif
