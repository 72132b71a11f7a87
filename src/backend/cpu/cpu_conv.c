/* CPU convolutions on oneDNN 2.6's C API: the library and path PyTorch's CPU convolution
 * takes. Primitives choose their own (blocked) layouts (format_tag_any); reorders move data
 * between the caller's plain NCHW/OIHW tensors and those layouts, and the last reorder folds
 * in beta as a sum post-op. Everything that defines a primitive (op, shapes, geometry, beta)
 * keys one cache entry holding its primitives and memory objects, built on first use. The
 * blocked buffers and the scratchpad (user mode) are workspaces shared by all entries, since
 * a backend runs one op at a time; they grow on the first call of a larger shape only.
 * A transposed convolution's output_padding may leave trailing rows of the x side that no
 * window reads: negative right padding where oneDNN takes it, else the geometry covers a
 * cropped, strided view of x and bwd_data clears the rest. */
#include <dnnl.h>
#include <dnnl_debug.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_impl.h"

typedef enum conv_op { CONV_FWD, CONV_BWD_DATA, CONV_BWD_FILTER } conv_op;
static const char *const op_names[] = {"conv_fwd", "conv_bwd_data", "conv_bwd_filter"};

/* Compared with memcmp, so it has no implicit padding (the static assert) and is zeroed
 * before it is filled. */
typedef struct conv_key {
    int32_t op;
    conv_desc d;
    float beta;
    int32_t zero; /* explicit padding, always 0 */
    int64_t x[4]; /* x or dx (N, C, H, W) */
    int64_t w[4]; /* w or dw (K, C/groups, R, S) */
    int64_t y[4]; /* y or dy (N, K, P, Q) */
} conv_key;
_Static_assert(sizeof(conv_key) == 2 * sizeof(int32_t) + sizeof(conv_desc) + sizeof(float) +
                   12 * sizeof(int64_t),
               "conv_key must have no implicit padding");

/* The convolution's three tensors: two inputs, then the output. */
enum { PORT_IN0, PORT_IN1, PORT_OUT, N_PORTS };
#define WS_SCRATCH N_PORTS /* workspace index of the scratchpad */

typedef struct conv_step {
    dnnl_primitive_t prim;
    dnnl_memory_t scratch; /* NULL when the primitive needs no scratchpad */
} conv_step;

typedef struct conv_port {
    int arg;              /* DNNL_ARG_* of this tensor in the convolution */
    dnnl_memory_t user;   /* the caller's tensor; handle set per call */
    dnnl_memory_t inner;  /* the primitive's layout, in workspace[port]; NULL: user direct */
    conv_step reorder;    /* user -> inner (inputs) or inner -> user (output, with beta) */
} conv_port;

typedef struct conv_entry {
    conv_key key;
    dnnl_primitive_desc_t pd, hint; /* hint: forward pd of a backward op, kept alive */
    conv_step conv;
    conv_port port[N_PORTS];
    int64_t xh, xw;     /* rows/columns of the x side the geometry covers */
    int64_t pr_h, pr_w; /* right (bottom) padding, see axis_geom */
} conv_entry;

typedef struct conv_ws {
    void *p;
    size_t bytes;
} conv_ws;

struct cpu_conv_cache {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    conv_ws ws[N_PORTS + 1];
    conv_entry **e;
    int n, cap;
};

static const char *key_str(const conv_key *k, char *b, size_t n)
{
    if (!k)
        return "oneDNN engine or stream";
    snprintf(b, n, "%s x (%lld, %lld, %lld, %lld) w (%lld, %lld, %lld, %lld) y (%lld, %lld, "
             "%lld, %lld) stride %dx%d pad %dx%d dilation %dx%d groups %d beta %g",
             op_names[k->op], (long long)k->x[0], (long long)k->x[1], (long long)k->x[2],
             (long long)k->x[3], (long long)k->w[0], (long long)k->w[1], (long long)k->w[2],
             (long long)k->w[3], (long long)k->y[0], (long long)k->y[1], (long long)k->y[2],
             (long long)k->y[3], k->d.stride_h, k->d.stride_w, k->d.pad_h, k->d.pad_w,
             k->d.dil_h, k->d.dil_w, k->d.groups, (double)k->beta);
    return b;
}

