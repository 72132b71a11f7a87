/* net_stats and net_summary_print on small graphs built from YAML (net_create only, nothing
 * allocated): parameters and multiply-adds counted by hand in the comments, receptive fields
 * worked out by hand (Araujo et al. 2019's recurrence done on paper, layer by layer), the
 * adaptive pool, and the printed table (rows, totals line, memory line, long names). */
#include <stdlib.h>

#include "../../src/config/config.h"
#include "../../src/net/net.h"
#include "../check.h"

typedef struct built {
    cfg_node *root;
    net *n;
    net_node_stats *st;
    net_totals t;
} built;

static built build(const char *yaml, int batch)
{
    built b = {0};
    cnn_err e = {0};
    CHECK(config_parse_string(yaml, strlen(yaml), "test.yaml", &b.root, &e) == CNN_OK);
    if (net_create(cfg_get(b.root, "model"), batch, &b.n, &e) != CNN_OK) {
        fprintf(stderr, "net_create failed: %s\n%s\n", e.msg, yaml);
        exit(1);
    }
    b.st = calloc((size_t)b.n->n_nodes, sizeof *b.st);
    CHECK(b.st);
    net_stats(b.n, b.st, &b.t);
    return b;
}

static void release(built *b)
{
    free(b->st);
    net_destroy(b->n);
    cfg_free(b->root);
}

static const net_node_stats *node(const built *b, const char *name)
{
    int i = net_find(b->n, name);
    if (i < 0) {
        fprintf(stderr, "no node '%s'\n", name);
        exit(1);
    }
    return &b->st[i];
}

/* Receptive field and jump of a node, both axes. */
static void expect_rf(const built *b, const char *name, double rf_h, double rf_w, double j_h,
                      double j_w)
{
    const net_node_stats *s = node(b, name);
    printf("  %-10s rf %gx%g jump %gx%g%s\n", name, s->rf_h, s->rf_w, s->jump_h, s->jump_w,
           s->global ? " global" : "");
    CHECK(!s->global);
    CHECK_NEAR(s->rf_h, rf_h, 1e-9);
    CHECK_NEAR(s->rf_w, rf_w, 1e-9);
    CHECK_NEAR(s->jump_h, j_h, 1e-9);
    CHECK_NEAR(s->jump_w, j_w, 1e-9);
}

/* The whole table as a string. */
static char *summary_text(const net *n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f);
    net_summary_print(n, f);
    CHECK(fclose(f) == 0);
    return buf;
}

/* The line of text that contains needle (a copy), or exit. */
static char *line_with(const char *text, const char *needle)
{
    const char *p = strstr(text, needle);
    if (!p) {
        fprintf(stderr, "no line with \"%s\" in:\n%s", needle, text);
        exit(1);
    }
    while (p > text && p[-1] != '\n')
        p--;
    size_t len = strcspn(p, "\n");
    char *line = malloc(len + 1);
    CHECK(line);
    memcpy(line, p, len);
    line[len] = '\0';
    return line;
}

static const char small_cnn[] =
    "model:\n"
    "  input: [3, 8, 8]\n"
    "  layers:\n"
    "    - {type: conv2d, name: c1, out: 4, kernel: 3, pad: 1}\n"
    "    - {type: batch_norm2d, name: bn}\n"
    "    - {type: relu, name: act}\n"
    "    - {type: max_pool2d, name: pool, kernel: 2}\n"
    "    - {type: flatten, name: flat}\n"
    "    - {type: linear, name: fc, out: 10}\n";

static void counts(void)
{
    built b = build(small_cnn, 2);
    /* c1: weight 4*3*3*3 = 108 + bias 4; output (2, 4, 8, 8) = 512 values of 3*3*3 = 27
     * multiply-adds each: 13824. */
    CHECK_EQ(node(&b, "c1")->params, 112);
    CHECK_EQ(node(&b, "c1")->macs, 13824);
    /* bn: weight and bias 4 each (running stats are buffers); no MACs by the convention. */
    CHECK_EQ(node(&b, "bn")->params, 8);
    CHECK_EQ(node(&b, "bn")->macs, 0);
    CHECK_EQ(node(&b, "pool")->params, 0);
    /* fc: 4*4*4 = 64 features to 10: 640 + 10; 2 samples * 10 * 64 = 1280 MACs. */
    CHECK_EQ(node(&b, "fc")->params, 650);
    CHECK_EQ(node(&b, "fc")->macs, 1280);
    CHECK_EQ(b.t.params, 112 + 8 + 650);
    CHECK_EQ(b.t.buffers_elems, 8); /* running_mean + running_var */
    CHECK_EQ(b.t.macs, 13824 + 1280);
    /* The memory plan is net_create's: the summary reports it unchanged. Parameters are f32. */
    CHECK_EQ(b.t.mem.total, b.n->mem.total);
    CHECK_EQ(b.t.mem.activations, b.n->mem.activations);
    CHECK(b.t.mem.params >= 770 * 4);
    expect_rf(&b, "c1", 3, 3, 1, 1);
    expect_rf(&b, "act", 3, 3, 1, 1);
    expect_rf(&b, "pool", 4, 4, 2, 2); /* 3 + (2-1)*1, jump 2 */
    CHECK(node(&b, "flat")->global);
    CHECK(node(&b, "fc")->global);
    CHECK_NEAR(node(&b, "fc")->rf_h, 8, 0); /* the whole 8x8 image */
    release(&b);
}

