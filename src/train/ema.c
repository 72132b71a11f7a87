/* An exponential moving average of the weights and buffers (timm's ModelEmaV2: every
 * state_dict entry, running statistics included): two flat copies laid out like
 * n->params_flat and n->buffers_flat, updated with one axpby each on the net's backend.
 * Swapping exchanges contents through a scratch copy (three device copies): the layers hold
 * views into the net's arenas, so the arenas' pointers must never change. */
#include "optim.h"

#include <stdlib.h>

struct ema {
    net *n;
    float decay;
    tensor avg[2]; /* owned: (params_flat), (buffers_flat); data NULL when that flat is empty */
    tensor scratch; /* owned: the larger of the two */
    tensor *views;  /* (n_params + n_buffers) the average of each entry, for checkpoints */
    ckpt_tensor *ck;
    int n_ck;
};

static const tensor *live(const ema *m, int k)
{
    return k == 0 ? &m->n->params_flat : &m->n->buffers_flat;
}

static void make_views(ema *m)
{
    net *n = m->n;
    m->n_ck = n->n_params + n->n_buffers;
    m->views = cnn_xcalloc((size_t)m->n_ck + 1, sizeof *m->views);
    m->ck = cnn_xcalloc((size_t)m->n_ck + 1, sizeof *m->ck);
    for (int j = 0; j < m->n_ck; j++) {
        int k = j < n->n_params ? 0 : 1;
        const net_entry *en = k == 0 ? &n->params[j] : &n->buffers[j - n->n_params];
        ptrdiff_t off = (const char *)en->value.data - (const char *)live(m, k)->data;
        m->views[j] = tensor_view((char *)m->avg[k].data + off, en->value.s, DTYPE_F32,
                                  m->avg[k].dev);
        m->ck[j] = (ckpt_tensor){"ema", en->key, &m->views[j], false};
    }
}

static void copy_flat(backend *be, const tensor *dst, const tensor *src)
{
    be->ops->copy(be, dst->data, dst->dev, src->data, src->dev, tensor_bytes(src));
}

int ema_create(net *n, double decay, ema **out, cnn_err *e)
{
    *out = NULL;
    CNN_ASSERT(n->be && "ema_create needs an allocated net (net_alloc)");
    CNN_ASSERT(decay >= 0.0 && decay < 1.0);
    ema *m = cnn_xcalloc(1, sizeof *m);
    m->n = n;
    m->decay = (float)decay;
    int64_t most = 1;
    int rc = CNN_OK;
    for (int k = 0; k < 2 && rc == CNN_OK; k++) {
        const tensor *f = live(m, k);
        m->avg[k] = tensor_view(NULL, f->s, DTYPE_F32, n->be->ops->dev);
        if (!f->data)
            continue;
        if (tensor_numel(f) > most)
            most = tensor_numel(f);
        rc = backend_alloc_tensor(n->be, &m->avg[k], e);
        if (rc == CNN_OK)
            copy_flat(n->be, &m->avg[k], f);
    }
    m->scratch = tensor_view(NULL, SHAPE(most), DTYPE_F32, n->be->ops->dev);
    if (rc == CNN_OK)
        rc = backend_alloc_tensor(n->be, &m->scratch, e);
    if (rc < 0) {
        ema_destroy(m);
        return rc; /* e names the size (train.ema=0 needs no copy) */
    }
    make_views(m);
    *out = m;
    return CNN_OK;
}

void ema_update(ema *m)
{
    backend *be = m->n->be;
    float keep = m->decay, take = (float)(1.0 - (double)m->decay);
    for (int k = 0; k < 2; k++)
        if (m->avg[k].data)
            be->ops->axpby(be, take, live(m, k), keep, &m->avg[k]);
}

void ema_swap(ema *m)
{
    backend *be = m->n->be;
    for (int k = 0; k < 2; k++) {
        if (!m->avg[k].data)
            continue;
        tensor s = m->scratch;
        s.s = m->avg[k].s;
        copy_flat(be, &s, live(m, k));
        copy_flat(be, live(m, k), &m->avg[k]);
        copy_flat(be, &m->avg[k], &s);
    }
}

ckpt_tensor *ema_state(ema *m, int *n_out)
{
    *n_out = m->n_ck;
    return m->ck;
}

void ema_destroy(ema *m)
{
    if (!m)
        return;
    backend *be = m->n->be;
    backend_free_tensor(be, &m->avg[0]);
    backend_free_tensor(be, &m->avg[1]);
    backend_free_tensor(be, &m->scratch);
    free(m->views);
    free(m->ck);
    free(m);
}
