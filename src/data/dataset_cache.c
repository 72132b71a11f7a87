/* The dataset's RAM cache: every blob read into memory at open, one after the other.
 * Private memory: the fill is bound by first touches of fresh memory, not by the copy: with
 * 4 KiB pages each first write costs a page fault (in a VM also a host fault), which with
 * a crc32 of every blob (now only with verify_blobs) made filling 47 MB run at 0.05x of
 * `dd`. So the region is 2 MiB aligned, asks for transparent huge pages (512x fewer
 * faults) and is populated in one call before the reads (MADV_POPULATE_WRITE, Linux 5.14;
 * else the reads fault it in).
 * Node-shared memory (dataset_shared): each process reads its own contiguous part, then
 * all agree, so a node holds one copy, read once. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dataset_impl.h"

#define HUGE_PAGE ((size_t)2 << 20)

int data_cache_alloc(data_cache *c, size_t bytes, cnn_err *e)
{
    memset(c, 0, sizeof *c);
    CNN_ASSERT(bytes > 0 && bytes <= SIZE_MAX - 2 * HUGE_PAGE);
    size_t size = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE, over = size + HUGE_PAGE;
    uint8_t *p = mmap(NULL, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return CNN_ERR(e, CNN_ENOMEM, "cannot map %zu bytes for the dataset cache: %s", size,
                       strerror(errno));
    /* Trim to a 2 MiB aligned start: huge pages only back aligned 2 MiB ranges. */
    size_t head = (HUGE_PAGE - (uintptr_t)p % HUGE_PAGE) % HUGE_PAGE;
    if ((head && munmap(p, head) != 0) || munmap(p + head + size, over - head - size) != 0)
        cnn_fatal("munmap of the dataset cache's alignment slack failed: %s", strerror(errno));
    c->base = p + head;
    c->size = size;
    /* Both are hints: without huge pages or populate the reads still work, only slower. */
    (void)madvise(c->base, size, MADV_HUGEPAGE);
    if (madvise(c->base, size, MADV_POPULATE_WRITE) != 0 && errno == ENOMEM) { /* would fail later, in a read or by OOM kill */
        data_cache_free(c);
        return CNN_ERR(e, CNN_ENOMEM, "not enough memory for a %zu byte dataset cache", size);
    }
    return CNN_OK;
}

void data_cache_free(data_cache *c)
{
    if (c->base && munmap(c->base, c->size) != 0)
        cnn_fatal("munmap of the dataset cache failed: %s", strerror(errno));
    memset(c, 0, sizeof *c);
}

/* Reads the cache's bytes [lo, hi) (the blobs concatenated) from their shard files. */
static int fill_range(dataset *ds, uint64_t lo, uint64_t hi, cnn_err *e)
{
    uint64_t at = 0; /* the current shard's first byte in the cache */
    for (int s = 0; s < ds->info.n_shards; s++) {
        shard_r *sh = &ds->sh[s];
        uint64_t size = (uint64_t)sh->s.blob_size, a = lo > at ? lo : at;
        uint64_t b = hi < at + size ? hi : at + size;
        if (a < b) {
            int r = io_pread_all(sh->fd, sh->mem + (a - at), (size_t)(b - a),
                                 (off_t)((uint64_t)sh->s.blob_off + (a - at)));
            if (r != 0)
                return CNN_ERR(e, CNN_EIO, "reading the blob of %s failed: %s", sh->path,
                               r > 0 ? "the file is truncated" : strerror(errno));
        }
        at += size;
    }
    ds->info.cache_read += (int64_t)(hi - lo);
    return CNN_OK;
}

/* Points every shard's mem into the cache. */
static void place(dataset *ds)
{
    uint8_t *p = ds->cache.base;
    for (int s = 0; s < ds->info.n_shards; s++) {
        ds->sh[s].mem = ds->sh[s].s.blob_size ? p : NULL;
        p += ds->sh[s].s.blob_size;
    }
}

/* Part `rank` of `size` of total bytes, page-aligned so that no two processes write to
 * one page. */
static uint64_t part_edge(uint64_t total, int rank, int size)
{
    if (rank >= size)
        return total;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    return total * (uint64_t)rank / (uint64_t)size / page * page;
}

/* The shared cache: NULL map when any process could not take part (then each caches on its
 * own, or fails on its own error). */
static int load_shared(dataset *ds, const dataset_shared *sh, uint64_t want, int rc,
                       bool *done, cnn_err *e)
{
    *done = false;
    uint8_t *p = sh->map(sh->ctx, (size_t)want);
    if (!p)
        return rc;
    *done = true;
    ds->cache = (data_cache){p, (size_t)want};
    ds->info.cached = ds->info.cache_shared = true;
    place(ds);
    uint64_t lo = part_edge(want, sh->rank, sh->size);
    uint64_t hi = part_edge(want, sh->rank + 1, sh->size);
    rc = fill_range(ds, lo, hi, e);
    int all = sh->agree(sh->ctx, rc); /* every part is in memory, or everyone fails */
    if (all < 0 && rc == CNN_OK)
        return CNN_ERR(e, all, "another process of this node failed to read its part of the "
                       "shared dataset cache (see its message)");
    return rc;
}

int dataset_cache_load(dataset *ds, const dataset_open_opts *o, int rc, cnn_err *e)
{
    uint64_t total = 0;
    for (int s = 0; rc == CNN_OK && s < ds->info.n_shards; s++)
        total += (uint64_t)ds->sh[s].s.blob_size;
    uint64_t want = rc == CNN_OK && total <= o->ram_bytes ? total : 0;
    if (o->shared) {
        bool done = false;
        rc = load_shared(ds, o->shared, want, rc, &done, e);
        if (done || rc < 0)
            return rc;
    }
    cnn_err ignored = {0}; /* no memory: pread, as without a cache */
    if (want == 0 || data_cache_alloc(&ds->cache, (size_t)want, &ignored) < 0)
        return rc;
    ds->info.cached = true;
    place(ds);
    return fill_range(ds, 0, want, e);
}