static void receptive_fields(void)
{
    /* Two 3x3 convolutions: 3, then 3 + 2*1 = 5. Stride 2 then 3x3: 3/2, then 3 + 2*2 = 7. */
    built b = build("model:\n"
                    "  input: [1, 16, 16]\n"
                    "  layers:\n"
                    "    - {type: conv2d, name: a, out: 2, kernel: 3, pad: 1}\n"
                    "    - {type: conv2d, name: b, out: 2, kernel: 3, pad: 1}\n"
                    "    - {type: conv2d, name: s, input: input, out: 2, kernel: 3, stride: 2}\n"
                    "    - {type: conv2d, name: t, out: 2, kernel: 3}\n"
                    "    - {type: flatten, name: f}\n"
                    "    - {type: linear, name: fc, out: 2}\n", 1);
    expect_rf(&b, "a", 3, 3, 1, 1);
    expect_rf(&b, "b", 5, 5, 1, 1);
    expect_rf(&b, "s", 3, 3, 2, 2);
    expect_rf(&b, "t", 7, 7, 2, 2);
    release(&b);

    /* ResNet's stem and first two 3x3 convolutions: 7x7/2 -> 7/2; max pool 3x3/2 ->
     * 7 + 2*2 = 11/4; then 11 + 2*4 = 19/4 and 27/4.
     * Dilation 2 then 4 (FCN / DeepLab): 3x3 d2 spans 5, then + 2*4 = 13. */
    b = build("model:\n"
              "  input: [3, 64, 64]\n"
              "  layers:\n"
              "    - {type: conv2d, name: conv1, out: 4, kernel: 7, stride: 2, pad: 3}\n"
              "    - {type: max_pool2d, name: maxpool, kernel: 3, stride: 2, pad: 1}\n"
              "    - {type: conv2d, name: c2, out: 4, kernel: 3, pad: 1}\n"
              "    - {type: conv2d, name: c3, out: 4, kernel: 3, pad: 1}\n"
              "    - {type: conv2d, name: d2, input: input, out: 4, kernel: 3, dilation: 2,"
              " pad: 2}\n"
              "    - {type: conv2d, name: d4, out: 4, kernel: 3, dilation: 4, pad: 4}\n"
              "    - {type: conv2d, name: ns, out: 4, kernel: [7, 5], stride: [2, 1]}\n"
              "    - {type: global_avg_pool, name: gap}\n"
              "    - {type: flatten}\n"
              "    - {type: linear, name: fc, out: 3}\n", 1);
    expect_rf(&b, "conv1", 7, 7, 2, 2);
    expect_rf(&b, "maxpool", 11, 11, 4, 4);
    expect_rf(&b, "c2", 19, 19, 4, 4);
    expect_rf(&b, "c3", 27, 27, 4, 4);
    expect_rf(&b, "d2", 5, 5, 1, 1);
    expect_rf(&b, "d4", 13, 13, 1, 1);
    expect_rf(&b, "ns", 19, 17, 2, 1); /* 13 + 6*1, 13 + 4*1 */
    CHECK(node(&b, "gap")->global);
    CHECK_NEAR(node(&b, "gap")->rf_h, 64, 0);
    CHECK_NEAR(node(&b, "gap")->rf_w, 64, 0);
    release(&b);
}

