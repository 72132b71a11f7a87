/* predict's inputs: the file list (folders expanded as cnn-pack expands them), the output
 * stem of each file (its name without extension; a repeated one gets "-2", "-3", ...), and
 * reading one file with cnn-pack's decoder (EXIF orientation, gray, CMYK, alpha, palette).
 * A gray model takes a colour file only when it is gray in fact (R = G = B everywhere);
 * a colour model takes a gray one as PIL's convert("RGB") would. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "infer_impl.h"

static void push(file_list *l, char *path, char *err)
{
    if (l->n == l->cap) {
        int cap = l->cap, cap2 = l->cap;
        l->path = cnn_xgrow(l->path, &cap, sizeof *l->path);
        l->err = cnn_xgrow(l->err, &cap2, sizeof *l->err);
        l->stem = cnn_xgrow(l->stem, &l->cap, sizeof *l->stem);
    }
    l->path[l->n] = path;
    l->err[l->n] = err;
    l->stem[l->n++] = NULL;
}

const char *infer_stem(const char *path, int *len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    *len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    return base;
}

static char *stem_of(const char *path)
{
    int n;
    const char *base = infer_stem(path, &n);
    char *s = cnn_xmalloc((size_t)n + 16); /* room for a "-<k>" of make_stems */
    memcpy(s, base, (size_t)n);
    s[n] = '\0';
    return s;
}

/* Unique stems: the k-th repeat of a name (k >= 2) is "<name>-<k>". */
static void make_stems(file_list *l)
{
    for (int i = 0; i < l->n; i++) {
        l->stem[i] = stem_of(l->path[i]);
        size_t base = strlen(l->stem[i]);
        for (int k = 2;; k++) {
            bool taken = false;
            for (int j = 0; j < i && !taken; j++)
                taken = !strcmp(l->stem[j], l->stem[i]);
            if (!taken)
                break;
            snprintf(l->stem[i] + base, 16, "-%d", k);
        }
    }
}

void input_list(const char *const *args, int n_args, file_list *out)
{
    *out = (file_list){0};
    for (int a = 0; a < n_args; a++) {
        struct stat st;
        if (stat(args[a], &st) != 0 || !S_ISDIR(st.st_mode)) {
            push(out, cnn_xstrdup(args[a]), NULL); /* read (or reported) where it stands */
            continue;
        }
        char **paths = NULL;
        int64_t n = 0;
        cnn_err e = {0};
        if (image_files_under(args[a], &paths, &n, &e) < 0)
            push(out, cnn_xstrdup(args[a]), cnn_xstrdup(e.msg)); /* a loop, unreadable */
        else if (n == 0) /* a folder that gives nothing is an item of its own */
            push(out, cnn_xstrdup(args[a]), cnn_xstrdup("no .jpg, .jpeg or .png file under it"));
        for (int64_t i = 0; i < n; i++)
            push(out, paths[i], NULL);
        free(paths);
    }
    make_stems(out);
}

void input_list_free(file_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->path[i]);
        free(l->stem[i]);
        free(l->err[i]);
    }
    free(l->path);
    free(l->stem);
    free(l->err);
    *l = (file_list){0};
}

static bool really_gray(const image *im)
{
    size_t n = (size_t)im->h * (size_t)im->w;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = im->data + 3 * i;
        if (p[0] != p[1] || p[1] != p[2])
            return false;
    }
    return true;
}

void input_read(const file_list *l, int i, int model_c, input_image *out)
{
    *out = (input_image){0};
    const char *path = l->path[i];
    if (l->err[i]) {
        snprintf(out->err, sizeof out->err, "%s: %s", path, l->err[i]);
        return;
    }
    uint8_t *bytes = NULL;
    size_t n = 0;
    cnn_err e = {0};
    int rc = data_read_file(path, &bytes, &n, &e);
    if (rc == CNN_OK) {
        rc = image_decode(bytes, n, 0, 0, &out->im, &e);
        if (rc < 0)
            cnn_err_prefix(&e, "%s: ", path);
    }
    free(bytes);
    if (rc == CNN_OK && model_c == 1 && out->im.c == 3 && !really_gray(&out->im)) {
        rc = CNN_ERR(&e, CNN_EINVAL, "%s is a colour image (%dx%d RGB) but the model takes "
                     "gray images (1 channel); convert it to grayscale first", path,
                     out->im.w, out->im.h);
    }
    if (rc < 0) {
        image_free(&out->im);
        snprintf(out->err, sizeof out->err, "%s", e.msg);
    }
}
