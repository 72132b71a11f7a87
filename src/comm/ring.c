/* Ring all-reduce as a state machine over nonblocking point-to-point messages. The buffer
 * is cut into slices of ranks x chunk floats; each slice is reduced by its own ring
 * (reduce-scatter of its ranks segments in ranks-1 steps, then all-gather in ranks-1
 * steps), and up to `window` slices are in flight so that one slice's additions overlap
 * the next one's transfers. A slice's step starts when both messages of its previous step
 * completed, so a buffer is never read and written at once. */
#include <stdint.h>
#include <stdlib.h>

#include "comm_impl.h"
#include "ring.h"

typedef struct slot {
    size_t slice;
    int step;    /* 0 .. 2 (ranks - 1) - 1 */
    int pending; /* messages of this step not yet complete */
    bool busy;
    float *tmp;  /* (chunk) the segment received while reducing */
} slot;

struct ring {
    MPI_Comm mc;
    int rank, size;
    uint64_t tags; /* tags used: 0 .. tags - 1 */
    size_t chunk;
    int window, active;
    slot *s;           /* (window) */
    MPI_Request *rq;   /* (2 window) recv, send of each slot */
    int *done;         /* (2 window) MPI_Testsome's indices */
    float *tmp;        /* (window, chunk) */
    float *p;          /* the buffer being reduced (borrowed) */
    size_t count, n_slices, next_slice;
};

ring *ring_create(MPI_Comm mc, size_t chunk, int window)
{
    CNN_ASSERT(chunk > 0 && chunk <= INT32_MAX && window > 0);
    ring *r = cnn_xcalloc(1, sizeof *r);
    r->mc = mc;
    CNN_MPI(MPI_Comm_rank(mc, &r->rank));
    CNN_MPI(MPI_Comm_size(mc, &r->size));
    int *ub, flag;
    CNN_MPI(MPI_Comm_get_attr(mc, MPI_TAG_UB, &ub, &flag));
    r->tags = flag ? (uint64_t)*ub + 1 : 32768; /* MPI guarantees at least 32767 */
    CNN_ASSERT(r->tags > (uint64_t)window * 2 * (uint64_t)r->size);
    r->chunk = chunk;
    r->window = window;
    r->s = cnn_xcalloc((size_t)window, sizeof *r->s);
    r->rq = cnn_xmalloc(2 * (size_t)window * sizeof *r->rq);
    r->done = cnn_xmalloc(2 * (size_t)window * sizeof *r->done);
    r->tmp = cnn_xmalloc((size_t)window * chunk * sizeof *r->tmp);
    for (int k = 0; k < window; k++) {
        r->s[k].tmp = r->tmp + (size_t)k * chunk;
        r->rq[2 * k] = r->rq[2 * k + 1] = MPI_REQUEST_NULL;
    }
    return r;
}

void ring_destroy(ring *r)
{
    if (!r)
        return;
    CNN_ASSERT(r->active == 0);
    free(r->s);
    free(r->rq);
    free(r->done);
    free(r->tmp);
    free(r);
}

static int mod(int a, int n) { return ((a % n) + n) % n; }

/* Segment j of the slice: [*lo, *lo + *n) of the buffer, the slice split evenly. */
static void segment(const ring *r, size_t slice, int j, size_t *lo, size_t *n)
{
    size_t s0 = slice * r->chunk * (size_t)r->size;
    size_t len = r->count - s0 < r->chunk * (size_t)r->size ? r->count - s0
                                                            : r->chunk * (size_t)r->size;
    size_t a = len * (size_t)j / (size_t)r->size, b = len * (size_t)(j + 1) / (size_t)r->size;
    *lo = s0 + a;
    *n = b - a;
}

/* Posts slot k's current step: reduce-scatter steps receive into tmp (added on
 * completion), all-gather steps receive the final sums in place. */
static void post_step(ring *r, int k)
{
    slot *s = &r->s[k];
    int p = r->size, t = s->step;
    int left = mod(r->rank - 1, p), right = mod(r->rank + 1, p);
    bool scatter = t < p - 1;
    int send_seg = scatter ? mod(r->rank - t, p) : mod(r->rank + 1 - (t - (p - 1)), p);
    int recv_seg = scatter ? mod(r->rank - t - 1, p) : mod(r->rank - (t - (p - 1)), p);
    int tag = (int)(((uint64_t)s->slice * 2 * (uint64_t)(p - 1) + (uint64_t)t) % r->tags);
    size_t slo, sn, rlo, rn;
    segment(r, s->slice, send_seg, &slo, &sn);
    segment(r, s->slice, recv_seg, &rlo, &rn);
    float *dst = scatter ? s->tmp : r->p + rlo;
    CNN_MPI(MPI_Irecv(dst, (int)rn, MPI_FLOAT, left, tag, r->mc, &r->rq[2 * k]));
    CNN_MPI(MPI_Isend(r->p + slo, (int)sn, MPI_FLOAT, right, tag, r->mc, &r->rq[2 * k + 1]));
    s->pending = 2;
}

/* Gives slot k the next slice, or frees it. */
static void next_slice(ring *r, int k)
{
    slot *s = &r->s[k];
    if (r->next_slice == r->n_slices) {
        s->busy = false;
        r->active--;
        return;
    }
    s->slice = r->next_slice++;
    s->step = 0;
    s->busy = true;
    post_step(r, k);
}

void ring_start(ring *r, float *p, size_t count)
{
    CNN_ASSERT(r->active == 0);
    r->p = p;
    r->count = count;
    size_t per = r->chunk * (size_t)r->size;
    r->n_slices = r->size > 1 ? (count + per - 1) / per : 0;
    r->next_slice = 0;
    for (int k = 0; k < r->window; k++) {
        r->active++;
        next_slice(r, k);
    }
}

static void add_into(float *restrict a, const float *restrict b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] += b[i];
}

/* Both messages of slot k's step are complete: add what a reduce-scatter step received,
 * then post the next step or take the next slice. */
static void step_done(ring *r, int k)
{
    slot *s = &r->s[k];
    int p = r->size;
    if (s->step < p - 1) {
        size_t lo, n;
        segment(r, s->slice, mod(r->rank - s->step - 1, p), &lo, &n);
        add_into(r->p + lo, s->tmp, n);
    }
    if (++s->step == 2 * (p - 1))
        next_slice(r, k);
    else
        post_step(r, k);
}

ring_state ring_progress(ring *r, bool block)
{
    if (r->active == 0)
        return RING_DONE;
    int n = 2 * r->window, out;
    if (block)
        CNN_MPI(MPI_Waitsome(n, r->rq, &out, r->done, MPI_STATUSES_IGNORE));
    else
        CNN_MPI(MPI_Testsome(n, r->rq, &out, r->done, MPI_STATUSES_IGNORE));
    CNN_ASSERT(out != MPI_UNDEFINED); /* some slot is busy, so some request is active */
    for (int i = 0; i < out; i++) {
        int k = r->done[i] / 2;
        CNN_ASSERT(r->s[k].busy && r->s[k].pending > 0);
        if (--r->s[k].pending == 0)
            step_done(r, k);
    }
    if (r->active == 0)
        return RING_DONE;
    return out > 0 ? RING_MOVED : RING_IDLE;
}
