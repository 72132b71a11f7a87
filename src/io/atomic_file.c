/* Crash-safe files with our own checked I/O: write "<path>.tmp.<pid>", fsync, close, rename
 * over path, fsync the directory, so path holds its old or its new bytes after any failure
 * (a full disk included) or crash. Writes loop on short transfers and EINTR. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

/* write() (at < 0: at the file position) or pwrite() at offset at, until all n are out. */
static int write_loop(int fd, const void *p, size_t n, off_t at)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = at < 0 ? write(fd, c, n) : pwrite(fd, c, n, at);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = EIO;
            return -1;
        }
        c += k;
        if (at >= 0)
            at += k;
        n -= (size_t)k;
    }
    return 0;
}

int io_write_all(int fd, const void *p, size_t n) { return write_loop(fd, p, n, -1); }

int io_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
    CNN_ASSERT(off >= 0);
    return write_loop(fd, p, n, off);
}

int io_pread_all(int fd, void *p, size_t n, off_t off)
{
    char *c = p;
    while (n > 0) {
        ssize_t k = pread(fd, c, n, off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            return 1;
        c += k;
        off += k;
        n -= (size_t)k;
    }
    return 0;
}

char *io_tmp_name(const char *path, const char *what)
{
    size_t n = strlen(path) + strlen(what) + 32;
    char *s = cnn_xmalloc(n);
    snprintf(s, n, "%s%s.tmp.%ld", path, what, (long)getpid());
    return s;
}

int io_file_create(const char *path, int *fd, cnn_err *e)
{
    *fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (*fd < 0)
        return CNN_ERR(e, CNN_EIO, "cannot create %s: %s; check the output directory", path,
                       strerror(errno));
    return CNN_OK;
}

int io_file_sync_close(int fd, const char *path, int rc, cnn_err *e)
{
    if (rc == CNN_OK && fsync(fd) != 0)
        rc = CNN_ERR(e, CNN_EIO, "fsync of %s failed: %s", path, strerror(errno));
    if (close(fd) != 0 && rc == CNN_OK)
        rc = CNN_ERR(e, CNN_EIO, "closing %s failed: %s", path, strerror(errno));
    return rc;
}

int io_file_write(const char *path, const void *p, size_t n, cnn_err *e)
{
    int fd;
    CNN_TRY(e, io_file_create(path, &fd, e));
    int rc = CNN_OK;
    if (io_write_all(fd, p, n) != 0)
        rc = CNN_ERR(e, CNN_EIO, "writing %s failed: %s", path, strerror(errno));
    rc = io_file_sync_close(fd, path, rc, e);
    if (rc < 0)
        unlink(path);
    return rc;
}

int io_file_commit(const char *tmp, const char *path, cnn_err *e)
{
    if (rename(tmp, path) != 0) {
        int rc = CNN_ERR(e, CNN_EIO, "renaming %s to %s failed: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return rc;
    }
    return io_sync_dir(path, e);
}

int io_sync_dir(const char *path, cnn_err *e)
{
    char *p = cnn_xstrdup(path);
    char *slash = strrchr(p, '/');
    if (!slash)
        strcpy(p, ".");
    else
        slash[slash == p ? 1 : 0] = '\0';
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = CNN_OK;
    if (fd < 0 || fsync(fd) != 0)
        rc = CNN_ERR(e, CNN_EIO, "fsync of directory %s failed: %s", p, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(p);
    return rc;
}

int io_mkdir_parents(const char *path, cnn_err *e)
{
    char *p = cnn_xstrdup(path);
    int rc = CNN_OK;
    for (char *s = strchr(p + 1, '/'); s && rc == CNN_OK; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(p, 0777) < 0 && errno != EEXIST)
            rc = CNN_ERR(e, CNN_EIO, "cannot create the folder %s: %s", p, strerror(errno));
        *s = '/';
    }
    free(p);
    return rc;
}
