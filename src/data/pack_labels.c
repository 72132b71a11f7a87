/* The flat sources of cnn-pack: imagenet-val (a folder of images plus a label file, either
 * "name label" lines or one label per line for the sorted names; labels all integers =
 * class indices as given, otherwise class names such as synsets, numbered in sorted order
 * as ImageFolder numbers its folders, or with --classes-from numbered as the training
 * set's master lists them, so validation labels match the trained outputs) and segmentation (images and PNG masks paired by file
 * stem). Every mismatch is an error naming the file and line: a silently dropped or
 * shifted label would train on wrong targets. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack_scan_impl.h"

/* Sorted image names of a flat folder; others counted into *ignored. */
static int flat_images(const char *dir, bool png_only, scan_names *out, int64_t *ignored,
                       cnn_err *e)
{
    scan_names files = {0};
    *out = (scan_names){0};
    CNN_TRY(e, scan_dir(dir, NULL, &files, e));
    for (int64_t i = 0; i < files.n; i++) {
        if (scan_is_image(files.v[i], png_only)) {
            out->v = realloc(out->v, (size_t)(out->n + 1) * sizeof *out->v);
            CNN_ASSERT(out->v);
            out->v[out->n++] = files.v[i];
        } else {
            (*ignored)++;
            free(files.v[i]);
        }
    }
    free(files.v);
    if (out->n == 0)
        return CNN_ERR(e, CNN_EINVAL, "%s holds no %s files", dir,
                       png_only ? ".png" : ".jpg, .jpeg or .png");
    return CNN_OK;
}

static int64_t find_name(const scan_names *s, const char *name)
{
    int64_t lo = 0, hi = s->n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->v[mid], name);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

typedef struct label_file {
    char *text;
    char **name, **label; /* (n) tokens; name[i] NULL in the one-label-per-line form */
    int *line;            /* (n) 1-based line numbers */
    int64_t n;
} label_file;

static void label_file_free(label_file *f)
{
    free(f->text);
    free(f->name);
    free(f->label);
    free(f->line);
}

static int parse_line(char *s, int lineno, const char *path, label_file *f, cnn_err *e)
{
    char *save, *tok[3];
    int k = 0;
    for (char *t = strtok_r(s, " \t\r", &save); t && k < 3; t = strtok_r(NULL, " \t\r", &save))
        tok[k++] = t;
    if (k == 0 || tok[0][0] == '#')
        return CNN_OK;
    bool pairs = f->n > 0 && f->name[0] != NULL;
    if (k > 2 || (f->n > 0 && (k == 2) != pairs))
        return CNN_ERR(e, CNN_EINVAL, "%s:%d: expected %s, got %d fields; use one form for "
                       "every line", path, lineno,
                       f->n == 0 ? "\"NAME LABEL\" or \"LABEL\""
                                 : pairs ? "\"NAME LABEL\"" : "\"LABEL\"", k);
    f->name = realloc(f->name, (size_t)(f->n + 1) * sizeof *f->name);
    f->label = realloc(f->label, (size_t)(f->n + 1) * sizeof *f->label);
    f->line = realloc(f->line, (size_t)(f->n + 1) * sizeof *f->line);
    CNN_ASSERT(f->name && f->label && f->line);
    const char *slash = k == 2 ? strrchr(tok[0], '/') : NULL;
    f->name[f->n] = k == 2 ? (slash ? (char *)slash + 1 : tok[0]) : NULL;
    f->label[f->n] = tok[k - 1];
    f->line[f->n++] = lineno;
    return CNN_OK;
}

