/* The bucketed gradient all-reduce. Gradients sit in grads_flat in reverse node order, so
 * backward finishes them from offset 0 upward; a bucket is a run of whole nodes' parameter
 * ranges closed once it holds bucket_bytes, and the hook of a bucket's last node hands it to
 * the transport while backward goes on. reducer_finish hands over the rest and waits; the
 * wait is the exposed communication time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reducer_impl.h"
#include "transport.h"

struct reducer {
    comm *c;
    net *n;
    transport *x;
    reducer_bucket *b;
    int nb, cap;
    int next; /* first bucket not yet started in this step */
    reducer_stats st;
};

/* Nodes with parameters by ascending param_lo: the order backward finishes them. */
static void plan_buckets(reducer *r, size_t bucket_bytes)
{
    const net *n = r->n;
    size_t total = tensor_bytes(&n->grads_flat), lo = 0;
    for (int i = n->n_nodes - 1; i >= 0; i--) {
        const net_node *nd = &n->nodes[i];
        if (nd->param_hi <= nd->param_lo)
            continue;
        CNN_ASSERT(nd->param_lo >= lo && nd->param_hi <= total);
        CNN_ASSERT(nd->param_hi % sizeof(float) == 0);
        if (r->nb > 0 && r->b[r->nb - 1].hi == 0) {
            r->b[r->nb - 1].ready_hi = nd->param_hi;
            r->b[r->nb - 1].last_node = i;
        } else {
            if (r->nb == r->cap)
                r->b = cnn_xgrow(r->b, &r->cap, sizeof *r->b);
            r->b[r->nb++] = (reducer_bucket){lo, 0, nd->param_hi, i};
        }
        reducer_bucket *cur = &r->b[r->nb - 1];
        if (nd->param_hi - cur->lo >= bucket_bytes)
            lo = cur->hi = nd->param_hi; /* closed */
    }
    if (r->nb > 0)
        r->b[r->nb - 1].hi = total; /* the open one, and the padding after the last node */
}

/* The last bucket holds the first layers, whose gradients are final only when backward
 * ends: its whole all-reduce is exposed. Cutting its trailing nodes (at most tail bytes, at
 * least one node) into a bucket of their own lets the rest start while the first layers'
 * backward still runs (the mirror of PyTorch DDP's small first bucket). */
static void split_tail(reducer *r, size_t tail)
{
    const net *n = r->n;
    reducer_bucket *last = &r->b[r->nb - 1];
    int keep = -1;   /* the first node (from the top) that stays before the cut */
    bool any = false; /* some node goes behind it */
    for (int i = 0; i < n->n_nodes && keep < 0; i++) { /* ascending index, descending offset */
        const net_node *nd = &n->nodes[i];
        if (nd->param_hi <= nd->param_lo)
            continue;
        if (nd->param_lo < last->lo)
            return; /* the whole last bucket fits the tail already */
        if (last->hi - nd->param_lo <= tail)
            any = true;
        else
            keep = i;
    }
    if (!any || keep < 0)
        return;
    reducer_bucket t = {n->nodes[keep].param_hi, last->hi, last->ready_hi, last->last_node};
    last->hi = last->ready_hi = n->nodes[keep].param_hi;
    last->last_node = keep;
    if (r->nb == r->cap)
        r->b = cnn_xgrow(r->b, &r->cap, sizeof *r->b);
    r->b[r->nb++] = t;
}

int reducer_create(comm *c, net *n, size_t bucket_bytes, reducer **out, cnn_err *e)
{
    *out = NULL;
    if (!n->be)
        return CNN_ERR(e, CNN_ESTATE, "reducer_create: the net is not allocated (net_alloc)");
    if (bucket_bytes == 0)
        return CNN_ERR(e, CNN_EINVAL, "gradient bucket size 0; use comm.bucket_mb > 0");
    reducer *r = cnn_xcalloc(1, sizeof *r);
    r->c = c;
    r->n = n;
    int rc = transport_create(c, n->be, &r->x, e);
    if (rc < 0) {
        free(r);
        cnn_err_trace(e, __FILE__, __LINE__);
        return rc;
    }
    plan_buckets(r, bucket_bytes);
    if (r->nb > 0)
        split_tail(r, reducer_tail_bytes(bucket_bytes));
    r->st.n_buckets = r->nb;
    r->st.bytes = tensor_bytes(&n->grads_flat);
    *out = r;
    return CNN_OK;
}

static void start_next(reducer *r)
{
    const reducer_bucket *b = &r->b[r->next];
    char what[WATCH_WHAT_MAX];
    snprintf(what, sizeof what, "bucket %d of %d, step %lld", r->next + 1, r->nb,
             (long long)r->st.steps + 1);
    float *base = r->n->grads_flat.data;
    r->x->ops->bucket_start(r->x, base + b->lo / sizeof(float),
                            (b->hi - b->lo) / sizeof(float), what);
    r->next++;
}

void reducer_hook(void *ctx, const net *n, int node)
{
    reducer *r = ctx;
    CNN_ASSERT(n == r->n && node >= 0 && node < n->n_nodes);
    size_t final_hi = n->nodes[node].param_hi; /* every byte below is final */
    while (r->next < r->nb && r->b[r->next].ready_hi <= final_hi)
        start_next(r);
}

void reducer_finish(reducer *r)
{
    double t0 = comm_now();
    while (r->next < r->nb)
        start_next(r);
    r->x->ops->bucket_wait(r->x, &r->st.comm_seconds);
    r->st.exposed_seconds += comm_now() - t0;
    r->st.steps++;
    r->next = 0;
}

size_t reducer_tail_bytes(size_t bucket_bytes)
{
    const size_t cap = (size_t)1 << 20;
    return bucket_bytes / 8 < cap ? bucket_bytes / 8 : cap;
}

void reducer_get_stats(const reducer *r, reducer_stats *s) { *s = r->st; }

const reducer_bucket *reducer_buckets(const reducer *r) { return r->b; }
int reducer_started(const reducer *r) { return r->next; }

void reducer_destroy(reducer *r)
{
    if (!r)
        return;
    r->x->ops->destroy(r->x);
    free(r->b);
    free(r);
}