static _Noreturn void dnnl_fail(const char *call, dnnl_status_t st, const conv_key *k,
                                const char *file, int line)
{
    char b[512];
    cnn_fatal_at(file, line, "oneDNN: %s failed: %s (%s)", call, dnnl_status2str(st),
                 key_str(k, b, sizeof b));
}

#define DNNL_CHECK(k, call)                                                              \
    do {                                                                                 \
        dnnl_status_t st_ = (call);                                                      \
        if (st_ != dnnl_success)                                                         \
            dnnl_fail(#call, st_, (k), __FILE__, __LINE__);                              \
    } while (0)

/* ---- building an entry ---- */

static void ws_need(cpu_conv_cache *c, int i, size_t bytes)
{
    if (bytes <= c->ws[i].bytes)
        return;
    free(c->ws[i].p);
    size_t rounded = (bytes + 63) & ~(size_t)63;
    c->ws[i].p = aligned_alloc(64, rounded);
    if (!c->ws[i].p)
        cnn_fatal("cpu conv: out of memory for a %.1f MiB oneDNN workspace",
                  (double)bytes / (1 << 20));
    c->ws[i].bytes = rounded;
}

/* Attributes: user scratchpad always; beta as a sum post-op when nonzero. */
static dnnl_primitive_attr_t make_attr(const conv_key *k, float beta)
{
    dnnl_primitive_attr_t a;
    DNNL_CHECK(k, dnnl_primitive_attr_create(&a));
    DNNL_CHECK(k, dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user));
    if (beta != 0.0f) {
        dnnl_post_ops_t po;
        DNNL_CHECK(k, dnnl_post_ops_create(&po));
        DNNL_CHECK(k, dnnl_post_ops_append_sum(po, beta));
        DNNL_CHECK(k, dnnl_primitive_attr_set_post_ops(a, po));
        DNNL_CHECK(k, dnnl_post_ops_destroy(po));
    }
    return a;
}

static void step_init(cpu_conv_cache *c, const conv_key *k, conv_step *s,
                      const_dnnl_primitive_desc_t pd)
{
    DNNL_CHECK(k, dnnl_primitive_create(&s->prim, pd));
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t bytes = md ? dnnl_memory_desc_get_size(md) : 0;
    if (bytes) {
        DNNL_CHECK(k, dnnl_memory_create(&s->scratch, md, c->eng, DNNL_MEMORY_NONE));
        ws_need(c, WS_SCRATCH, bytes);
    }
}

/* The caller's memory for the x side: plain NCHW, or a strided view of its first xh x xw
 * rows and columns when the geometry does not reach the rest. */
static void md_x(const conv_entry *en, dnnl_memory_desc_t *md, bool any)
{
    const int64_t *x = en->key.x;
    dnnl_dims_t dims = {x[0], x[1], en->xh, en->xw};
    dnnl_dims_t strides = {x[1] * x[2] * x[3], x[2] * x[3], x[3], 1};
    if (any)
        DNNL_CHECK(&en->key, dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32,
                                                          dnnl_format_tag_any));
    else
        DNNL_CHECK(&en->key, dnnl_memory_desc_init_by_strides(md, 4, dims, dnnl_f32, strides));
}

static void md_w(const conv_key *k, dnnl_memory_desc_t *md, bool any)
{
    int64_t g = k->d.groups;
    if (g == 1) {
        dnnl_dims_t dims = {k->w[0], k->w[1], k->w[2], k->w[3]};
        DNNL_CHECK(k, dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32,
                                                   any ? dnnl_format_tag_any : dnnl_oihw));
    } else {
        dnnl_dims_t dims = {g, k->w[0] / g, k->w[1], k->w[2], k->w[3]};
        DNNL_CHECK(k, dnnl_memory_desc_init_by_tag(md, 5, dims, dnnl_f32,
                                                   any ? dnnl_format_tag_any : dnnl_goihw));
    }
}

