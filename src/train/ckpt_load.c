/* Reading checkpoints (ckpt_load, ckpt_read_meta), strict like torchvision's
 * load_state_dict(strict=True): names, dtypes and shapes of the whole file are checked
 * before the first value is uploaded, and the error names the first offending tensor in
 * state_dict order. Files without our "format" attribute (tools/torch_export.py, or any
 * h5py dump of a state_dict) load as plain weights. Where the file has checksums (ours do),
 * every tensor read must match its own. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckpt_impl.h"

#define NBT_SUFFIX ".num_batches_tracked"

typedef struct file_entry {
    char *name;
    bool dataset; /* else a group (or a link to something else) */
    bool used;    /* matched by a net entry */
} file_entry;

typedef struct file_list {
    file_entry *v; /* sorted by name */
    int n, cap;
    cnn_err *e;
} file_list;

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *ctx)
{
    file_list *l = ctx;
    H5O_info_t oi;
    bool ds = false;
    if (info->type == H5L_TYPE_HARD) {
        if (CNN_H5(l->e, H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT)) < 0)
            return -1;
        ds = oi.type == H5O_TYPE_DATASET;
    }
    if (l->n == l->cap)
        l->v = cnn_xgrow(l->v, &l->cap, sizeof *l->v);
    l->v[l->n++] = (file_entry){cnn_xstrdup(name), ds, false};
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const file_entry *)a)->name, ((const file_entry *)b)->name);
}

static void list_free(file_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
}

static int list_root(hid_t f, file_list *l, cnn_err *e)
{
    l->e = e;
    if (CNN_H5(e, H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, NULL, list_cb, l)) < 0)
        return CNN_EIO;
    if (l->n)
        qsort(l->v, (size_t)l->n, sizeof *l->v, entry_cmp);
    return CNN_OK;
}

static file_entry *list_find(const file_list *l, const char *name)
{
    file_entry key = {(char *)name, false, false};
    return l->n ? bsearch(&key, l->v, (size_t)l->n, sizeof *l->v, entry_cmp) : NULL;
}

/* A dataset of the file that the model does not have, to show what the file holds. */
static const char *foreign_example(const net *n, const file_list *l)
{
    for (int i = 0; i < l->n; i++)
        if (l->v[i].dataset && !net_entry_find(n, l->v[i].name))
            return l->v[i].name;
    return NULL;
}

/* skip (non-strict loads; NULL: strict): entries the file lacks or holds with another shape
 * or type are marked there instead of failing. */
static int check_entries(hid_t f, const net *n, const net_entry **ents, int ne, file_list *l,
                         bool *skip, cnn_err *e)
{
    for (int i = 0; i < ne; i++) {
        const char *key = ents[i]->key;
        file_entry *fe = list_find(l, key);
        if ((!fe || !fe->dataset) && skip) {
            skip[i] = true;
            continue;
        }
        if (!fe || !fe->dataset) {
            const char *ex = foreign_example(n, l);
            return CNN_ERR(e, CNN_EINVAL,
                           "'%s' of the model is missing from the file (%d entries at its "
                           "root%s%s%s); was it saved from another model?",
                           key, l->n, ex ? ", e.g. '" : "", ex ? ex : "", ex ? "'" : "");
        }
        char what[NET_KEY_MAX + 4];
        snprintf(what, sizeof what, "'%s'", key);
        hid_t d = ckpt_open_f32(f, key, what, &ents[i]->value.s, e);
        if (d == CNN_EINVAL && skip) {
            skip[i] = true;
            *e = (cnn_err){0};
            continue;
        }
        if (d < 0)
            return (int)d;
        H5Dclose(d);
        fe->used = true;
    }
    return CNN_OK;
}