/* Finer grids: pooling then upsampling returns to jump 1 and keeps the pool's field. */
static void resampling(void)
{
    built b = build("model:\n"
                    "  input: [2, 16, 16]\n"
                    "  loss: {type: mse_loss}\n"
                    "  layers:\n"
                    "    - {type: max_pool2d, name: p, kernel: 2}\n"        /* 2/2 */
                    "    - {type: conv2d, name: c, out: 2, kernel: 3, pad: 1}\n" /* 2+2*2=6/2 */
                    "    - {type: upsample, name: up, factor: 2}\n"          /* 6/1 */
                    "    - {type: conv2d, name: c2, out: 2, kernel: 3, pad: 1}\n" /* 8/1 */
                    "    - {type: max_unpool2d, name: un, input: c, indices: p}\n" /* 6/1 */
                    "    - {type: upsample, name: bi, input: c, factor: 2, mode: bilinear}\n"
                    /* bilinear reads 2 neighbours 2 pixels apart: 6 + 1*2 = 8/1 */
                    "    - {type: conv_transpose2d, name: tc, input: c, out: 2, kernel: 2,"
                    " stride: 2}\n"                                          /* 6/1 */
                    "    - {type: conv_transpose2d, name: t4, input: c, out: 2, kernel: 4,"
                    " stride: 2, pad: 1}\n"                                  /* 6+1*2=8/1 */
                    "    - {type: upsample, name: up4, input: p, factor: 4}\n" /* 2/0.5 */
                    "    - {type: concat, name: cat, inputs: [c2, un, bi, tc, t4]}\n" /* max 8/1 */
                    "    - {type: add, name: sum, inputs: [c2, un]}\n"       /* max(8, 6) */
                    "    - {type: conv2d, name: head, input: sum, out: 2, kernel: 1}\n",
                    1);
    expect_rf(&b, "p", 2, 2, 2, 2);
    expect_rf(&b, "c", 6, 6, 2, 2);
    expect_rf(&b, "up", 6, 6, 1, 1);
    expect_rf(&b, "c2", 8, 8, 1, 1);
    expect_rf(&b, "un", 6, 6, 1, 1);
    expect_rf(&b, "bi", 8, 8, 1, 1);
    expect_rf(&b, "tc", 6, 6, 1, 1);
    expect_rf(&b, "t4", 8, 8, 1, 1);
    expect_rf(&b, "up4", 2, 2, 0.5, 0.5);
    expect_rf(&b, "cat", 8, 8, 1, 1);
    expect_rf(&b, "sum", 8, 8, 1, 1);
    /* tc: 1*2*8*8 = 128 inputs, each to (2/1)*2*2 outputs: 1024 (transposed convention). */
    CHECK_EQ(node(&b, "tc")->macs, 1024);
    CHECK_EQ(node(&b, "tc")->params, 2 * 2 * 2 * 2 + 2);
    char *text = summary_text(b.n);
    char *row = line_with(text, "up4 ");
    CHECK_STR_CONTAINS(row, "2/0.5");
    free(row);
    free(text);
    release(&b);
}

/* torchvision's VGG head: adaptive pooling to 7x7 from 14x14 (2x2 windows) and AlexNet's
 * identity case. */
static void adaptive(void)
{
    built b = build("model:\n"
                    "  input: [3, 14, 14]\n"
                    "  layers:\n"
                    "    - {type: conv2d, name: c, out: 4, kernel: 3, pad: 1}\n"
                    "    - {type: adaptive_avg_pool2d, name: avgpool, out: 7}\n"
                    "    - {type: adaptive_avg_pool2d, name: same, out: [7, 7]}\n"
                    "    - {type: flatten}\n"
                    "    - {type: linear, name: fc, out: 5}\n", 3);
    const net_node *p = &b.n->nodes[net_find(b.n, "avgpool")];
    CHECK_EQ(p->l->out.nd, 4);
    CHECK_EQ(p->l->out.d[0], 3);
    CHECK_EQ(p->l->out.d[2], 7);
    CHECK_EQ(p->l->out.d[3], 7);
    expect_rf(&b, "avgpool", 4, 4, 2, 2); /* 3 + 1*1, jump 2 */
    expect_rf(&b, "same", 4, 4, 2, 2);
    CHECK_EQ(node(&b, "avgpool")->params, 0);
    CHECK_EQ(node(&b, "avgpool")->macs, 0);
    /* fc: 4*7*7 = 196 features: 196*5 + 5 = 985 parameters; 3*5*196 = 2940 MACs. */
    CHECK_EQ(node(&b, "fc")->params, 985);
    CHECK_EQ(node(&b, "fc")->macs, 2940);
    release(&b);

    /* 10x10 to 7x7 needs unequal windows: net_create fails with the layer's message. */
    static const char bad[] = "model:\n"
                              "  input: [3, 10, 10]\n"
                              "  layers:\n"
                              "    - {type: adaptive_avg_pool2d, name: avgpool, out: 7}\n"
                              "    - {type: flatten}\n"
                              "    - {type: linear, out: 2}\n";
    cfg_node *root;
    cnn_err e = {0};
    net *n = NULL;
    CHECK(config_parse_string(bad, sizeof bad - 1, "test.yaml", &root, &e) == CNN_OK);
    CHECK(net_create(cfg_get(root, "model"), 2, &n, &e) < 0);
    printf("  %s\n", e.msg);
    CHECK_STR_CONTAINS(e.msg, "avgpool");
    CHECK_STR_CONTAINS(e.msg, "input 10x10 is not a multiple of out 7x7");
    cfg_free(root);
}