static void md_y(const conv_key *k, dnnl_memory_desc_t *md, bool any)
{
    dnnl_dims_t dims = {k->y[0], k->y[1], k->y[2], k->y[3]};
    DNNL_CHECK(k, dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32,
                                               any ? dnnl_format_tag_any : dnnl_nchw));
}

/* Creates the convolution's primitive descriptor (and, for backward ops, its forward hint). */
static void make_pd(cpu_conv_cache *c, conv_entry *en)
{
    const conv_key *k = &en->key;
    dnnl_memory_desc_t x, w, y;
    md_x(en, &x, true);
    md_w(k, &w, true);
    md_y(k, &y, true);
    dnnl_dims_t st = {k->d.stride_h, k->d.stride_w}, dil = {k->d.dil_h - 1, k->d.dil_w - 1};
    dnnl_dims_t pad = {k->d.pad_h, k->d.pad_w}, pad_r = {en->pr_h, en->pr_w};
    dnnl_convolution_desc_t fd, bd;
    DNNL_CHECK(k, dnnl_dilated_convolution_forward_desc_init(
                      &fd, dnnl_forward_training, dnnl_convolution_direct, &x, &w, NULL, &y, st,
                      dil, pad, pad_r));
    dnnl_primitive_attr_t attr = make_attr(k, 0.0f);
    if (k->op == CONV_FWD) {
        DNNL_CHECK(k, dnnl_primitive_desc_create(&en->pd, &fd, attr, c->eng, NULL));
    } else {
        DNNL_CHECK(k, dnnl_primitive_desc_create(&en->hint, &fd, NULL, c->eng, NULL));
        if (k->op == CONV_BWD_DATA)
            DNNL_CHECK(k, dnnl_dilated_convolution_backward_data_desc_init(
                              &bd, dnnl_convolution_direct, &x, &w, &y, st, dil, pad, pad_r));
        else
            DNNL_CHECK(k, dnnl_dilated_convolution_backward_weights_desc_init(
                              &bd, dnnl_convolution_direct, &x, &w, NULL, &y, st, dil, pad,
                              pad_r));
        DNNL_CHECK(k, dnnl_primitive_desc_create(&en->pd, &bd, attr, c->eng, en->hint));
    }
    DNNL_CHECK(k, dnnl_primitive_attr_destroy(attr));
}

/* A port uses the caller's memory directly when the primitive wants its layout; otherwise
 * it gets a buffer in the shared workspace and a reorder. The output always goes through a
 * reorder when beta is nonzero, which then accumulates. */
static void port_init(cpu_conv_cache *c, conv_entry *en, int i, int arg, dnnl_query_t q,
                      const dnnl_memory_desc_t *user_md)
{
    const conv_key *k = &en->key;
    conv_port *p = &en->port[i];
    const dnnl_memory_desc_t *inner_md = dnnl_primitive_desc_query_md(en->pd, q, 0);
    if (!inner_md)
        cnn_fatal("oneDNN: no memory descriptor for argument %d of %s", arg, op_names[k->op]);
    p->arg = arg;
    DNNL_CHECK(k, dnnl_memory_create(&p->user, user_md, c->eng, DNNL_MEMORY_NONE));
    bool out = i == PORT_OUT;
    if (dnnl_memory_desc_equal(user_md, inner_md) && !(out && k->beta != 0.0f))
        return;
    DNNL_CHECK(k, dnnl_memory_create(&p->inner, inner_md, c->eng, DNNL_MEMORY_NONE));
    ws_need(c, i, dnnl_memory_desc_get_size(inner_md));
    dnnl_primitive_attr_t attr = make_attr(k, out ? k->beta : 0.0f);
    dnnl_primitive_desc_t rpd;
    DNNL_CHECK(k, dnnl_reorder_primitive_desc_create(&rpd, out ? inner_md : user_md, c->eng,
                                                     out ? user_md : inner_md, c->eng, attr));
    step_init(c, k, &p->reorder, rpd);
    DNNL_CHECK(k, dnnl_primitive_desc_destroy(rpd));
    DNNL_CHECK(k, dnnl_primitive_attr_destroy(attr));
}