static bool is_tracked_counter(const net *n, const char *name)
{
    size_t len = strlen(name), sl = strlen(NBT_SUFFIX);
    if (len <= sl || strcmp(name + len - sl, NBT_SUFFIX) != 0 || len - sl >= LAYER_NAME_MAX)
        return false;
    char node[LAYER_NAME_MAX];
    memcpy(node, name, len - sl);
    node[len - sl] = '\0';
    int i = net_find(n, node);
    return i >= 0 && ckpt_has_running_stats(n, i);
}

static int check_unexpected(const net *n, const file_list *l, cnn_err *e)
{
    for (int i = 0; i < l->n; i++) {
        const file_entry *fe = &l->v[i];
        bool known_group = !strcmp(fe->name, "optimizer") || !strcmp(fe->name, CKPT_CHECKSUMS);
        if (fe->used || (!fe->dataset && known_group) ||
            (fe->dataset && is_tracked_counter(n, fe->name)))
            continue;
        if (!fe->dataset)
            return CNN_ERR(e, CNN_EINVAL, "unexpected group '%s' in the file (only "
                           "'optimizer' and '" CKPT_CHECKSUMS "' may be groups)", fe->name);
        return CNN_ERR(e, CNN_EINVAL, "unexpected '%s' in the file: the model has no "
                       "parameter or buffer of that name (a strict load refuses it)", fe->name);
    }
    return CNN_OK;
}

/* Whether "optimizer/<group>/<key>" exists, one path component at a time (H5Lexists needs
 * the parents to exist). */
static int extra_exists(hid_t f, const ckpt_tensor *x, char *path, size_t pn, cnn_err *e)
{
    snprintf(path, pn, "optimizer");
    htri_t has = CNN_H5(e, H5Lexists(f, path, H5P_DEFAULT));
    if (has > 0) {
        snprintf(path, pn, "optimizer/%s", x->group);
        has = CNN_H5(e, H5Lexists(f, path, H5P_DEFAULT));
    }
    if (has > 0) {
        snprintf(path, pn, "optimizer/%s/%s", x->group, x->key);
        has = CNN_H5(e, H5Lexists(f, path, H5P_DEFAULT));
    }
    return has < 0 ? CNN_EIO : has > 0;
}

static int check_extras(hid_t f, const ckpt_tensor *extra, int n_extra, bool *found, cnn_err *e)
{
    for (int i = 0; i < n_extra; i++) {
        char path[2 * NET_KEY_MAX + 16], what[2 * NET_KEY_MAX + 48];
        int has = extra_exists(f, &extra[i], path, sizeof path, e);
        if (has < 0)
            return has;
        found[i] = has;
        if (!has)
            continue;
        snprintf(what, sizeof what, "optimizer state '%s'", path);
        hid_t d = ckpt_open_f32(f, path, what, &extra[i].t->s, e);
        if (d < 0)
            return (int)d;
        H5Dclose(d);
    }
    return CNN_OK;
}

/* Reads dataset name into host, then either checks it against its checksum (verify) or
 * uploads it into t. */
static int read_into(hid_t f, const char *name, bool verify, backend *be, tensor *t,
                     float *host, cnn_err *e)
{
    hid_t d = CNN_H5(e, H5Dopen2(f, name, H5P_DEFAULT));
    if (d < 0)
        return CNN_EIO;
    int rc = CNN_H5(e, H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, host)) < 0
                 ? CNN_EIO
                 : CNN_OK;
    H5Dclose(d);
    if (rc < 0) {
        cnn_err_prefix(e, "reading '%s': ", name);
        return rc;
    }
    if (verify)
        return ckpt_check_sum(f, name, host, tensor_bytes(t), e);
    backend_upload(be, t, host);
    be->ops->sync(be); /* host is reused for the next tensor */
    return CNN_OK;
}

