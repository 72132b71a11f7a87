/* Private to the dataset reader (dataset.c opens and reads, dataset_cache.c holds the RAM
 * cache): the open dataset and its shards. */
#ifndef CNN_DATA_DATASET_IMPL_H
#define CNN_DATA_DATASET_IMPL_H

#include "data_impl.h"

typedef struct shard_r {
    char *path;
    int fd;
    int64_t first; /* global index of its sample 0 */
    data_shard s;
    uint8_t *mem; /* the blob, inside dataset.cache, when cached */
} shard_r;

struct dataset {
    dataset_info info;
    shard_r *sh;
    data_cache cache; /* every blob, one after the other, or base NULL */
};

/* After the shards were opened (rc: how that went, on this process): reads every blob
 * into memory when they fit in o->ram_bytes, into node-shared memory with o->shared (whose
 * collectives it calls on every path, also when rc < 0), else into private memory; no
 * memory: no cache. Returns rc, or a read's error. */
int dataset_cache_load(dataset *ds, const dataset_open_opts *o, int rc, cnn_err *e);

#endif