static void entry_init(cpu_conv_cache *c, conv_entry *en)
{
    const conv_key *k = &en->key;
    make_pd(c, en);
    step_init(c, k, &en->conv, en->pd);
    dnnl_memory_desc_t x, w, y;
    md_x(en, &x, false);
    md_w(k, &w, false);
    md_y(k, &y, false);
    switch ((conv_op)k->op) {
    case CONV_FWD:
        port_init(c, en, PORT_IN0, DNNL_ARG_SRC, dnnl_query_src_md, &x);
        port_init(c, en, PORT_IN1, DNNL_ARG_WEIGHTS, dnnl_query_weights_md, &w);
        port_init(c, en, PORT_OUT, DNNL_ARG_DST, dnnl_query_dst_md, &y);
        break;
    case CONV_BWD_DATA:
        port_init(c, en, PORT_IN0, DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, &y);
        port_init(c, en, PORT_IN1, DNNL_ARG_WEIGHTS, dnnl_query_weights_md, &w);
        port_init(c, en, PORT_OUT, DNNL_ARG_DIFF_SRC, dnnl_query_diff_src_md, &x);
        break;
    case CONV_BWD_FILTER:
        port_init(c, en, PORT_IN0, DNNL_ARG_SRC, dnnl_query_src_md, &x);
        port_init(c, en, PORT_IN1, DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, &y);
        port_init(c, en, PORT_OUT, DNNL_ARG_DIFF_WEIGHTS, dnnl_query_diff_weights_md, &w);
        break;
    }
}

static void step_free(const conv_key *k, conv_step *s)
{
    if (s->prim)
        DNNL_CHECK(k, dnnl_primitive_destroy(s->prim));
    if (s->scratch)
        DNNL_CHECK(k, dnnl_memory_destroy(s->scratch));
}

static void entry_free(conv_entry *en)
{
    const conv_key *k = &en->key;
    for (int i = 0; i < N_PORTS; i++) {
        conv_port *p = &en->port[i];
        step_free(k, &p->reorder);
        if (p->user)
            DNNL_CHECK(k, dnnl_memory_destroy(p->user));
        if (p->inner)
            DNNL_CHECK(k, dnnl_memory_destroy(p->inner));
    }
    step_free(k, &en->conv);
    if (en->pd)
        DNNL_CHECK(k, dnnl_primitive_desc_destroy(en->pd));
    if (en->hint)
        DNNL_CHECK(k, dnnl_primitive_desc_destroy(en->hint));
    free(en);
}

void cpu_conv_cache_destroy(cpu_conv_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        entry_free(c->e[i]);
    free(c->e);
    for (int i = 0; i <= N_PORTS; i++)
        free(c->ws[i].p);
    if (c->stream)
        DNNL_CHECK(NULL, dnnl_stream_destroy(c->stream));
    if (c->eng)
        DNNL_CHECK(NULL, dnnl_engine_destroy(c->eng));
    free(c);
}

/* ---- geometry and lookup ---- */

/* Geometry along one axis of the x side: the rows the convolution covers and its right
 * padding. Symmetric padding when the shapes agree as for a forward convolution (what
 * PyTorch passes); else the exact right padding the last window reaches, negative when
 * trailing rows are never read (a transposed convolution's output_pad beyond pad). oneDNN
 * takes pad_r > -stride; rows beyond that are cropped from the caller's view instead. */
static void axis_geom(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t d,
                      int64_t *rows, int64_t *pad_r)
{
    int64_t span = d * (k - 1) + 1, full = in + 2 * p - span;
    int64_t exact = (out - 1) * s - p + span - in;
    *rows = in;
    *pad_r = full >= 0 && full / s + 1 == out ? p : exact;
    if (exact <= -s) {
        *rows = in + exact;
        *pad_r = 0;
    }
}