static int read_all(hid_t f, bool sums, net *n, const net_entry **ents, int ne, const bool *skip,
                    ckpt_tensor *extra, int n_extra, const bool *found, cnn_err *e)
{
    size_t bytes = ckpt_max_bytes(n, extra, n_extra);
    float *host = malloc(bytes);
    if (!host)
        return CNN_ERR(e, CNN_ENOMEM, "no host memory for a %zu-byte staging buffer", bytes);
    int rc = CNN_OK;
    /* every checksum first, so that a corrupt file leaves the net as it was */
    for (int verify = sums; verify >= 0 && rc == CNN_OK; verify--) {
        for (int i = 0; i < ne && rc == CNN_OK; i++) {
            tensor v = ents[i]->value; /* a view: the entry stays, its memory changes */
            if (!skip || !skip[i])
                rc = read_into(f, ents[i]->key, verify, n->be, &v, host, e);
        }
        for (int i = 0; i < n_extra && rc == CNN_OK; i++) {
            char path[2 * NET_KEY_MAX + 16];
            snprintf(path, sizeof path, "optimizer/%s/%s", extra[i].group, extra[i].key);
            extra[i].found = found[i];
            if (found[i])
                rc = read_into(f, path, verify, n->be, extra[i].t, host, e);
        }
    }
    free(host);
    return rc;
}

/* skip: NULL for a strict load, else (one per state entry) set where the entry is skipped. */
static int load_state(hid_t f, net *n, ckpt_tensor *extra, int n_extra, bool *skip, cnn_err *e)
{
    file_list l = {0};
    const net_entry **ents = NULL;
    bool *found = cnn_xcalloc(n_extra ? (size_t)n_extra : 1, sizeof *found);
    int ne = ckpt_state_entries(n, &ents);
    int rc = list_root(f, &l, e);
    if (rc == CNN_OK)
        rc = check_entries(f, n, ents, ne, &l, skip, e);
    if (rc == CNN_OK && !skip)
        rc = check_unexpected(n, &l, e);
    if (rc == CNN_OK)
        rc = check_extras(f, extra, n_extra, found, e);
    const file_entry *sums = list_find(&l, CKPT_CHECKSUMS);
    if (rc == CNN_OK)
        rc = read_all(f, sums && !sums->dataset, n, ents, ne, skip, extra, n_extra, found, e);
    list_free(&l);
    free(ents);
    free(found);
    return rc;
}

static int read_meta(hid_t f, ckpt_meta *m, char **config, cnn_err *e)
{
    memset(m, 0, sizeof *m);
    char *fmt = NULL;
    CNN_TRY(e, io_h5_attr_get_str(f, "format", false, &fmt, e));
    if (!fmt)
        return CNN_OK; /* weights only */
    bool ours = strcmp(fmt, CKPT_FORMAT) == 0;
    if (!ours)
        CNN_ERR(e, CNN_EINVAL, "its 'format' attribute is '%.100s', not '%s'", fmt, CKPT_FORMAT);
    free(fmt);
    if (!ours)
        return CNN_EINVAL;
    int64_t version, pos[4];
    CNN_TRY(e, io_h5_attr_get(f, "format_version", H5T_NATIVE_INT64, 1, &version, e));
    if (version < 1 || version > CKPT_VERSION)
        return CNN_ERR(e, CNN_EINVAL, "format version %lld; this build reads versions up to %d "
                       "(written by a newer cnn-dist?)", (long long)version, CKPT_VERSION);
    static const char *const pos_names[4] = {"epoch", "step", "samples_seen", "sampler_pos"};
    for (int i = 0; i < 4; i++)
        CNN_TRY(e, io_h5_attr_get(f, pos_names[i], H5T_NATIVE_INT64, 1, &pos[i], e));
    CNN_TRY(e, io_h5_attr_get(f, "seed", H5T_NATIVE_UINT64, 1, &m->seed, e));
    CNN_TRY(e, io_h5_attr_get(f, "rng_key", H5T_NATIVE_UINT32, 2, m->key.k, e));
    if (config)
        CNN_TRY(e, io_h5_attr_get_str(f, "config", false, config, e));
    char *opt = NULL;
    CNN_TRY(e, io_h5_attr_get_str(f, "optimizer", false, &opt, e));
    snprintf(m->optimizer, sizeof m->optimizer, "%s", opt ? opt : "");
    free(opt);
    m->epoch = pos[0];
    m->step = pos[1];
    m->samples_seen = pos[2];
    m->sampler_pos = pos[3];
    m->present = true;
    return CNN_OK;
}

