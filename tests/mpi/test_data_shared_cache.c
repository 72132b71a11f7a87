/* The node-shared dataset cache (data.h dataset_shared through src/comm's comm_shm) under
 * mpiexec -np 2 on one node: both ranks map one copy, each read only its own part of it
 * from the files (the parts sum to the blobs' size, and each is less than all of it), yet
 * every sample reads back as the packing wrote it (bytes made here from the sample index)
 * and as the uncached open reads it, and the loader's batches equal the uncached ones bit
 * for bit. Ranks that disagree (one without cache, one failing to open) fall back without
 * hanging; verify_blobs checks the shared copy. Also runs as 1 rank. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/comm/comm.h"
#include "../../src/data/data.h"
#include "../check.h"

#define N 41
#define SIDE 23 /* 23x23x3 = 1587 bytes a sample: shards and parts cut samples anywhere */
#define PX (SIDE * SIDE * 3)
#define SHARDS 3

static uint8_t byte_of(int64_t i, int k) { return (uint8_t)(i * 37 + k * 11 + (k >> 7)); }

static void pack(const char *prefix)
{
    static char *classes[4] = {"a", "b", "c", "d"};
    pack_opts po = {.prefix = prefix, .n_shards = SHARDS, .mode = DATA_RAW,
                    .task = DATA_CLASSIFY, .raw_h = SIDE, .raw_w = SIDE, .raw_c = 3,
                    .source = "test", .classes = classes, .n_classes = 4};
    pack_writer *w = NULL;
    cnn_err e = {0};
    CHECK_EQ(pack_open(&po, &w, &e), CNN_OK);
    uint8_t px[PX];
    for (int64_t i = 0; i < N; i++) {
        for (int k = 0; k < PX; k++)
            px[k] = byte_of(i, k);
        CHECK_EQ(pack_add(w, (int)(i * SHARDS / N), px, PX, (int32_t)(i % 4), SIDE, SIDE,
                          NULL, 0, &e), CNN_OK);
    }
    float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.25f, 0.25f, 0.25f};
    CHECK_EQ(pack_finish(w, mean, std, &e), CNN_OK);
}

static dataset *open_ds(const char *path, size_t ram, const dataset_shared *sh, bool verify)
{
    dataset_open_opts o = {verify, ram, sh};
    dataset *ds = NULL;
    cnn_err e = {0};
    if (dataset_open_with(path, &o, &ds, &e) < 0) {
        fprintf(stderr, "dataset_open_with: %s\n", e.msg);
        exit(1);
    }
    return ds;
}

static void same_samples(const dataset *a, const dataset *b)
{
    uint8_t x[PX], y[PX];
    cnn_err e = {0};
    for (int64_t i = 0; i < N; i++) {
        CHECK_EQ(dataset_read(a, i, x, NULL, &e), CNN_OK);
        CHECK_EQ(dataset_read(b, i, y, NULL, &e), CNN_OK);
        for (int k = 0; k < PX; k++)
            CHECK_EQ(x[k], byte_of(i, k));
        CHECK(memcmp(x, y, PX) == 0);
    }
}

static loader *make_loader(const dataset *ds, int rank, int world)
{
    loader_opts o = {.ds = ds, .workers = 2, .prefetch = 2, .channels = 3,
                     .key = rng_key_from_seed(7)};
    CHECK_EQ(sampler_init(&o.smp, N, 8, rank, world, 3, true, true, NULL), CNN_OK);
    o.aug = (augment_cfg){.out_h = 16, .out_w = 16, .train = true, .scale = {0.3f, 1},
                          .ratio = {0.75f, 4.0f / 3}, .hflip = true, .brightness = 0.4f,
                          .contrast = 0.4f, .saturation = 0.4f, .mean = {0.5f, 0.4f, 0.3f},
                          .std = {0.2f, 0.25f, 0.3f}, .channels = 3};
    loader *ld = NULL;
    cnn_err e = {0};
    CHECK_EQ(loader_create(&o, &ld, &e), CNN_OK);
    CHECK_EQ(loader_start_epoch(ld, 1, 0, &e), CNN_OK);
    return ld;
}