static void shapes_check(const conv_key *k, const conv_entry *en)
{
    const conv_desc *d = &k->d;
    bool ok = d->groups >= 1 && d->stride_h >= 1 && d->stride_w >= 1 && d->dil_h >= 1 &&
              d->dil_w >= 1 && d->pad_h >= 0 && d->pad_w >= 0 && k->x[0] == k->y[0] &&
              k->x[1] == k->w[1] * d->groups && k->y[1] == k->w[0] &&
              k->w[0] % d->groups == 0 && en->xh > 0 && en->xw > 0 && en->pr_h <= d->pad_h &&
              en->pr_w <= d->pad_w;
    if (!ok) {
        char b[512];
        cnn_fatal("cpu backend: inconsistent convolution shapes: %s", key_str(k, b, sizeof b));
    }
}

static cpu_conv_cache *cache_of(backend *be)
{
    cpu_state *st = cpu_of(be);
    if (!st->conv_cache) {
        cpu_conv_cache *c = cnn_xcalloc(1, sizeof *c);
        DNNL_CHECK(NULL, dnnl_engine_create(&c->eng, dnnl_cpu, 0));
        DNNL_CHECK(NULL, dnnl_stream_create(&c->stream, c->eng, dnnl_stream_default_flags));
        st->conv_cache = c;
    }
    return st->conv_cache;
}

static conv_entry *cache_get(cpu_conv_cache *c, const conv_key *k)
{
    for (int i = 0; i < c->n; i++)
        if (!memcmp(&c->e[i]->key, k, sizeof *k))
            return c->e[i];
    conv_entry *en = cnn_xcalloc(1, sizeof *en);
    en->key = *k;
    axis_geom(k->x[2], k->y[2], k->w[2], k->d.stride_h, k->d.pad_h, k->d.dil_h, &en->xh,
              &en->pr_h);
    axis_geom(k->x[3], k->y[3], k->w[3], k->d.stride_w, k->d.pad_w, k->d.dil_w, &en->xw,
              &en->pr_w);
    shapes_check(k, en);
    entry_init(c, en);
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        conv_entry **grown = realloc(c->e, (size_t)c->cap * sizeof *grown);
        if (!grown)
            cnn_fatal("cpu conv: out of memory growing the primitive cache");
        c->e = grown;
    }
    c->e[c->n++] = en;
    return en;
}

/* ---- execution ---- */

static void step_run(cpu_conv_cache *c, const conv_key *k, const conv_step *s,
                     dnnl_exec_arg_t *args, int nargs)
{
    if (s->scratch) {
        DNNL_CHECK(k, dnnl_memory_set_data_handle_v2(s->scratch, c->ws[WS_SCRATCH].p, c->stream));
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, s->scratch};
    }
    DNNL_CHECK(k, dnnl_primitive_execute(s->prim, c->stream, nargs, args));
}

/* Rows and columns of dx beyond the covered region receive no gradient: dx = beta * dx. */
static void scale_uncovered(const conv_entry *en, float *dx, float beta)
{
    const int64_t *x = en->key.x;
    int64_t planes = x[0] * x[1], H = x[2], W = x[3], hc = en->xh, wc = en->xw;
#pragma omp parallel for schedule(static) if (planes * H * W > 65536)
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t h = 0; h < H; h++) {
            float *row = dx + (pl * H + h) * W;
            for (int64_t w = h < hc ? wc : 0; w < W; w++)
                row[w] = beta == 0.0f ? 0.0f : beta * row[w];
        }
}

