/* `--summary`: per-node parameters, multiply-adds and receptive field, and the totals.
 * Reads only what net_create settled (layer shapes, declared slots, the memory plan), so it
 * works before net_alloc. Receptive field (Araujo et al., "Computing Receptive Fields of
 * Convolutional Neural Networks", Distill 2019), per axis in input pixels, from each layer's
 * layer_info: jump_out = jump_in * stride / up, rf_out = rf_in + (k - 1) * dilation *
 * jump_in; a node with several inputs (add, concat) starts from their maxima; a global layer
 * (and everything after it) sees the whole input image. MACs follow torchvision's published
 * GFLOPS: convolutions and linear layers only, one multiply-add counted once. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

/* Height and width of one input image; 1x1 for inputs without a spatial plane (N, F). */
static void image_hw(const net *n, double *h, double *w)
{
    const shape *s = &n->in_shape;
    *h = s->nd >= 4 ? (double)s->d[s->nd - 2] : 1.0;
    *w = s->nd >= 4 ? (double)s->d[s->nd - 1] : 1.0;
}

static layer_info node_info(const layer *l)
{
    layer_info info = layer_info_pointwise();
    if (l->ops->describe)
        l->ops->describe(l, &info);
    return info;
}

static int64_t slot_elems(const layer *l, slot_kind kind)
{
    int64_t sum = 0;
    for (int i = 0; i < l->n_slots; i++)
        if (l->slots[i].kind == kind)
            sum += shape_numel(&l->slots[i].t.s);
    return sum;
}

static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* The field the node starts from: the image's pixel for NET_INPUT, the maxima over its
 * producers. The target carries no pixels of the image and is skipped. */
static net_node_stats node_start(const net *n, int i, const net_node_stats *stats)
{
    const net_node_stats pixel = {.rf_h = 1, .rf_w = 1, .jump_h = 1, .jump_w = 1};
    net_node_stats s = {0};
    bool any = false;
    for (int j = 0; j < n->nodes[i].n_in; j++) {
        int p = n->nodes[i].in[j];
        if (p == NET_TARGET)
            continue;
        const net_node_stats *in = p >= 0 ? &stats[p] : &pixel;
        s.rf_h = fmax(s.rf_h, in->rf_h), s.rf_w = fmax(s.rf_w, in->rf_w);
        s.jump_h = fmax(s.jump_h, in->jump_h), s.jump_w = fmax(s.jump_w, in->jump_w);
        s.global = s.global || in->global;
        any = true;
    }
    return any ? s : pixel;
}

static net_node_stats node_stats(const net *n, int i, const net_node_stats *stats)
{
    const layer *l = n->nodes[i].l;
    layer_info info = node_info(l);
    net_node_stats s = node_start(n, i, stats);
    s.params = slot_elems(l, SLOT_PARAM);
    s.macs = info.macs;
    if (s.global || info.global) {
        s.global = true;
        image_hw(n, &s.rf_h, &s.rf_w);
        s.jump_h = s.rf_h, s.jump_w = s.rf_w; /* one output per image, as it were */
        return s;
    }
    s.rf_h += (double)(info.kh - 1) * info.dh * s.jump_h;
    s.rf_w += (double)(info.kw - 1) * info.dw * s.jump_w;
    s.jump_h = s.jump_h * info.sh / info.up_h;
    s.jump_w = s.jump_w * info.sw / info.up_w;
    return s;
}

void net_stats(const net *n, net_node_stats *stats, net_totals *t)
{
    *t = (net_totals){.mem = n->mem};
    for (int i = 0; i < n->n_nodes; i++) {
        stats[i] = node_stats(n, i, stats);
        t->params = add_sat(t->params, stats[i].params);
        t->buffers_elems = add_sat(t->buffers_elems, slot_elems(n->nodes[i].l, SLOT_BUFFER));
        t->macs = add_sat(t->macs, stats[i].macs);
    }
}

/* ---- printing ---- */

#define COL_NAME 32
#define COL_TYPE 21
#define COL_SHAPE 22
#define COL_PARAMS 13
#define COL_MACS 9
#define COL_RF 14

