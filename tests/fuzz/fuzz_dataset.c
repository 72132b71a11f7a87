/* libFuzzer target for dataset files: a master and 1-3 shards, written by cnn-pack's own
 * writers (data_write_shard, data_write_master) from a recipe the input spells out, then
 * changed by the input's edits, then opened (dataset_open_with, dataset_check) and every
 * sample read. The recipe keeps most inputs valid HDF5 (libhdf5's own parser is not what we
 * test) while every value our reader checks is the input's: index offsets, lengths, labels,
 * sizes against the blob, class counts, raw sizes, counts and checksums of the master, and,
 * through HDF5 edits, missing datasets and attributes, wrong dtypes, shapes and strings,
 * and datasets that claim more elements than the file holds (HDF5 reads fill values).
 * Input (fuzz_bytes.h; zeros past the end):
 *   flags: bit 0 raw, 1 segment, 2-3 shards-1, 4 verify blobs, 5 RAM cache off
 *   raw_h, raw_w (1..8), raw_c (1 or 3), classes (0..7)
 *   per shard: samples (0..8), then per sample its encoded length (1..32); blob bytes
 *   edits until the end: code, file (shard or master), sample, value (EDIT_* below)
 * Errors are fine; a crash, a sanitizer report, a leak or a hang is a bug. The readers take
 * paths, so the files go to tmpfs (fuzz_tmp.h). Built by CNN_FUZZ=ON (clang); replay_main.c
 * replays the corpus in every build (tests/fuzz/README.md). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/data/data_impl.h"
#include "fuzz_bytes.h"
#include "fuzz_h5edit.h"
#include "fuzz_tmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SHARDS 3
#define MAX_EDITS 24

enum { EDIT_OFFSET, EDIT_LENGTH, EDIT_LABEL, EDIT_HEIGHT, EDIT_WIDTH, EDIT_MASK_OFFSET,
       EDIT_MASK_LENGTH, EDIT_MASTER_SAMPLES, EDIT_MASTER_INDEX_CRC, EDIT_MASTER_BLOB_CRC,
       EDIT_BLOB_BYTE, EDIT_DELETE, EDIT_ATTR, EDIT_DATASET, EDIT_COUNT };

typedef struct edit {
    int code, file, item;
    int64_t v, w;
} edit;

typedef struct recipe {
    pack_opts o;
    char *classes[8];
    data_index x[MAX_SHARDS];
    uint8_t *blob[MAX_SHARDS];
    int64_t blob_n[MAX_SHARDS];
    pack_shard_info info[MAX_SHARDS];
    edit late[MAX_EDITS]; /* applied to the written files */
    int n_late;
    bool verify, no_cache;
} recipe;

static void *grab(size_t n) { return cnn_xcalloc(n ? n : 1, 1); }

/* The shard's samples laid out one after the other in its blob, every value valid. */
static void make_shard(recipe *r, int s, fuzz_bytes *b)
{
    data_index *x = &r->x[s];
    int64_t n = fb_u8(b) % 9, raw = (int64_t)r->o.raw_h * r->o.raw_w * r->o.raw_c;
    bool seg = r->o.task == DATA_SEGMENT, is_raw = r->o.mode == DATA_RAW;
    x->n = n;
    x->has_mask = seg;
    x->offset = grab(8 * n), x->length = grab(8 * n), x->label = grab(4 * n);
    x->height = grab(4 * n), x->width = grab(4 * n);
    x->mask_offset = seg ? grab(8 * n) : NULL, x->mask_length = seg ? grab(8 * n) : NULL;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        x->offset[i] = at;
        x->length[i] = is_raw ? raw : 1 + fb_u8(b) % 32;
        at += x->length[i];
        x->label[i] = seg ? -1 : r->o.n_classes ? (int32_t)(i % r->o.n_classes) : 0;
        x->height[i] = is_raw ? r->o.raw_h : 1 + (int32_t)(i % 5);
        x->width[i] = is_raw ? r->o.raw_w : 2 + (int32_t)(i % 3);
        if (seg) {
            x->mask_offset[i] = at;
            x->mask_length[i] = is_raw ? (int64_t)x->height[i] * x->width[i] : 3;
            at += x->mask_length[i];
        }
    }
    r->blob_n[s] = at;
    r->blob[s] = grab((size_t)at);
    for (int64_t k = 0; k < at; k++)
        r->blob[s][k] = fb_u8(b);
}

