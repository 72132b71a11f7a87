/* cnn-pack's file lists: an ImageFolder tree in torchvision's order (classes = sorted
 * sub-folder names; within a class, os.walk(followlinks=True) order: folders sorted by
 * path, files sorted by name; extensions .jpg .jpeg .png in any case, other files counted),
 * and the flat folders of imagenet-val and segmentation. Names compare as bytes (strcmp),
 * which is Python's code-point order for UTF-8 names. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "pack_images_impl.h"
#include "pack_scan_impl.h"

#define SCAN_MAX_DEPTH 64 /* followed symlinks can loop */

bool scan_is_image(const char *name, bool png_only)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return false;
    if (png_only)
        return strcasecmp(dot, ".png") == 0;
    return !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png");
}

/* dir/name; a dir given with its trailing slash ("photos/") gets no second one. */
char *scan_join(const char *dir, const char *name)
{
    size_t d = strlen(dir), n = d + strlen(name) + 2;
    char *s = cnn_xmalloc(n);
    snprintf(s, n, "%s%s%s", dir, d && dir[d - 1] == '/' ? "" : "/", name);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void scan_names_free(scan_names *s)
{
    for (int64_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    *s = (scan_names){0};
}

static void names_push(scan_names *s, char *v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->v = realloc(s->v, (size_t)s->cap * sizeof *s->v);
        CNN_ASSERT(s->v);
    }
    s->v[s->n++] = v;
}

/* Sorted entry names of dir, split into sub-folders and files (stat follows symlinks). */
int scan_dir(const char *dir, scan_names *dirs, scan_names *files, cnn_err *e)
{
    DIR *d = opendir(dir);
    if (!d)
        return CNN_ERR(e, CNN_EIO, "cannot open folder %s: %s", dir, strerror(errno));
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *p = scan_join(dir, de->d_name);
        struct stat st;
        bool is_dir = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
        free(p);
        if (is_dir && dirs)
            names_push(dirs, cnn_xstrdup(de->d_name));
        else if (!is_dir && files)
            names_push(files, cnn_xstrdup(de->d_name));
        errno = 0;
    }
    int err = errno;
    closedir(d);
    if (err)
        return CNN_ERR(e, CNN_EIO, "reading folder %s failed: %s", dir, strerror(err));
    if (dirs && dirs->n > 1)
        qsort(dirs->v, (size_t)dirs->n, sizeof *dirs->v, cmp_str);
    if (files && files->n > 1)
        qsort(files->v, (size_t)files->n, sizeof *files->v, cmp_str);
    return CNN_OK;
}

void pack_list_push(pack_list *l, char *path, char *mask, int32_t label)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->items = realloc(l->items, (size_t)l->cap * sizeof *l->items);
        CNN_ASSERT(l->items);
    }
    l->items[l->n++] = (pack_item){path, mask, label};
}

void pack_list_free(pack_list *l)
{
    for (int64_t i = 0; i < l->n; i++) {
        free(l->items[i].path);
        free(l->items[i].mask);
    }
    free(l->items);
    for (int i = 0; i < l->n_classes; i++)
        free(l->classes[i]);
    free(l->classes);
    *l = (pack_list){0};
}

/* A file of the walk: its folder and name, sorted as os.walk's sorted (root, ...) tuples. */
typedef struct walk_file {
    char *dir, *name;
} walk_file;

typedef struct walk {
    walk_file *v;
    int64_t n, cap, ignored;
} walk;

static int cmp_walk(const void *a, const void *b)
{
    const walk_file *x = a, *y = b;
    int c = strcmp(x->dir, y->dir);
    return c ? c : strcmp(x->name, y->name);
}

