/* fuzz_tmp.h: a mkdtemp folder made on first use; atexit removes it with its files. */
#include "fuzz_tmp.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[512];

static void remove_dir(void)
{
    fuzz_tmp_clear();
    rmdir(dir);
}

static const char *folder(void)
{
    if (dir[0])
        return dir;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/cnn-fuzz-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("fuzz harness: mkdtemp");
        abort();
    }
    atexit(remove_dir);
    return dir;
}

const char *fuzz_tmp_path(const char *name)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", folder(), name);
    return path;
}

const char *fuzz_tmp_write(const char *name, const void *p, size_t n)
{
    const char *path = fuzz_tmp_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

void fuzz_tmp_clear(void)
{
    DIR *d = opendir(folder());
    if (!d)
        return;
    struct dirent *ent;
    while ((ent = readdir(d)))
        if (ent->d_name[0] != '.')
            unlink(fuzz_tmp_path(ent->d_name));
    closedir(d);
}
