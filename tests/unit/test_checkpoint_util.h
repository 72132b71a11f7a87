/* Shared by the checkpoint tests: a small model with every kind of state_dict entry
 * (conv weight and bias, batch norm with running stats inside a named scope, linear), built
 * on the CPU backend from YAML, filled with keyed random values; a scratch directory. */
#ifndef CNN_TESTS_CHECKPOINT_UTIL_H
#define CNN_TESTS_CHECKPOINT_UTIL_H

#include <dirent.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/config/config.h"
#include "../../src/train/train.h"
#include "../check.h"

/* %d: conv1 channels, %s: conv1's bias flag, %s: the scope's name, %d: classes. */
#define CK_MODEL_FMT                                                                     \
    "model:\n"                                                                           \
    "  input: [3, 8, 8]\n"                                                               \
    "  layers:\n"                                                                        \
    "    - {type: conv2d, name: conv1, out: %d, kernel: 3, pad: 1, bias: %s}\n"          \
    "    - {type: batch_norm2d, name: bn1}\n"                                            \
    "    - relu\n"                                                                       \
    "    - name: %s\n"                                                                   \
    "      layers:\n"                                                                    \
    "        - {type: conv2d, name: conv, out: 6, kernel: 3, pad: 1, bias: false}\n"     \
    "        - {type: batch_norm2d, name: bn}\n"                                         \
    "    - {type: global_avg_pool, name: pool}\n"                                        \
    "    - {type: flatten, name: flatten}\n"                                             \
    "    - {type: linear, name: fc, out: %d}\n"

typedef struct ck_net {
    cfg_node *cfg; /* kept: layers keep marks that point into it */
    net *n;
} ck_net;

static inline ck_net ck_build_yaml(const char *yaml, backend *be)
{
    ck_net c = {0};
    cnn_err e = {0};
    if (config_parse_string(yaml, strlen(yaml), "test.yaml", &c.cfg, &e) < 0 ||
        net_create(cfg_get(c.cfg, "model"), 2, &c.n, &e) < 0 || net_alloc(c.n, be, &e) < 0) {
        fprintf(stderr, "building the test model failed: %s (%s)\n", e.msg, e.trace);
        exit(1);
    }
    return c;
}

static inline ck_net ck_build(backend *be, int conv1, bool bias, const char *scope, int classes)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml, CK_MODEL_FMT, conv1, bias ? "true" : "false", scope, classes);
    return ck_build_yaml(yaml, be);
}

static inline void ck_free(ck_net *c)
{
    net_destroy(c->n);
    cfg_free(c->cfg);
}

/* Every parameter and buffer from (key, its key): values no initialiser would produce. */
static inline void ck_fill(net *n, rng_key key)
{
    const tensor *flats[2] = {&n->params_flat, &n->buffers_flat};
    for (int i = 0; i < 2; i++) {
        size_t cnt = (size_t)tensor_numel(flats[i]);
        float *h = malloc(cnt * sizeof *h);
        CHECK(h);
        rng_fill_uniform(rng_fold(key, (uint64_t)i), 0, h, cnt, -2.0f, 2.0f);
        backend_upload(n->be, (tensor *)flats[i], h);
        free(h);
    }
}

/* A host copy of a tensor, to free. */
static inline float *ck_host(backend *be, const tensor *t)
{
    float *h = malloc(tensor_bytes(t) ? tensor_bytes(t) : 1);
    CHECK(h);
    backend_download(be, t, h);
    return h;
}

static inline bool ck_same(backend *be, const tensor *a, const tensor *b)
{
    if (tensor_bytes(a) != tensor_bytes(b))
        return false;
    float *x = ck_host(be, a), *y = ck_host(be, b);
    bool same = memcmp(x, y, tensor_bytes(a)) == 0;
    free(x);
    free(y);
    return same;
}

/* Every parameter and buffer of a equals b's, bit for bit (the flat arenas also hold
 * alignment padding, which checkpoints do not carry). */
static inline bool ck_same_entries(const net *a, const net *b)
{
    if (a->n_params != b->n_params || a->n_buffers != b->n_buffers)
        return false;
    for (int i = 0; i < a->n_params; i++)
        if (!ck_same(a->be, &a->params[i].slot->t, &b->params[i].slot->t))
            return false;
    for (int i = 0; i < a->n_buffers; i++)
        if (!ck_same(a->be, &a->buffers[i].slot->t, &b->buffers[i].slot->t))
            return false;
    return true;
}

static inline void ck_expect_err(int rc, const cnn_err *e, const char *const *frags)
{
    if (rc >= 0) {
        fprintf(stderr, "expected an error containing \"%s\", got success\n", frags[0]);
        exit(1);
    }
    printf("  error (as users see it): %s\n", e->msg);
    for (int i = 0; frags[i]; i++)
        CHECK_STR_CONTAINS(e->msg, frags[i]);
}
#define CK_EXPECT_ERR(rc, e, ...) ck_expect_err((rc), (e), (const char *const[]){__VA_ARGS__, NULL})

static inline char *ck_tmpdir(void)
{
    char *d = strdup("/tmp/cnn_ckpt_test_XXXXXX");
    CHECK(d && mkdtemp(d));
    return d;
}

/* Number of entries of dir whose name contains part. */
static inline int ck_count(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    CHECK(d);
    int k = 0;
    for (struct dirent *de; (de = readdir(d));)
        k += strstr(de->d_name, part) != NULL;
    closedir(d);
    return k;
}

static inline void ck_rmdir(char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d);
    char p[512];
    for (struct dirent *de; (de = readdir(d));) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            CHECK(unlink(p) == 0 || rmdir(p) == 0);
        }
    }
    closedir(d);
    CHECK(rmdir(dir) == 0);
    free(dir);
}

#endif
