/* libFuzzer target for checkpoint loading (src/train/ckpt_load.c): a valid checkpoint of a
 * small net with every kind of state_dict entry (conv, batch norm with running statistics
 * and num_batches_tracked inside a named scope, linear; the model of the checkpoint unit
 * tests) and its optimizer state is written once by ckpt_save; each input then edits a copy
 * and loads it three ways: ckpt_load (strict, with the momentum tensors), ckpt_load_weights
 * (strict or not) and ckpt_read_meta. The edits reach what a checkpoint's reader checks:
 * names (deleted, moved, stray), shapes and dtypes (replaced datasets, also ones that claim
 * more elements than the file holds), checksums (a tensor's byte flipped, a checksum
 * replaced), the root attributes (format, version, position, seed, key, config, optimizer).
 * Input (fuzz_bytes.h): a flag byte (bit 0: a non-strict ckpt_load_weights), then edits
 * until the end: code (EDIT_*), item, value, kind. Errors are fine; a crash, a sanitizer
 * report, a leak or a hang is a bug. The loader takes a path, so the file goes to tmpfs
 * (fuzz_tmp.h). Built by CNN_FUZZ=ON (clang); replay_main.c replays the corpus in every
 * build (tests/fuzz/README.md). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/train/ckpt_impl.h"
#include "../unit/test_checkpoint_util.h"
#include "fuzz_bytes.h"
#include "fuzz_h5edit.h"
#include "fuzz_tmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EDITS 16
#define MAX_NAMES 96

enum { EDIT_DELETE, EDIT_ATTR, EDIT_DATASET, EDIT_FLIP, EDIT_MOVE, EDIT_COUNT };

/* Built on the first input, kept for the process (libFuzzer has no tear-down hook). */
static struct {
    backend *be;
    ck_net net;
    ckpt_tensor *extra; /* (net.n->n_params) "momentum" */
    char *names[MAX_NAMES];
    int n_names;
    uint8_t *file; /* the valid checkpoint's bytes */
    size_t file_len;
} g;

static const char *const attrs[] = {"format", "format_version", "epoch", "step",
                                    "samples_seen", "sampler_pos", "seed", "rng_key",
                                    "config", "optimizer"};

static void add_name(const char *fmt, const char *key)
{
    char s[2 * NET_KEY_MAX + 32];
    snprintf(s, sizeof s, fmt, key);
    if (g.n_names < MAX_NAMES)
        g.names[g.n_names++] = cnn_xstrdup(s);
}

/* The net, its momentum tensors, the names worth editing and the valid file's bytes. */
static void setup(void)
{
    cnn_err e = {0};
    CHECK(backend_create("cpu", 1, &g.be, &e) == 0);
    g.net = ck_build(g.be, 4, true, "block", 5);
    net *n = g.net.n;
    ck_fill(n, rng_key_from_seed(1));
    g.extra = cnn_xcalloc((size_t)n->n_params, sizeof *g.extra);
    for (int i = 0; i < n->n_params; i++) {
        tensor *t = cnn_xmalloc(sizeof *t);
        *t = n->params[i].value;
        t->data = NULL;
        CHECK(backend_alloc_tensor(g.be, t, &e) == 0);
        g.extra[i] = (ckpt_tensor){"momentum", n->params[i].key, t, false};
    }
    const net_entry **ents;
    int ne = ckpt_state_entries(n, &ents);
    for (int i = 0; i < ne; i++) {
        add_name("%s", ents[i]->key);
        add_name(CKPT_CHECKSUMS "/%s", ents[i]->key);
        add_name("optimizer/momentum/%s", ents[i]->key);
    }
    free(ents);
    add_name("%s", "bn1.num_batches_tracked");
    static const char *const more[] = {"optimizer", "optimizer/momentum", CKPT_CHECKSUMS,
                                       "stray", "group/stray", "fc.weight.extra"};
    for (size_t i = 0; i < sizeof more / sizeof *more; i++)
        add_name("%s", more[i]);
    ckpt_meta m = {true, 3, 1234, 50000, 77, 42, {{1, 2}}, "sgd", NULL};
    const char *path = fuzz_tmp_path("base.h5");
    CHECK(ckpt_save(path, n, &m, g.extra, n->n_params, "model: {input: [3, 8, 8]}\n", &e) == 0);
    FILE *f = fopen(path, "rb");
    CHECK(f && fseek(f, 0, SEEK_END) == 0);
    g.file_len = (size_t)ftell(f);
    g.file = cnn_xmalloc(g.file_len);
    CHECK(fseek(f, 0, SEEK_SET) == 0 && fread(g.file, 1, g.file_len, f) == g.file_len);
    fclose(f);
}

