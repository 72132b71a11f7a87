/* Fixture file reader: every length is bounded by the file size before it is trusted. */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rd(FILE *fp, void *p, size_t n) { return fread(p, 1, n, fp) == n ? 0 : -1; }

int fixture_load(const char *path, fixture *f, cnn_err *e)
{
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return CNN_ERR(e, CNN_EIO, "cannot open fixture '%s'; regenerate with "
                       "/usr/bin/python3 tools/fixtures/make_fixtures.py", path);
    char magic[8];
    uint32_t ver, n;
    if (rd(fp, magic, 8) || memcmp(magic, "CNNFIX01", 8) || rd(fp, &ver, 4) || ver != 1 ||
        rd(fp, &n, 4) || n > 4096) {
        fclose(fp);
        return CNN_ERR(e, CNN_EIO, "'%s' is not a version-1 cnn-dist fixture", path);
    }
    f->recs = cnn_xcalloc(n, sizeof *f->recs);
    for (uint32_t i = 0; i < n; i++) {
        fixture_rec *r = &f->recs[i];
        uint16_t len;
        uint8_t dt, nd;
        if (rd(fp, &len, 2) || len >= sizeof r->name || rd(fp, r->name, len) || rd(fp, &dt, 1) ||
            rd(fp, &nd, 1) || dt > 3 || nd > CNN_MAX_DIMS)
            goto bad;
        r->s.nd = nd;
        for (int d = 0; d < nd; d++)
            if (rd(fp, &r->s.d[d], 8) || r->s.d[d] < 0 || r->s.d[d] > (1 << 28))
                goto bad;
        r->is_text = dt == 3;
        r->dt = dt == 0 ? DTYPE_F32 : dt == 1 ? DTYPE_I32 : DTYPE_U8;
        size_t bytes = (size_t)shape_numel(&r->s) * dtype_size(r->dt);
        r->data = cnn_xmalloc(bytes + 1);
        ((char *)r->data)[bytes] = '\0';
        f->n++;
        if (rd(fp, r->data, bytes))
            goto bad;
    }
    fclose(fp);
    return CNN_OK;
bad:
    fclose(fp);
    fixture_free(f);
    return CNN_ERR(e, CNN_EIO, "fixture '%s' is truncated or corrupt", path);
}

void fixture_free(fixture *f)
{
    for (int i = 0; f->recs && i < f->n; i++)
        free(f->recs[i].data);
    free(f->recs);
    memset(f, 0, sizeof *f);
}

const fixture_rec *fixture_find(const fixture *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->recs[i].name, name))
            return &f->recs[i];
    return NULL;
}
