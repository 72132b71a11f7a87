/* CIFAR-10 and CIFAR-100 in their binary versions (data.h cifar_read), as the dataset's
 * page describes them: CIFAR-10's data_batch_1..5.bin (train) and test_batch.bin hold
 * records of 1 label byte and 3072 pixel bytes (the 1024 red, then green, then blue values
 * of a 32x32 image, row by row), class names in batches.meta.txt; CIFAR-100's train.bin and
 * test.bin hold records of a coarse and a fine label byte, then the same 3072 bytes, names in
 * coarse_label_names.txt and fine_label_names.txt. A file whose size is not a whole number of
 * records, or a label beyond the classes, is an error naming the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pack_scan_impl.h"

#define SIDE 32
#define PIXELS (SIDE * SIDE * 3)

static bool exists(const char *dir, const char *name)
{
    char *p = scan_join(dir, name);
    struct stat st;
    bool ok = stat(p, &st) == 0;
    free(p);
    return ok;
}

/* Class names, one a line, when the file is there with exactly n of them; else "0".."n-1". */
static void names(const char *dir, const char *file, int n, cifar_set *s)
{
    s->n_classes = n;
    s->classes = cnn_xcalloc((size_t)n, sizeof *s->classes);
    char *p = scan_join(dir, file), line[256];
    FILE *f = fopen(p, "r");
    int k = 0;
    while (f && k < n && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0])
            s->classes[k++] = cnn_xstrdup(line);
    }
    if (f)
        fclose(f);
    free(p);
    for (int i = 0; i < n; i++) {
        if (k == n && s->classes[i])
            continue;
        free(s->classes[i]);
        s->classes[i] = cnn_xmalloc(16);
        snprintf(s->classes[i], 16, "%d", i);
    }
}

/* Appends the records of one file; label_at: which label byte (0 coarse / the only one, 1
 * fine) of head bytes per record. */
static int read_file(const char *dir, const char *name, int head, int label_at, cifar_set *s,
                     cnn_err *e)
{
    char *p = scan_join(dir, name);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = data_read_file(p, &buf, &len, e);
    size_t rec = (size_t)(head + PIXELS);
    if (rc == CNN_OK && (len == 0 || len % rec))
        rc = CNN_ERR(e, CNN_EINVAL, "%s is %zu bytes, not a whole number of %zu-byte CIFAR "
                     "records; is it the binary version of the dataset?", p, len, rec);
    int64_t n = rc == CNN_OK ? (int64_t)(len / rec) : 0;
    if (rc == CNN_OK) {
        s->images = realloc(s->images, (size_t)(s->n + n) * PIXELS);
        s->labels = realloc(s->labels, (size_t)(s->n + n) * sizeof *s->labels);
        CNN_ASSERT(s->images && s->labels);
    }
    for (int64_t i = 0; i < n && rc == CNN_OK; i++) {
        const uint8_t *r = buf + (size_t)i * rec;
        int32_t y = r[label_at];
        if (y >= s->n_classes) {
            rc = CNN_ERR(e, CNN_EINVAL, "%s: record %lld has label %d, beyond the %d classes",
                         p, (long long)i, y, s->n_classes);
            break;
        }
        uint8_t *img = s->images + (size_t)(s->n + i) * PIXELS; /* planes to HWC */
        for (int k = 0; k < SIDE * SIDE; k++)
            for (int c = 0; c < 3; c++)
                img[3 * k + c] = r[head + c * SIDE * SIDE + k];
        s->labels[s->n + i] = y;
    }
    if (rc == CNN_OK)
        s->n += n;
    free(buf);
    free(p);
    return rc;
}

int cifar_read(const char *dir, bool train, bool coarse, cifar_set *out, cnn_err *e)
{
    *out = (cifar_set){0};
    int rc = CNN_OK;
    if (exists(dir, "test_batch.bin") || exists(dir, "data_batch_1.bin")) {
        if (coarse)
            return CNN_ERR(e, CNN_EINVAL, "%s holds CIFAR-10, which has no coarse labels; "
                           "--coarse is for CIFAR-100", dir);
        names(dir, "batches.meta.txt", 10, out);
        for (int b = 1; b <= 5 && train && rc == CNN_OK; b++) {
            char f[32];
            snprintf(f, sizeof f, "data_batch_%d.bin", b);
            rc = read_file(dir, f, 1, 0, out, e);
        }
        if (!train)
            rc = read_file(dir, "test_batch.bin", 1, 0, out, e);
    } else if (exists(dir, "train.bin") || exists(dir, "test.bin")) {
        names(dir, coarse ? "coarse_label_names.txt" : "fine_label_names.txt",
              coarse ? 20 : 100, out);
        rc = read_file(dir, train ? "train.bin" : "test.bin", 2, coarse ? 0 : 1, out, e);
    } else {
        rc = CNN_ERR(e, CNN_EINVAL, "%s holds neither CIFAR-10 (data_batch_1.bin ... "
                     "test_batch.bin) nor CIFAR-100 (train.bin, test.bin) binary files; "
                     "download the binary version and extract it", dir);
    }
    if (rc < 0)
        cifar_free(out);
    return rc;
}

void cifar_free(cifar_set *s)
{
    for (int k = 0; s->classes && k < s->n_classes; k++)
        free(s->classes[k]);
    free(s->classes);
    free(s->images);
    free(s->labels);
    *s = (cifar_set){0};
}
