/* The memory plan, checked through the bound views only (independent of the planner's own
 * bookkeeping):
 * - gradients of activations: a deep uniform chain needs exactly two of them at a time (the
 *   one being read and the one being written), far below one per node; on chains and on a
 *   graph with fan-outs no two gradients that are live at the same backward step overlap
 *   (live intervals recomputed here from the wiring);
 * - parameters and gradients share offsets, sit in reverse node order, each 64-byte aligned;
 *   every activation and state slot aligned; totals add up; nodes that need no gradient
 *   have none;
 * - net_alloc on a model too large for memory fails with CNN_ENOMEM and the sizes. */
#include <stdint.h>

#include "../../src/config/config.h"
#include "../../src/net/net.h"
#include "../check.h"

/* The over-large allocation below must come back as NULL under ASan as well. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static backend *be;

static net *make(const char *yaml, int batch, bool alloc)
{
    cfg_node *root;
    cnn_err e = {0};
    net *n = NULL;
    CHECK_EQ(config_parse_string(yaml, strlen(yaml), "m.yaml", &root, &e), CNN_OK);
    if (net_create(cfg_get(root, "model"), batch, &n, &e) < 0 ||
        (alloc && net_alloc(n, be, &e) < 0)) {
        fprintf(stderr, "net setup failed: %s\n", e.msg);
        exit(1);
    }
    cfg_free(root);
    return n;
}

static bool aligned(const void *p) { return ((uintptr_t)p & 63) == 0; }

/* Live from the backward of its last consumer that runs backward to its own backward,
 * in backward steps (the loss is step 0). */
static void live_interval(const net *n, int i, int *from, int *to)
{
    *to = n->loss - i;
    *from = *to;
    for (int c = i + 1; c < n->n_nodes; c++)
        for (int j = 0; n->nodes[c].needs_grad && j < n->nodes[c].n_in; j++)
            if (n->nodes[c].in[j] == i && n->loss - c < *from)
                *from = n->loss - c;
}

static void check_douts(const net *n)
{
    const char *lo = NULL, *hi = NULL;
    int pairs = 0;
    for (int a = 0; a < n->n_nodes; a++) {
        const tensor *ta = &n->nodes[a].dout;
        if (!n->nodes[a].needs_grad) {
            CHECK(ta->data == NULL);
            continue;
        }
        CHECK(aligned(ta->data));
        const char *pa = ta->data;
        lo = !lo || pa < lo ? pa : lo;
        hi = !hi || pa + tensor_bytes(ta) > hi ? pa + tensor_bytes(ta) : hi;
        int fa, ea;
        live_interval(n, a, &fa, &ea);
        for (int b = a + 1; b < n->n_nodes; b++) {
            if (!n->nodes[b].needs_grad)
                continue;
            int fb, eb;
            live_interval(n, b, &fb, &eb);
            const char *pb = n->nodes[b].dout.data;
            bool in_time = fa <= eb && fb <= ea;
            bool in_space = pa < pb + tensor_bytes(&n->nodes[b].dout) &&
                            pb < pa + tensor_bytes(ta);
            if (in_time && in_space) {
                fprintf(stderr, "gradients of '%s' [steps %d..%d] and '%s' [%d..%d] overlap\n",
                        n->nodes[a].l->name, fa, ea, n->nodes[b].l->name, fb, eb);
                exit(1);
            }
            pairs += in_time;
        }
    }
    CHECK((size_t)(hi - lo) <= n->mem.act_grads);
    printf("  %d nodes: %d pairs of gradients live together, none overlapping; peak %zu bytes\n",
           n->n_nodes, pairs, n->mem.act_grads);
}

static void check_layout(const net *n)
{
    const char *p0 = n->params_flat.data, *g0 = n->grads_flat.data;
    size_t prev_lo = SIZE_MAX;
    CHECK_EQ(tensor_numel(&n->params_flat) * 4, (long long)n->mem.params);
    CHECK_EQ(n->mem.grads, n->mem.params);
    for (int i = 0; i < n->n_nodes; i++) {
        const net_node *nd = &n->nodes[i];
        CHECK(aligned(nd->out.data));
        CHECK(nd->param_lo <= nd->param_hi);
        for (int s = 0; s < nd->l->n_slots; s++) {
            const layer_slot *sl = &nd->l->slots[s];
            CHECK(aligned(sl->t.data));
            if (sl->kind != SLOT_PARAM)
                continue;
            size_t off = (size_t)((const char *)sl->t.data - p0);
            CHECK_EQ(off, (size_t)((const char *)sl->grad.data - g0));
            CHECK(off >= nd->param_lo && off + tensor_bytes(&sl->t) <= nd->param_hi);
        }
    }
    /* reverse node order: the last node with parameters at 0, earlier nodes above */
    for (int i = n->n_nodes - 1; i >= 0; i--) {
        const net_node *nd = &n->nodes[i];
        if (nd->param_hi == nd->param_lo)
            continue;
        CHECK(prev_lo == SIZE_MAX ? nd->param_lo == 0 : nd->param_lo == prev_lo);
        prev_lo = nd->param_hi;
    }
    CHECK_EQ(prev_lo, n->mem.params);
    const net_mem *m = &n->mem;
    CHECK_EQ(m->total, m->params + m->grads + m->buffers + m->layer_state + m->activations +
                           m->act_grads + m->scratch + m->io);
}