static void printed_table(void)
{
    /* ResNet's layer1 3x3 convolution at 56x56: 56*56*64 outputs of 64*3*3 = 115,605,504
     * MACs per image (the published 115.6M), 36,864 weights; the fc layer 1,000,000 + 1000. */
    built b = build("model:\n"
                    "  input: [64, 56, 56]\n"
                    "  layers:\n"
                    "    - {type: conv2d, name: conv, out: 64, kernel: 3, pad: 1, bias: false}\n"
                    "    - name: a_rather_long_scope_name_for_a_group\n"
                    "      layers:\n"
                    "        - name: and_a_nested_one_too\n"
                    "          layers: [{type: relu, name: last_activation}]\n"
                    "    - {type: conv2d, name: ns, out: 2, kernel: [3, 1], stride: [2, 1]}\n"
                    "    - {type: global_avg_pool, name: gap}\n"
                    "    - {type: flatten, name: flat}\n"
                    "    - {type: linear, name: fc0, out: 1000}\n"
                    "    - {type: linear, name: fc, out: 1000}\n", 4);
    char *text = summary_text(b.n);
    printf("%s", text);
    char *row = line_with(text, "conv ");
    CHECK_STR_CONTAINS(row, "conv2d");
    CHECK_STR_CONTAINS(row, "(4, 64, 56, 56)"); /* with the per-rank batch */
    CHECK_STR_CONTAINS(row, "36,864");
    CHECK_STR_CONTAINS(row, "115.6M");
    CHECK_STR_CONTAINS(row, "3/1");
    free(row);
    row = line_with(text, "(4, 2, 27, 56)");
    CHECK_STR_CONTAINS(row, "5x3/2x1"); /* 3 + 2*1 by 1 + 0 */
    free(row);
    row = line_with(text, "global_avg_pool");
    CHECK_STR_CONTAINS(row, "global");
    free(row);
    /* The 73-character name is cut in the middle to its column, keeping both ends; the type
     * column starts where it does in the other rows. */
    row = line_with(text, "relu");
    CHECK_STR_CONTAINS(row, "a_rather_l...");
    CHECK_STR_CONTAINS(row, ".last_activation ");
    char *conv_row = line_with(text, "conv2d");
    CHECK_EQ(strstr(row, "relu") - row, strstr(conv_row, "conv2d") - conv_row);
    free(conv_row);
    free(row);
    /* conv 36,864 + ns 2*64*3 + 2 = 386 + fc0 2*1000 + 1000 = 3000 + fc 1,001,000. */
    row = line_with(text, "Total:");
    CHECK_STR_CONTAINS(row, "Total: 1,041,250 parameters");
    /* per image: 115,605,504 + ns 2*27*56*64*3 = 580,608 + 2,000 + 1,000,000 MACs. */
    CHECK_STR_CONTAINS(row, "0.117 GMAC per image");
    CHECK_STR_CONTAINS(row, "0.469 GMAC per batch of 4");
    free(row);
    row = line_with(text, "Memory of one training step at batch 4 per rank");
    char total[64];
    snprintf(total, sizeof total, "total %.1f MiB", (double)b.n->mem.total / 1048576.0);
    CHECK_STR_CONTAINS(row, total);
    free(row);
    row = line_with(text, "activation grads ");
    CHECK_STR_CONTAINS(row, "params 4.0,"); /* 1,041,250 * 4 bytes = 3.97 MiB */
    CHECK_STR_CONTAINS(row, "activations ");
    CHECK_STR_CONTAINS(row, "activation grads ");
    CHECK_STR_CONTAINS(row, "layer state ");
    free(row);
    free(text);
    release(&b);
}

int main(void)
{
    counts();
    receptive_fields();
    resampling();
    adaptive();
    printed_table();
    printf("summary: ok\n");
    return 0;
}