static void index_edit(recipe *r, const edit *d)
{
    data_index *x = &r->x[d->file];
    if (!x->n)
        return;
    int64_t i = d->item % x->n;
    switch (d->code) {
    case EDIT_OFFSET: x->offset[i] = d->v; break;
    case EDIT_LENGTH: x->length[i] = d->v; break;
    case EDIT_LABEL: x->label[i] = (int32_t)d->v; break;
    case EDIT_HEIGHT: x->height[i] = (int32_t)d->v; break;
    case EDIT_WIDTH: x->width[i] = (int32_t)d->v; break;
    case EDIT_MASK_OFFSET: if (x->has_mask) x->mask_offset[i] = d->v; break;
    case EDIT_MASK_LENGTH: if (x->has_mask) x->mask_length[i] = d->v; break;
    default: break;
    }
}

static void parse(recipe *r, fuzz_bytes *b)
{
    uint8_t f = fb_u8(b);
    r->o.mode = f & 1 ? DATA_RAW : DATA_ENCODED;
    r->o.task = f & 2 ? DATA_SEGMENT : DATA_CLASSIFY;
    r->o.n_shards = 1 + (f >> 2 & 3) % MAX_SHARDS;
    r->verify = f & 16, r->no_cache = f & 32;
    r->o.raw_h = 1 + fb_u8(b) % 8, r->o.raw_w = 1 + fb_u8(b) % 8;
    r->o.raw_c = fb_u8(b) & 1 ? 3 : 1;
    r->o.n_classes = fb_u8(b) % 8;
    static char *names[8] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    for (int i = 0; i < r->o.n_classes; i++)
        r->classes[i] = names[i];
    r->o.classes = r->classes;
    r->o.source = "fuzz";
    for (int s = 0; s < r->o.n_shards; s++)
        make_shard(r, s, b);
    for (int s = 0; s < r->o.n_shards; s++)
        r->info[s] = (pack_shard_info){r->x[s].n, 0, data_crc32(0, NULL, 0)};
    for (int k = 0; k < MAX_EDITS && fb_left(b) > 0; k++) {
        edit d = {fb_u8(b) % EDIT_COUNT, fb_u8(b) % (r->o.n_shards + 1), fb_u8(b), fb_int(b),
                  fb_int(b)};
        if (d.file == r->o.n_shards && d.code < EDIT_BLOB_BYTE)
            d.file = 0; /* the master has no index: edit shard 0 instead */
        if (d.code <= EDIT_MASK_LENGTH)
            index_edit(r, &d);
        else
            r->late[r->n_late++] = d; /* the master's after the checksums are known */
    }
}

static void recipe_free(recipe *r)
{
    for (int s = 0; s < MAX_SHARDS; s++) {
        data_index_free(&r->x[s]);
        free(r->blob[s]);
    }
}

static const char *const shard_links[] = {"offset", "length", "label", "height", "width",
                                          "mask_offset", "mask_length", "blob"};
static const char *const master_links[] = {"classes", "shard_files", "shard_samples",
                                           "shard_index_crc32", "shard_blob_crc32"};
static const char *const attrs[] = {"format", "format_version", "num_shards", "mode",
                                    "task", "raw_h", "raw_w", "raw_c", "num_samples",
                                    "shard", "index_crc32", "blob_crc32", "mean", "std",
                                    "source"};
#define COUNT(a) (int)(sizeof a / sizeof *a)

static int write_shard(recipe *r, int s, char *path, cnn_err *e)
{
    const char *spool = fuzz_tmp_write("spool", r->blob[s], (size_t)r->blob_n[s]);
    int fd = r->blob_n[s] ? open(spool, O_RDONLY) : -1;
    uint32_t crc = data_crc32(data_crc32(0, NULL, 0), r->blob[s], (size_t)r->blob_n[s]);
    data_shard_spec spec = {&r->o, s, &r->x[s], fd, r->blob_n[s], crc};
    int rc = data_write_shard(path, &spec, e);
    if (fd >= 0)
        close(fd);
    r->info[s] = (pack_shard_info){r->x[s].n, data_index_crc32(&r->x[s]), crc};
    return rc;
}

/* A blob byte flipped after its checksum was taken: the blob is the file's last bytes. */
static void flip_blob_byte(const char *path, const recipe *r, int s, int64_t k)
{
    if (!r->blob_n[s])
        return;
    int fd = open(path, O_RDWR);
    off_t end = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);
    uint8_t byte = 0;
    off_t at = end - (off_t)r->blob_n[s] + (off_t)((uint64_t)k % (uint64_t)r->blob_n[s]);
    if (end > 0 && at >= 0 && pread(fd, &byte, 1, at) == 1) {
        byte ^= 0x5a;
        if (pwrite(fd, &byte, 1, at) != 1)
            abort();
    }
    if (fd >= 0)
        close(fd);
}