static void conv_run(backend *be, const conv_key *k, const void *in0, const void *in1,
                     void *out)
{
    cpu_conv_cache *c = cache_of(be);
    conv_entry *en = cache_get(c, k);
    void *ptr[N_PORTS] = {(void *)in0, (void *)in1, out};
    dnnl_exec_arg_t args[N_PORTS + 1];
    for (int i = 0; i < N_PORTS; i++) {
        conv_port *p = &en->port[i];
        DNNL_CHECK(k, dnnl_memory_set_data_handle_v2(p->user, ptr[i], c->stream));
        if (p->inner)
            DNNL_CHECK(k, dnnl_memory_set_data_handle_v2(p->inner, c->ws[i].p, c->stream));
        if (p->inner && i != PORT_OUT) {
            args[0] = (dnnl_exec_arg_t){DNNL_ARG_FROM, p->user};
            args[1] = (dnnl_exec_arg_t){DNNL_ARG_TO, p->inner};
            step_run(c, k, &p->reorder, args, 2);
        }
    }
    for (int i = 0; i < N_PORTS; i++)
        args[i] = (dnnl_exec_arg_t){en->port[i].arg,
                                    en->port[i].inner ? en->port[i].inner : en->port[i].user};
    step_run(c, k, &en->conv, args, N_PORTS);
    conv_port *o = &en->port[PORT_OUT];
    if (o->inner) {
        args[0] = (dnnl_exec_arg_t){DNNL_ARG_FROM, o->inner};
        args[1] = (dnnl_exec_arg_t){DNNL_ARG_TO, o->user};
        step_run(c, k, &o->reorder, args, 2);
    }
    DNNL_CHECK(k, dnnl_stream_wait(c->stream));
    if (k->op == CONV_BWD_DATA && (en->xh < k->x[2] || en->xw < k->x[3]))
        scale_uncovered(en, out, k->beta);
}

static conv_key make_key(conv_op op, const conv_desc *d, const tensor *x, const tensor *w,
                         const tensor *y, float beta)
{
    conv_key k;
    memset(&k, 0, sizeof k);
    k.op = op;
    k.d = *d;
    k.beta = beta;
    if (x->s.nd != 4 || w->s.nd != 4 || y->s.nd != 4)
        cnn_fatal("cpu backend: %s takes 4-d tensors, got x %dd, w %dd, y %dd", op_names[op],
                  x->s.nd, w->s.nd, y->s.nd);
    memcpy(k.x, x->s.d, sizeof k.x);
    memcpy(k.w, w->s.d, sizeof k.w);
    memcpy(k.y, y->s.d, sizeof k.y);
    return k;
}

static void cpu_conv_fwd(backend *be, const conv_desc *d, const tensor *x, const tensor *w,
                         tensor *y, float beta)
{
    CPU_EXPECT(x, DTYPE_F32);
    CPU_EXPECT(w, DTYPE_F32);
    CPU_EXPECT(y, DTYPE_F32);
    conv_key k = make_key(CONV_FWD, d, x, w, y, beta);
    conv_run(be, &k, x->data, w->data, y->data);
}

static void cpu_conv_bwd_data(backend *be, const conv_desc *d, const tensor *dy,
                              const tensor *w, tensor *dx, float beta)
{
    CPU_EXPECT(dy, DTYPE_F32);
    CPU_EXPECT(w, DTYPE_F32);
    CPU_EXPECT(dx, DTYPE_F32);
    conv_key k = make_key(CONV_BWD_DATA, d, dx, w, dy, beta);
    conv_run(be, &k, dy->data, w->data, dx->data);
}

static void cpu_conv_bwd_filter(backend *be, const conv_desc *d, const tensor *x,
                                const tensor *dy, tensor *dw, float beta)
{
    CPU_EXPECT(x, DTYPE_F32);
    CPU_EXPECT(dy, DTYPE_F32);
    CPU_EXPECT(dw, DTYPE_F32);
    conv_key k = make_key(CONV_BWD_FILTER, d, x, dw, dy, beta);
    conv_run(be, &k, x->data, dy->data, dw->data);
}

void cpu_install_conv(backend_ops *ops)
{
    ops->conv_fwd = cpu_conv_fwd;
    ops->conv_bwd_data = cpu_conv_bwd_data;
    ops->conv_bwd_filter = cpu_conv_bwd_filter;
}