static int open_file(const char *path, hid_t *out, cnn_err *e)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return CNN_ERR(e, CNN_EIO, "cannot read it: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return CNN_ERR(e, CNN_EIO, "not a regular file");
    *out = io_h5_open_read(path, e);
    if (*out < 0) {
        cnn_err_prefix(e, "not a readable HDF5 file (truncated or corrupt?): ");
        return CNN_EIO;
    }
    return CNN_OK;
}

/* Opens path, reads its meta data and, with n, its tensors; closes it. */
static int load(const char *path, net *n, ckpt_meta *meta, ckpt_tensor *extra, int n_extra,
                char **config_text, bool *skip, cnn_err *e)
{
    ckpt_meta m;
    char *config = NULL;
    hid_t f = -1;
    io_h5_quiet q;
    io_h5_quiet_begin(&q);
    int rc = open_file(path, &f, e);
    if (rc == CNN_OK)
        rc = read_meta(f, &m, config_text ? &config : NULL, e);
    if (rc == CNN_OK && n)
        rc = load_state(f, n, extra, n_extra, skip, e);
    if (f >= 0)
        H5Fclose(f);
    io_h5_quiet_end(&q);
    if (rc < 0) {
        free(config);
        if (config_text)
            *config_text = NULL;
        cnn_err_prefix(e, "checkpoint %s: ", path);
        return rc;
    }
    if (meta)
        *meta = m;
    if (config_text)
        *config_text = config;
    return CNN_OK;
}

int ckpt_load(const char *path, net *n, ckpt_meta *meta, ckpt_tensor *extra, int n_extra,
              char **config_text, cnn_err *e)
{
    CNN_ASSERT(n && n->be && "ckpt_load needs a net bound by net_alloc");
    return load(path, n, meta, extra, n_extra, config_text, NULL, e);
}

int ckpt_load_weights(const char *path, net *n, bool strict, char **skipped, cnn_err *e)
{
    CNN_ASSERT(n && n->be && "ckpt_load_weights needs a net bound by net_alloc");
    *skipped = NULL;
    const net_entry **ents = NULL;
    int ne = ckpt_state_entries(n, &ents);
    bool *skip = strict ? NULL : cnn_xcalloc((size_t)ne + 1, sizeof *skip);
    int rc = load(path, n, NULL, NULL, 0, NULL, skip, e);
    size_t len = 0, cap = 0;
    int kept = ne;
    for (int i = 0; rc == CNN_OK && skip && i < ne; i++) {
        if (!skip[i])
            continue;
        kept--;
        size_t need = len + strlen(ents[i]->key) + 3;
        if (need > cap) {
            cap = 2 * need;
            char *grown = realloc(*skipped, cap);
            if (!grown)
                cnn_fatal("out of memory listing the skipped tensors");
            *skipped = grown;
        }
        len += (size_t)snprintf(*skipped + len, cap - len, "%s%s", len ? ", " : "",
                                ents[i]->key);
    }
    if (rc == CNN_OK && kept == 0)
        rc = CNN_ERR(e, CNN_EINVAL, "checkpoint %s: none of the model's %d tensors is in the "
                     "file with its name and shape; is it for another model?", path, ne);
    if (rc < 0) {
        free(*skipped);
        *skipped = NULL;
    }
    free(skip);
    free(ents);
    return rc;
}

int ckpt_read_meta(const char *path, ckpt_meta *meta, char **config_text, cnn_err *e)
{
    return load(path, NULL, meta, NULL, 0, config_text, NULL, e);
}
