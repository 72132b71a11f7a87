/* Private to src/comm (and its tests): the reducer's bucket layout, so that a test can
 * check the buckets are contiguous, in backward order and cover the gradients exactly. */
#ifndef CNN_COMM_REDUCER_IMPL_H
#define CNN_COMM_REDUCER_IMPL_H

#include "comm.h"

/* Bucket b's byte range [lo, hi) in grads_flat and the node whose hook makes it ready. */
typedef struct reducer_bucket {
    size_t lo, hi;
    size_t ready_hi; /* param_hi of its last node: hi without the tail padding */
    int last_node;
} reducer_bucket;

/* The last bucket's size limit for a bucket size: buckets of bucket_bytes in backward order,
 * then the last one's trailing nodes (at most this many bytes) split off, so that only a
 * small all-reduce waits for the end of backward. */
size_t reducer_tail_bytes(size_t bucket_bytes);
/* The reducer's buckets (n_buckets of them, see reducer_get_stats); borrowed. */
const reducer_bucket *reducer_buckets(const reducer *r);
/* Buckets the hook has started in the current step (0 after reducer_finish). */
int reducer_started(const reducer *r);

#endif