/* One byte of dataset name's stored values flipped: what a bad disk or copy does. */
static void flip(const char *path, const char *name, int64_t at)
{
    hid_t f = fuzz_h5_open(path);
    if (f < 0)
        return;
    hid_t d = H5Lexists(f, name, H5P_DEFAULT) > 0 ? H5Dopen2(f, name, H5P_DEFAULT) : -1;
    haddr_t off = d >= 0 ? H5Dget_offset(d) : HADDR_UNDEF;
    hsize_t bytes = d >= 0 ? H5Dget_storage_size(d) : 0;
    if (d >= 0)
        H5Dclose(d);
    fuzz_h5_close(f);
    if (off == HADDR_UNDEF || !bytes)
        return;
    int fd = open(path, O_RDWR);
    uint8_t b;
    off_t pos = (off_t)(off + (uint64_t)at % bytes);
    if (fd >= 0 && pread(fd, &b, 1, pos) == 1) {
        b ^= 0x10;
        CHECK(pwrite(fd, &b, 1, pos) == 1);
    }
    if (fd >= 0)
        close(fd);
}

static void apply(const char *path, int code, const char *name, int64_t v, int kind)
{
    if (code == EDIT_FLIP) {
        flip(path, name, v);
        return;
    }
    hid_t f = fuzz_h5_open(path);
    if (f < 0)
        return;
    if (code == EDIT_DELETE) {
        fuzz_h5_delete(f, name);
    } else if (code == EDIT_ATTR) {
        fuzz_h5_attr(f, ".", attrs[(uint64_t)v % (sizeof attrs / sizeof *attrs)], kind, v >> 4);
    } else if (code == EDIT_DATASET) {
        fuzz_h5_dataset(f, name, kind, v, kind >> 3);
    } else {
        const char *to = g.names[(uint64_t)v % (uint64_t)g.n_names];
        if (strcmp(to, name) && H5Lexists(f, name, H5P_DEFAULT) > 0) {
            fuzz_h5_delete(f, to);
            H5Lmove(f, name, f, to, H5P_DEFAULT, H5P_DEFAULT);
        }
    }
    fuzz_h5_close(f);
}

static void load_all(const char *path, bool strict)
{
    cnn_err e = {0};
    ckpt_meta m;
    char *config = NULL, *skipped = NULL;
    int rc = ckpt_load(path, g.net.n, &m, g.extra, g.net.n->n_params, &config, &e);
    if (getenv("CNN_FUZZ_VERBOSE")) /* why an input is refused (README.md) */
        fprintf(stderr, "ckpt_load: %s\n", rc < 0 ? e.msg : "loaded");
    free(config);
    config = NULL;
    if (ckpt_load_weights(path, g.net.n, strict, &skipped, &e) == CNN_OK)
        free(skipped);
    if (ckpt_read_meta(path, &m, &config, &e) == CNN_OK)
        free(config);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g.be)
        setup();
    fuzz_bytes b = {data, size, 0};
    bool strict = !(fb_u8(&b) & 1);
    char path[1024];
    snprintf(path, sizeof path, "%s", fuzz_tmp_write("ckpt.h5", g.file, g.file_len));
    for (int k = 0; k < MAX_EDITS && fb_left(&b) > 0; k++) {
        int code = fb_u8(&b) % EDIT_COUNT;
        const char *name = g.names[fb_u8(&b) % g.n_names];
        int64_t v = fb_int(&b);
        apply(path, code, name, v, fb_u8(&b));
    }
    load_all(path, strict);
    return 0;
}