static int read_label_file(const char *path, label_file *f, cnn_err *e)
{
    size_t len;
    *f = (label_file){0};
    CNN_TRY(e, data_read_file(path, (uint8_t **)&f->text, &len, e));
    f->text = realloc(f->text, len + 1);
    CNN_ASSERT(f->text);
    f->text[len] = 0;
    if (strlen(f->text) != len)
        return CNN_ERR(e, CNN_EINVAL, "%s holds NUL bytes: not a text label file", path);
    char *save;
    int lineno = 0;
    for (char *s = f->text; s; s = save) {
        save = strchr(s, '\n');
        if (save)
            *save++ = 0;
        CNN_TRY(e, parse_line(s, ++lineno, path, f, e));
    }
    if (f->n == 0)
        return CNN_ERR(e, CNN_EINVAL, "%s holds no labels", path);
    return CNN_OK;
}

static bool is_index(const char *s, long *v)
{
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    return *s && !*end && !errno && *v >= 0 && *v < DATA_MAX_CLASSES;
}

/* Fills label[i] and l's classes from the tokens: indices as given, or sorted names. */
static int assign_labels(label_file *f, pack_list *l, int32_t *label, cnn_err *e)
{
    bool all_int = true;
    long v, max = -1, min = DATA_MAX_CLASSES;
    for (int64_t i = 0; i < f->n && all_int; i++) {
        all_int = is_index(f->label[i], &v);
        max = v > max ? v : max;
        min = v < min ? v : min;
    }
    scan_names cls = {0};
    if (all_int) {
        l->n_classes = (int)max + 1;
        l->classes = cnn_xcalloc((size_t)l->n_classes, sizeof *l->classes);
        for (int c = 0; c < l->n_classes; c++) {
            char b[16];
            snprintf(b, sizeof b, "%d", c);
            l->classes[c] = cnn_xstrdup(b);
        }
        for (int64_t i = 0; i < f->n; i++)
            label[i] = (int32_t)strtol(f->label[i], NULL, 10);
        if (min >= 1)
            fprintf(stderr, "cnn-pack: warning: no label is 0; integer labels are used as "
                    "0-based class indices (ILSVRC2012_validation_ground_truth.txt is 1-based "
                    "and not in torchvision's class order)\n");
        return CNN_OK;
    }
    for (int64_t i = 0; i < f->n; i++)
        if (find_name(&cls, f->label[i]) < 0) { /* sorted insert keeps the lookup valid */
            int64_t at = 0;
            while (at < cls.n && strcmp(cls.v[at], f->label[i]) < 0)
                at++;
            cls.v = realloc(cls.v, (size_t)(cls.n + 1) * sizeof *cls.v);
            CNN_ASSERT(cls.v);
            memmove(cls.v + at + 1, cls.v + at, (size_t)(cls.n - at) * sizeof *cls.v);
            cls.v[at] = cnn_xstrdup(f->label[i]);
            cls.n++;
        }
    if (cls.n > DATA_MAX_CLASSES)
        return CNN_ERR(e, CNN_EINVAL, "%lld distinct class names; at most %d", (long long)cls.n,
                       DATA_MAX_CLASSES);
    for (int64_t i = 0; i < f->n; i++)
        label[i] = (int32_t)find_name(&cls, f->label[i]);
    l->classes = cls.v;
    l->n_classes = (int)cls.n;
    return CNN_OK;
}

typedef struct named {
    const char *name;
    int32_t index;
} named;