/* This rank's slices of one epoch from both datasets: identical, batch by batch. */
static void same_batches(const dataset *a, const dataset *b, int rank, int world)
{
    loader *la = make_loader(a, rank, world), *lb = make_loader(b, rank, world);
    cnn_err e = {0};
    int batches = 0;
    for (;; batches++) {
        const batch *x = NULL, *y = NULL;
        CHECK_EQ(loader_next(la, &x, &e), CNN_OK);
        CHECK_EQ(loader_next(lb, &y, &e), CNN_OK);
        CHECK((x == NULL) == (y == NULL));
        if (!x)
            break;
        CHECK(x->n == y->n && memcmp(x->index, y->index, (size_t)x->n * 8) == 0);
        CHECK(memcmp(x->labels, y->labels, (size_t)x->n * 4) == 0);
        CHECK(memcmp(x->images, y->images, (size_t)x->n * 3 * 16 * 16 * 4) == 0);
    }
    CHECK_EQ(batches, N / 8);
    loader_destroy(la);
    loader_destroy(lb);
}

static void shared_copy(comm *c, comm_shm *s, const char *path, const dataset *plain)
{
    dataset_shared sh = {comm_shm_rank(s), comm_shm_size(s), s, comm_shm_map, comm_shm_agree};
    dataset *ds = open_ds(path, DATASET_RAM_DEFAULT, &sh, true);
    const dataset_info *in = dataset_get_info(ds);
    CHECK(in->cached && in->cache_shared);
    int64_t total = (int64_t)N * PX, read[2] = {in->cache_read, 1};
    comm_allreduce_sum_i64(c, read, 2, "test cache parts");
    CHECK_EQ(read[0], total); /* the node read the blobs once, between its ranks */
    if (comm_shm_size(s) > 1)
        CHECK(in->cache_read > 0 && in->cache_read < total);
    printf("rank %d: read %lld of %lld cached bytes, serves all %d samples\n", comm_rank(c),
           (long long)in->cache_read, (long long)total, N);
    same_samples(ds, plain);
    same_batches(ds, plain, comm_rank(c), comm_size(c));
    dataset_close(ds);
}

/* Ranks that do not all want the shared cache: no hang, each on its own. */
static void fallbacks(comm_shm *s, const char *path, const dataset *plain)
{
    dataset_shared sh = {comm_shm_rank(s), comm_shm_size(s), s, comm_shm_map, comm_shm_agree};
    int r = comm_shm_rank(s);
    dataset *ds = open_ds(path, r == 0 ? DATASET_RAM_DEFAULT : 0, &sh, false);
    const dataset_info *in = dataset_get_info(ds);
    CHECK_EQ(in->cached, r == 0 || comm_shm_size(s) == 1);
    CHECK_EQ(in->cache_shared, comm_shm_size(s) == 1);
    same_samples(ds, plain);
    dataset_close(ds);
    /* Rank 1 cannot open its dataset: its error, while rank 0 caches on its own. */
    dataset_open_opts o = {false, DATASET_RAM_DEFAULT, &sh};
    cnn_err e = {0};
    ds = NULL;
    int rc = dataset_open_with(r == 1 ? "/nonexistent/x.h5" : path, &o, &ds, &e);
    CHECK_EQ(rc < 0, r == 1);
    if (r != 1) {
        CHECK(dataset_get_info(ds)->cached);
        CHECK_EQ(dataset_get_info(ds)->cache_shared, comm_shm_size(s) == 1);
        dataset_close(ds);
    }
}

int main(int argc, char **argv)
{
    comm *c = NULL;
    cnn_err e = {0};
    if (comm_init(&argc, &argv, 60, &c, &e) < 0) {
        fprintf(stderr, "comm_init: %s\n", e.msg);
        return 1;
    }
    char dir[64] = "/tmp/cnn_test_shared_cache_XXXXXX";
    if (comm_rank(c) == 0)
        CHECK(mkdtemp(dir));
    comm_bcast_bytes(c, dir, sizeof dir, 0, "test dir");
    char prefix[128], path[140];
    snprintf(prefix, sizeof prefix, "%s/d", dir);
    snprintf(path, sizeof path, "%s.h5", prefix);
    if (comm_rank(c) == 0)
        pack(prefix);
    comm_barrier(c, "test packed");
    dataset *plain = open_ds(path, 0, NULL, true);
    CHECK(!dataset_get_info(plain)->cached);
    comm_shm *s = comm_shm_create(c);
    CHECK_EQ(comm_shm_size(s), comm_local_size(c));
    CHECK_EQ(comm_shm_rank(s), comm_local_rank(c));
    shared_copy(c, s, path, plain);
    fallbacks(s, path, plain);
    comm_shm_destroy(s);
    dataset_close(plain);
    comm_barrier(c, "test done");
    if (comm_rank(c) == 0) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK_EQ(system(cmd), 0);
    }
    comm_finalize(c);
    return 0;
}