static int walk_dir(const char *dir, int depth, walk *w, cnn_err *e)
{
    if (depth > SCAN_MAX_DEPTH)
        return CNN_ERR(e, CNN_EINVAL, "folder %s is nested more than %d levels deep; a "
                       "symbolic link loop?", dir, SCAN_MAX_DEPTH);
    scan_names dirs = {0}, files = {0};
    int rc = scan_dir(dir, &dirs, &files, e);
    for (int64_t i = 0; rc == CNN_OK && i < files.n; i++) {
        if (!scan_is_image(files.v[i], false)) {
            w->ignored++;
            continue;
        }
        if (w->n == w->cap) {
            w->cap = w->cap ? 2 * w->cap : 256;
            w->v = realloc(w->v, (size_t)w->cap * sizeof *w->v);
            CNN_ASSERT(w->v);
        }
        w->v[w->n++] = (walk_file){cnn_xstrdup(dir), cnn_xstrdup(files.v[i])};
    }
    for (int64_t i = 0; rc == CNN_OK && i < dirs.n; i++) {
        char *sub = scan_join(dir, dirs.v[i]);
        rc = walk_dir(sub, depth + 1, w, e);
        free(sub);
    }
    scan_names_free(&dirs);
    scan_names_free(&files);
    return rc;
}

/* The images under dir as sorted paths (*paths NULL on error); *ignored: other files. */
static int images_under(const char *dir, char ***paths, int64_t *n, int64_t *ignored,
                        cnn_err *e)
{
    walk w = {0};
    int rc = walk_dir(dir, 0, &w, e);
    if (rc == CNN_OK && w.n > 1)
        qsort(w.v, (size_t)w.n, sizeof *w.v, cmp_walk);
    *paths = rc == CNN_OK ? cnn_xcalloc((size_t)w.n + 1, sizeof **paths) : NULL;
    for (int64_t i = 0; i < w.n; i++) {
        if (rc == CNN_OK)
            (*paths)[i] = scan_join(w.v[i].dir, w.v[i].name);
        free(w.v[i].dir);
        free(w.v[i].name);
    }
    *n = rc == CNN_OK ? w.n : 0;
    *ignored = w.ignored;
    free(w.v);
    return rc;
}

int image_files_under(const char *dir, char ***paths, int64_t *n, cnn_err *e)
{
    int64_t ignored;
    return images_under(dir, paths, n, &ignored, e);
}

static int add_class(pack_list *l, const char *cdir, int32_t label, cnn_err *e)
{
    char **paths;
    int64_t n, ignored;
    int rc = images_under(cdir, &paths, &n, &ignored, e);
    for (int64_t i = 0; i < n; i++)
        pack_list_push(l, paths[i], NULL, label);
    free(paths);
    l->ignored += ignored;
    if (rc == CNN_OK && n == 0)
        rc = CNN_ERR(e, CNN_EINVAL, "class folder %s holds no .jpg, .jpeg or .png file (%lld "
                     "other files); add images or remove the folder", cdir, (long long)ignored);
    return rc;
}

int scan_imagefolder(const char *src, pack_list *l, cnn_err *e)
{
    *l = (pack_list){0};
    scan_names dirs = {0};
    CNN_TRY(e, scan_dir(src, &dirs, NULL, e));
    if (dirs.n == 0) {
        scan_names_free(&dirs);
        return CNN_ERR(e, CNN_EINVAL, "%s has no sub-folders; an ImageFolder tree holds one "
                       "folder per class (SRC/CLASS/IMAGE.jpg)", src);
    }
    if (dirs.n > DATA_MAX_CLASSES) {
        scan_names_free(&dirs);
        return CNN_ERR(e, CNN_EINVAL, "%s has %lld class folders; at most %d are supported",
                       src, (long long)dirs.n, DATA_MAX_CLASSES);
    }
    l->n_classes = (int)dirs.n;
    l->classes = dirs.v; /* the sorted names, now owned by the list */
    int rc = CNN_OK;
    for (int c = 0; rc == CNN_OK && c < l->n_classes; c++) {
        char *cdir = scan_join(src, l->classes[c]);
        rc = add_class(l, cdir, c, e);
        free(cdir);
    }
    if (rc < 0)
        pack_list_free(l);
    return rc;
}