static void file_edit(const recipe *r, char *const *paths, const edit *d)
{
    bool master = d->file == r->o.n_shards;
    if (d->code == EDIT_BLOB_BYTE) {
        if (!master)
            flip_blob_byte(paths[d->file], r, d->file, d->v);
        return;
    }
    hid_t f = fuzz_h5_open(paths[d->file]);
    if (f < 0)
        return;
    const char *link = master ? master_links[d->item % COUNT(master_links)]
                              : shard_links[d->item % COUNT(shard_links)];
    if (d->code == EDIT_DELETE)
        fuzz_h5_delete(f, d->item & 128 ? attrs[d->item % COUNT(attrs)] : link);
    else if (d->code == EDIT_ATTR)
        fuzz_h5_attr(f, ".", attrs[d->item % COUNT(attrs)], (int)d->w, d->v);
    else if (d->code == EDIT_DATASET)
        fuzz_h5_dataset(f, link, (int)d->w, d->v, d->w >> 3);
    fuzz_h5_close(f);
}

static void master_edit(recipe *r, const edit *d)
{
    pack_shard_info *in = &r->info[d->file % r->o.n_shards];
    if (d->code == EDIT_MASTER_SAMPLES)
        in->n = (int64_t)((uint64_t)in->n + (uint64_t)d->v); /* wraps: any count */
    else if (d->code == EDIT_MASTER_INDEX_CRC)
        in->index_crc32 ^= (uint32_t)d->v;
    else
        in->blob_crc32 ^= (uint32_t)d->v;
}

static void write_files(recipe *r, char **paths)
{
    cnn_err e = {0};
    for (int s = 0; s < r->o.n_shards; s++)
        if (write_shard(r, s, paths[s], &e) < 0)
            return; /* e.g. a negative length: nothing to open */
    for (int k = 0; k < r->n_late; k++)
        if (r->late[k].code >= EDIT_MASTER_SAMPLES && r->late[k].code <= EDIT_MASTER_BLOB_CRC)
            master_edit(r, &r->late[k]);
    float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.25f, 0.25f, 0.25f};
    if (data_write_master(paths[r->o.n_shards], &r->o, r->info, mean, std, &e) < 0)
        return;
    for (int k = 0; k < r->n_late; k++)
        if (r->late[k].code >= EDIT_BLOB_BYTE)
            file_edit(r, paths, &r->late[k]);
}

static void on_shard(void *ctx, const dataset *ds, int s, const cnn_err *bad)
{
    (void)ctx, (void)ds, (void)s, (void)bad;
}

/* Every sample of the dataset read, as the loader's workers do. */
static void read_all(const char *master, const recipe *r)
{
    dataset_open_opts o = {r->verify, r->no_cache ? 0 : DATASET_RAM_DEFAULT, NULL};
    dataset *ds;
    cnn_err e = {0};
    int bad;
    dataset_check(master, r->verify, on_shard, NULL, &bad, &e);
    bool verbose = getenv("CNN_FUZZ_VERBOSE"); /* why an input is refused (README.md) */
    if (dataset_open_with(master, &o, &ds, &e) < 0) {
        if (verbose)
            fprintf(stderr, "refused: %s\n", e.msg);
        return;
    }
    const dataset_info *in = dataset_get_info(ds);
    if (verbose)
        fprintf(stderr, "opened: %lld samples in %d shards\n", (long long)in->n, in->n_shards);
    for (int64_t i = 0; i < in->n; i++) {
        sample_ref ref;
        dataset_ref(ds, i, &ref);
        uint8_t *img = malloc(ref.len ? (size_t)ref.len : 1);
        uint8_t *mask = malloc(ref.mask_len ? (size_t)ref.mask_len : 1);
        if (!img || !mask)
            abort();
        dataset_read(ds, i, img, mask, &e);
        free(img);
        free(mask);
    }
    dataset_close(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_bytes b = {data, size, 0};
    recipe r = {0};
    fuzz_tmp_clear();
    char prefix[1024];
    snprintf(prefix, sizeof prefix, "%s", fuzz_tmp_path("d"));
    r.o.prefix = prefix;
    parse(&r, &b);
    char *paths[MAX_SHARDS + 1];
    for (int s = 0; s < r.o.n_shards; s++)
        paths[s] = data_shard_name(prefix, s, r.o.n_shards, false);
    paths[r.o.n_shards] = cnn_xstrdup(fuzz_tmp_path("d.h5"));
    write_files(&r, paths);
    read_all(paths[r.o.n_shards], &r);
    for (int s = 0; s <= r.o.n_shards; s++)
        free(paths[s]);
    recipe_free(&r);
    return 0;
}