static int cmp_named(const void *a, const void *b)
{
    return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

/* label[i] = the index of class name f->label[i] in the names v (n, sorted). */
static int lookup_names(const label_file *f, const char *path, const named *v, int n,
                        const char *master, int32_t *label, cnn_err *e)
{
    for (int i = 1; i < n; i++)
        if (!strcmp(v[i - 1].name, v[i].name))
            return CNN_ERR(e, CNN_EINVAL, "%s lists class '%s' twice, so names cannot pick "
                           "one of them", master, v[i].name);
    for (int64_t i = 0; i < f->n; i++) {
        named key = {f->label[i], 0};
        const named *hit = n ? bsearch(&key, v, (size_t)n, sizeof *v, cmp_named) : NULL;
        if (!hit)
            return CNN_ERR(e, CNN_EINVAL, "%s:%d: class '%s' is not one of the %d classes of "
                           "%s (--classes-from); fix the label or pack against the right "
                           "training set", path, f->line[i], f->label[i], n, master);
        label[i] = hit->index;
    }
    return CNN_OK;
}

/* --classes-from: the classes (names and order) of a packed training set's master file. */
static int train_labels(const char *master, const label_file *f, const char *path,
                        pack_list *l, int32_t *label, cnn_err *e)
{
    dataset *ds;
    /* Only the class names are needed: no blob cache. */
    dataset_open_opts o = {.verify_blobs = false, .ram_bytes = 0};
    int rc = dataset_open_with(master, &o, &ds, e);
    if (rc < 0) {
        cnn_err_prefix(e, "--classes-from: ");
        return rc;
    }
    const dataset_info *in = dataset_get_info(ds);
    int n = in->n_classes;
    named *v = cnn_xcalloc((size_t)(n ? n : 1), sizeof *v);
    for (int c = 0; c < n; c++)
        v[c] = (named){in->classes[c], c};
    if (n > 1)
        qsort(v, (size_t)n, sizeof *v, cmp_named);
    rc = lookup_names(f, path, v, n, master, label, e);
    if (rc == CNN_OK) {
        l->n_classes = n;
        l->classes = cnn_xcalloc((size_t)(n ? n : 1), sizeof *l->classes);
        for (int c = 0; c < n; c++)
            l->classes[c] = cnn_xstrdup(in->classes[c]);
    }
    free(v);
    dataset_close(ds);
    return rc;
}

/* Image k of images gets label[i] of line i; every image exactly once. */
static int match_pairs(const label_file *f, const scan_names *images, const int32_t *label,
                       const char *src, const char *path, int32_t *by_image, cnn_err *e)
{
    for (int64_t k = 0; k < images->n; k++)
        by_image[k] = -1;
    for (int64_t i = 0; i < f->n; i++) {
        int64_t k = find_name(images, f->name[i]);
        if (k < 0)
            return CNN_ERR(e, CNN_EINVAL, "%s:%d: %s is not an image in %s", path, f->line[i],
                           f->name[i], src);
        if (by_image[k] >= 0)
            return CNN_ERR(e, CNN_EINVAL, "%s:%d: %s is labelled twice", path, f->line[i],
                           f->name[i]);
        by_image[k] = label[i];
    }
    for (int64_t k = 0; k < images->n; k++)
        if (by_image[k] < 0)
            return CNN_ERR(e, CNN_EINVAL, "%s/%s has no line in %s (%lld images, %lld "
                           "labels); label every image or move it out", src, images->v[k],
                           path, (long long)images->n, (long long)f->n);
    return CNN_OK;
}

static int val_labels(const char *src, const char *path, const char *classes_from,
                      const scan_names *images, pack_list *l, int32_t *by_image, cnn_err *e)
{
    label_file f;
    int rc = read_label_file(path, &f, e);
    int32_t *label = rc == CNN_OK ? cnn_xmalloc((size_t)f.n * sizeof *label) : NULL;
    if (rc == CNN_OK)
        rc = classes_from ? train_labels(classes_from, &f, path, l, label, e)
                          : assign_labels(&f, l, label, e);
    if (rc == CNN_OK && f.name[0])
        rc = match_pairs(&f, images, label, src, path, by_image, e);
    else if (rc == CNN_OK && f.n != images->n)
        rc = CNN_ERR(e, CNN_EINVAL, "%s has %lld labels, one per line, but %s holds %lld "
                     "images; give one label per image in sorted name order, or \"NAME "
                     "LABEL\" lines", path, (long long)f.n, src, (long long)images->n);
    else if (rc == CNN_OK)
        memcpy(by_image, label, (size_t)f.n * sizeof *label);
    free(label);
    label_file_free(&f);
    return rc;
}

int scan_imagenet_val(const char *src, const char *labels, const char *classes_from,
                      pack_list *l, cnn_err *e)
{
    *l = (pack_list){0};
    scan_names images;
    int rc = flat_images(src, false, &images, &l->ignored, e);
    int32_t *by_image = rc == CNN_OK ? cnn_xmalloc((size_t)images.n * sizeof *by_image) : NULL;
    if (rc == CNN_OK)
        rc = val_labels(src, labels, classes_from, &images, l, by_image, e);
    for (int64_t k = 0; rc == CNN_OK && k < images.n; k++)
        pack_list_push(l, scan_join(src, images.v[k]), NULL, by_image[k]);
    free(by_image);
    scan_names_free(&images);
    if (rc < 0)
        pack_list_free(l);
    return rc;
}

typedef struct stem {
    char *stem;       /* owned */
    const char *name; /* borrowed from the listing */
} stem;

static int cmp_stem(const void *a, const void *b)
{
    return strcmp(((const stem *)a)->stem, ((const stem *)b)->stem);
}

/* (stem, name) of every name, sorted by stem (file order and stem order can differ). */
static stem *stems_of(const scan_names *s)
{
    stem *v = cnn_xcalloc((size_t)s->n, sizeof *v);
    for (int64_t i = 0; i < s->n; i++) {
        v[i].name = s->v[i];
        v[i].stem = cnn_xstrdup(s->v[i]);
        *strrchr(v[i].stem, '.') = 0; /* scan_is_image saw an extension */
    }
    if (s->n > 1)
        qsort(v, (size_t)s->n, sizeof *v, cmp_stem);
    return v;
}

static void stems_free(stem *v, int64_t n)
{
    for (int64_t i = 0; v && i < n; i++)
        free(v[i].stem);
    free(v);
}

static int pair_masks(const char *idir, const char *mdir, const scan_names *images,
                      const scan_names *masks, pack_list *l, cnn_err *e)
{
    stem *is = stems_of(images), *ms = stems_of(masks);
    int rc = CNN_OK;
    for (int64_t i = 1; i < images->n && rc == CNN_OK; i++)
        if (!strcmp(is[i].stem, is[i - 1].stem))
            rc = CNN_ERR(e, CNN_EINVAL, "%s holds both %s and %s: masks are matched by name "
                         "without extension; rename one", idir, is[i - 1].name, is[i].name);
    int64_t used = 0;
    for (int64_t k = 0; k < images->n && rc == CNN_OK; k++) {
        char *st = cnn_xstrdup(images->v[k]);
        *strrchr(st, '.') = 0;
        stem key = {st, NULL};
        const stem *m = bsearch(&key, ms, (size_t)masks->n, sizeof *ms, cmp_stem);
        if (!m)
            rc = CNN_ERR(e, CNN_EINVAL, "no mask for %s/%s: expected %s/%s.png", idir,
                         images->v[k], mdir, st);
        else
            pack_list_push(l, scan_join(idir, images->v[k]), scan_join(mdir, m->name), -1);
        used += m != NULL;
        free(st);
    }
    if (rc == CNN_OK && used < masks->n)
        fprintf(stderr, "cnn-pack: %lld of %lld masks in %s have no image; not packed\n",
                (long long)(masks->n - used), (long long)masks->n, mdir);
    stems_free(is, images->n);
    stems_free(ms, masks->n);
    return rc;
}

int scan_segmentation(const char *images, const char *masks, pack_list *l, cnn_err *e)
{
    *l = (pack_list){0};
    scan_names im = {0}, ms = {0};
    int64_t ignored_masks = 0;
    int rc = flat_images(images, false, &im, &l->ignored, e);
    if (rc == CNN_OK)
        rc = flat_images(masks, true, &ms, &ignored_masks, e);
    if (rc == CNN_OK)
        rc = pair_masks(images, masks, &im, &ms, l, e);
    scan_names_free(&im);
    scan_names_free(&ms);
    if (rc < 0)
        pack_list_free(l);
    return rc;
}