static void deep_chain(void)
{
    char yaml[4096] = "model:\n  input: [4, 8, 8]\n  layers:\n";
    for (int i = 0; i < 30; i++)
        strcat(yaml, "    - {type: conv2d, out: 4, kernel: 3, pad: 1}\n    - relu\n");
    strcat(yaml, "    - flatten\n    - {type: linear, out: 3}\n");
    net *n = make(yaml, 2, true);
    size_t one = 2 * 4 * 8 * 8 * sizeof(float), sum = 0; /* already a multiple of 64 */
    for (int i = 0; i < n->n_nodes; i++)
        sum += n->nodes[i].needs_grad ? (tensor_bytes(&n->nodes[i].dout) + 63) / 64 * 64 : 0;
    printf("  deep chain: %d nodes, act_grads %zu bytes, all gradients %zu bytes\n",
           n->n_nodes, n->mem.act_grads, sum);
    CHECK_EQ(n->mem.act_grads, 2 * one);
    CHECK(n->mem.act_grads < sum / 10);
    check_douts(n);
    check_layout(n);
    net_destroy(n);
}

static void fan_out_graph(void)
{
    net *n = make("model:\n"
                  "  input: [3, 8, 8]\n"
                  "  blocks:\n"
                  "    res:\n"
                  "      layers:\n"
                  "        - {type: conv2d, name: a, out: 4, kernel: 3, pad: 1}\n"
                  "        - {type: batch_norm2d, name: bn}\n"
                  "        - {type: relu, name: r}\n"
                  "        - {type: conv2d, name: b, out: 4, kernel: 3, pad: 1}\n"
                  "        - {type: add, name: add, inputs: [b, in, r]}\n"
                  "  layers:\n"
                  "    - relu\n"
                  "    - {type: conv2d, out: 4, kernel: 1}\n"
                  "    - {block: res, name: s, repeat: 4}\n"
                  "    - {type: max_pool2d, name: p, kernel: 2}\n"
                  "    - {type: max_unpool2d, indices: p}\n"
                  "    - {type: concat, inputs: [4, s.1.r, s.3]}\n"
                  "    - {type: global_avg_pool}\n"
                  "    - flatten\n"
                  "    - {type: linear, out: 3}\n",
                  2, true);
    /* the leading relu has no parameter upstream: no gradient, no backward */
    CHECK(!n->nodes[0].needs_grad && n->nodes[0].dout.data == NULL);
    CHECK(n->nodes[1].needs_grad);
    CHECK(n->mem.scratch > 0); /* s.1.r and every block input feed two consumers */
    check_douts(n);
    check_layout(n);
    net_destroy(n);
}

static void too_large(void)
{
    /* 1 PiB per arena: beyond any address space, so no allocator (overcommitting or not)
     * hands it out and nothing gets touched */
    net *n = make("model:\n  input: [65536, 65536, 4096]\n  layers: [relu]\n", 16, false);
    cnn_err e = {0};
    CHECK(n->mem.activations > ((size_t)1 << 50));
    CHECK_EQ(net_alloc(n, be, &e), CNN_ENOMEM);
    printf("  %s\n", e.msg);
    CHECK_STR_CONTAINS(e.msg, "not enough memory for the model's");
    CHECK_STR_CONTAINS(e.msg, "at batch 16 per rank needs");
    CHECK_STR_CONTAINS(e.msg, "reduce the batch size");
    CHECK(n->be == NULL);
    net_destroy(n);
}

int main(void)
{
    cnn_err e = {0};
    CHECK_EQ(backend_create("cpu", 1, &be, &e), CNN_OK);
    deep_chain();
    fan_out_graph();
    too_large();
    backend_destroy(be);
    printf("net plan: ok\n");
    return 0;
}