/* 11689512 -> "11,689,512" (counts are never negative). */
static const char *thousands(int64_t v, char *buf, size_t n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%" PRId64, v);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* 115605504 -> "115.6M"; below 1000 exactly. */
static const char *human(int64_t v, char *buf, size_t n)
{
    static const char units[] = "KMGTPE";
    if (v < 1000) {
        snprintf(buf, n, "%" PRId64, v);
        return buf;
    }
    double x = (double)v;
    int u = -1;
    while (x >= 999.95 && u < 5)
        x /= 1000.0, u++;
    snprintf(buf, n, "%.1f%c", x, units[u]);
    return buf;
}

/* A long dotted name keeps its head (the outer scope) and, preferably whole, its last
 * component (the layer): "a_rather_l...too.last_activation". */
static const char *fit_name(const char *name, char *buf, size_t width)
{
    size_t len = strlen(name);
    if (len <= width) {
        snprintf(buf, width + 1, "%s", name);
        return buf;
    }
    size_t tail = (width - 3) * 2 / 3;
    const char *dot = strrchr(name, '.');
    size_t leaf = dot ? strlen(dot) : 0;
    if (leaf > tail && leaf + 4 <= width - 3)
        tail = leaf;
    snprintf(buf, width + 1, "%.*s...%s", (int)(width - 3 - tail), name, name + len - tail);
    return buf;
}

/* An integral value as an integer, else with one decimal (after upsampling: 2.5, 0.5). */
static int num_str(double v, char *buf, size_t n)
{
    if (v == (double)(int64_t)v)
        return snprintf(buf, n, "%" PRId64, (int64_t)v);
    return snprintf(buf, n, "%.1f", v);
}

/* "211/32", non-square "7x5/2x1", "global". */
static const char *rf_str(const net_node_stats *s, char *buf, size_t n)
{
    if (s->global) {
        snprintf(buf, n, "global");
        return buf;
    }
    char rh[24], rw[24], jh[24], jw[24];
    num_str(s->rf_h, rh, sizeof rh), num_str(s->rf_w, rw, sizeof rw);
    num_str(s->jump_h, jh, sizeof jh), num_str(s->jump_w, jw, sizeof jw);
    if (s->rf_h == s->rf_w && s->jump_h == s->jump_w)
        snprintf(buf, n, "%s/%s", rh, jh);
    else
        snprintf(buf, n, "%sx%s/%sx%s", rh, rw, jh, jw);
    return buf;
}

static void print_row(FILE *f, const char *name, const char *type, const char *shp,
                      const char *params, const char *macs, const char *rf)
{
    char nb[COL_NAME + 1], tb[COL_TYPE + 1];
    fprintf(f, "%-*s %-*s %-*s %*s %*s  %s\n", COL_NAME, fit_name(name, nb, COL_NAME),
            COL_TYPE, fit_name(type, tb, COL_TYPE), COL_SHAPE, shp, COL_PARAMS, params,
            COL_MACS, macs, rf);
}

static void print_rule(FILE *f)
{
    int w = COL_NAME + COL_TYPE + COL_SHAPE + COL_PARAMS + COL_MACS + COL_RF + 6;
    for (int i = 0; i < w; i++)
        fputc('-', f);
    fputc('\n', f);
}

static void print_node(FILE *f, const net *n, int i, const net_node_stats *s)
{
    const layer *l = n->nodes[i].l;
    char shp[64], params[32], macs[16], rf[64];
    shape_str(&l->out, shp, sizeof shp);
    if (s->params)
        thousands(s->params, params, sizeof params);
    else
        snprintf(params, sizeof params, "-");
    if (s->macs)
        human(s->macs / (n->batch > 0 ? n->batch : 1), macs, sizeof macs);
    else
        snprintf(macs, sizeof macs, "-");
    print_row(f, l->name, l->ops->type, shp, params, macs, rf_str(s, rf, sizeof rf));
}

static double mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

/* Totals in GMAC like torchvision's GFLOPS, smaller models in MMAC (LeNet-5: 0.4 M). */
static const char *macs_total(double v, char *buf, size_t n)
{
    if (v >= 1e8)
        snprintf(buf, n, "%.3f GMAC", v / 1e9);
    else if (v >= 1e5)
        snprintf(buf, n, "%.3f MMAC", v / 1e6);
    else
        snprintf(buf, n, "%.0f MAC", v);
    return buf;
}

static void print_totals(FILE *f, const net *n, const net_totals *t)
{
    char p[32], b[32], mi[32], mb[32];
    int batch = n->batch > 0 ? n->batch : 1;
    const net_mem *m = &t->mem;
    fprintf(f, "Total: %s parameters (%.1f MiB), %s buffer elements, %s per image, %s per "
            "batch of %d\n",
            thousands(t->params, p, sizeof p), mib(m->params),
            thousands(t->buffers_elems, b, sizeof b),
            macs_total((double)t->macs / batch, mi, sizeof mi),
            macs_total((double)t->macs, mb, sizeof mb), batch);
    fprintf(f, "Memory of one training step at batch %d per rank: total %.1f MiB\n", batch,
            mib(m->total));
    fprintf(f, "  params %.1f, grads %.1f, buffers %.1f, layer state %.1f, activations %.1f, "
            "activation grads %.1f, scratch %.1f, input/target %.1f",
            mib(m->params), mib(m->grads), mib(m->buffers), mib(m->layer_state),
            mib(m->activations), mib(m->act_grads), mib(m->scratch), mib(m->io));
    if (m->working)
        fprintf(f, ", %s%s working weights/grads/input %.1f", dtype_name(n->precision),
                n->lay == LAYOUT_NHWC ? " channels-last" : "", mib(m->working));
    fprintf(f, " (MiB)\n");
}

void net_summary_print(const net *n, FILE *f)
{
    net_node_stats *stats = cnn_xmalloc((size_t)(n->n_nodes > 0 ? n->n_nodes : 1) *
                                        sizeof *stats);
    net_totals t;
    net_stats(n, stats, &t);
    char shp[64];
    fprintf(f, "Model: %d layers, per-rank batch %d. MACs per image; receptive field "
            "size/stride in input pixels.\n", n->n_nodes, n->batch);
    print_row(f, "name", "type", "output shape", "params", "MACs", "rf");
    print_rule(f);
    print_row(f, "input", "input", shape_str(&n->in_shape, shp, sizeof shp), "-", "-", "1/1");
    for (int i = 0; i < n->n_nodes; i++)
        print_node(f, n, i, &stats[i]);
    print_rule(f);
    print_totals(f, n, &t);
    free(stats);
}
