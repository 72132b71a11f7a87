/* The model language (docs/models.md): full names and order for scopes, indices, spliced
 * and repeated groups, `first`, `if: false` aliases, arguments (whole-node values, values
 * passed through nested blocks), references, and the state_dict keys of a small ResNet in
 * torchvision's naming. Expected names are written out by hand from the spec. */
#include "../../src/config/config.h"
#include "../../src/net/net.h"
#include "../check.h"

static net *make(const char *yaml, int batch)
{
    cfg_node *root;
    cnn_err e = {0};
    net *n = NULL;
    CHECK_EQ(config_parse_string(yaml, strlen(yaml), "m.yaml", &root, &e), CNN_OK);
    if (net_create(cfg_get(root, "model"), batch, &n, &e) < 0) {
        fprintf(stderr, "net_create failed: %s\n  at %s\n", e.msg, e.trace);
        exit(1);
    }
    cfg_free(root); /* the net keeps nothing of the config tree */
    return n;
}

static void expect_names(const net *n, const char *const *want)
{
    int i = 0;
    for (; want[i]; i++) {
        CHECK(i < n->n_nodes);
        if (strcmp(n->nodes[i].l->name, want[i])) {
            fprintf(stderr, "node %d is '%s', want '%s'\n", i, n->nodes[i].l->name, want[i]);
            exit(1);
        }
    }
    CHECK_EQ(n->n_nodes, i);
}

static int in_of(const net *n, const char *node, int j)
{
    int i = net_find(n, node);
    CHECK(i >= 0 && j < n->nodes[i].n_in);
    return n->nodes[i].in[j];
}

/* VGG-style: a named scope whose unnamed, spliced, repeated groups number their items as
 * torch.nn.Sequential does. */
static void vgg_indices(void)
{
    net *n = make("model:\n"
                  "  input: [3, 8, 8]\n"
                  "  layers:\n"
                  "    - name: features\n"
                  "      layers:\n"
                  "        - {repeat: 2, layers: [{type: conv2d, out: 4, kernel: 3, pad: 1}, relu]}\n"
                  "        - {type: max_pool2d, kernel: 2}\n"
                  "        - layers: [{type: conv2d, out: 8, kernel: 3, pad: 1}, relu]\n"
                  "    - {type: flatten, name: flatten}\n"
                  "    - name: classifier\n"
                  "      layers: [{type: linear, out: 10}, {type: relu, name: s, if: false}, relu]\n",
                  2);
    expect_names(n, (const char *const[]){"features.0", "features.1", "features.2",
                                          "features.3", "features.4", "features.5",
                                          "features.6", "flatten", "classifier.0",
                                          "classifier.1", "loss", NULL});
    CHECK_EQ(in_of(n, "features.0", 0), NET_INPUT);
    CHECK_EQ(in_of(n, "flatten", 0), net_find(n, "features.6"));
    CHECK_EQ(n->output, net_find(n, "classifier.1"));
    CHECK_EQ(n->loss, n->n_nodes - 1);
    CHECK_EQ(in_of(n, "loss", 1), NET_TARGET);
    CHECK(n->target_dt == DTYPE_I32 && n->target_shape.nd == 1 && n->target_shape.d[0] == 2);
    char b[64];
    CHECK(!strcmp(shape_str(&n->nodes[n->output].l->out, b, sizeof b), "(2, 10)"));
    net_destroy(n);
}

static const char *const resnet =
    "model:\n"
    "  input: [3, 16, 16]\n"
    "  args: {num_classes: 5}\n"
    "  blocks:\n"
    "    basic:\n"
    "      args: {width: null, stride: 1, down: false}\n"
    "      layers:\n"
    "        - {type: conv2d, name: conv1, out: $width, kernel: 3, stride: $stride, pad: 1, bias: false}\n"
    "        - {type: batch_norm2d, name: bn1}\n"
    "        - {type: relu, name: relu1}\n"
    "        - {type: conv2d, name: conv2, out: $width, kernel: 3, pad: 1, bias: false}\n"
    "        - {type: batch_norm2d, name: bn2}\n"
    "        - name: downsample\n"
    "          input: in\n"
    "          if: $down\n"
    "          layers:\n"
    "            - {type: conv2d, out: $width, kernel: 1, stride: $stride, bias: false}\n"
    "            - batch_norm2d\n"
    "        - {type: add, name: add, inputs: [bn2, downsample]}\n"
    "        - {type: relu, name: relu2}\n"
    "  layers:\n"
    "    - {type: conv2d, name: conv1, out: 4, kernel: 3, pad: 1, bias: false}\n"
    "    - {type: batch_norm2d, name: bn1}\n"
    "    - {type: relu, name: relu}\n"
    "    - {block: basic, name: layer1, repeat: 2, args: {width: 4}}\n"
    "    - {block: basic, name: layer2, repeat: 2, args: {width: 8}, first: {stride: 2, down: true}}\n"
    "    - {type: global_avg_pool, name: avgpool}\n"
    "    - {type: flatten, name: flatten}\n"
    "    - {type: linear, name: fc, out: $num_classes}\n";

static void resnet_names(void)
{
    net *n = make(resnet, 2);
    const char *blk[] = {"conv1", "bn1", "relu1", "conv2", "bn2", "add", "relu2"};
    const char *want[64] = {"conv1", "bn1", "relu"};
    int k = 3;
    char buf[40][48];
    int nb = 0;
    for (int s = 1; s <= 2; s++)
        for (int c = 0; c < 2; c++)
            for (int j = 0; j < 7; j++) {
                if (s == 2 && c == 0 && j == 5) { /* the first copy of layer2 downsamples */
                    want[k++] = "layer2.0.downsample.0";
                    want[k++] = "layer2.0.downsample.1";
                }
                snprintf(buf[nb], sizeof buf[nb], "layer%d.%d.%s", s, c, blk[j]);
                want[k++] = buf[nb++];
            }
    want[k++] = "avgpool";
    want[k++] = "flatten";
    want[k++] = "fc";
    want[k++] = "loss";
    want[k] = NULL;
    expect_names(n, want);
    /* A skipped downsample reads as the identity: the block's input. */
    CHECK_EQ(in_of(n, "layer1.0.add", 1), net_find(n, "relu"));
    CHECK_EQ(in_of(n, "layer1.1.add", 1), net_find(n, "layer1.0.relu2"));
    CHECK_EQ(in_of(n, "layer2.0.add", 1), net_find(n, "layer2.0.downsample.1"));
    CHECK_EQ(in_of(n, "layer2.0.downsample.0", 0), net_find(n, "layer1.1.relu2"));
    CHECK_EQ(in_of(n, "layer2.1.conv1", 0), net_find(n, "layer2.0.relu2"));
    /* first: applies to copy 0 only (stride 2 halves 16 to 8 there, copy 1 keeps 8). */
    CHECK_EQ(n->nodes[net_find(n, "layer2.0.conv1")].l->out.d[2], 8);
    CHECK_EQ(n->nodes[net_find(n, "layer2.1.conv1")].l->out.d[2], 8);
    CHECK_EQ(n->nodes[net_find(n, "layer1.1.conv1")].l->out.d[2], 16);
    CHECK_EQ(n->nodes[net_find(n, "fc")].l->out.d[1], 5);

    /* state_dict keys: parameters then buffers, each in node order (torchvision's names). */
    static const char *const params[] = {
        "conv1.weight", "bn1.weight", "bn1.bias",
        "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias",
        "layer1.0.conv2.weight", "layer1.0.bn2.weight", "layer1.0.bn2.bias",
        "layer1.1.conv1.weight", "layer1.1.bn1.weight", "layer1.1.bn1.bias",
        "layer1.1.conv2.weight", "layer1.1.bn2.weight", "layer1.1.bn2.bias",
        "layer2.0.conv1.weight", "layer2.0.bn1.weight", "layer2.0.bn1.bias",
        "layer2.0.conv2.weight", "layer2.0.bn2.weight", "layer2.0.bn2.bias",
        "layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight",
        "layer2.0.downsample.1.bias",
        "layer2.1.conv1.weight", "layer2.1.bn1.weight", "layer2.1.bn1.bias",
        "layer2.1.conv2.weight", "layer2.1.bn2.weight", "layer2.1.bn2.bias",
        "fc.weight", "fc.bias", NULL};
    int i = 0;
    for (; params[i]; i++) {
        CHECK(i < n->n_params);
        if (strcmp(n->params[i].key, params[i])) {
            fprintf(stderr, "param %d is '%s', want '%s'\n", i, n->params[i].key, params[i]);
            exit(1);
        }
    }
    CHECK_EQ(n->n_params, i);
    CHECK_EQ(n->n_buffers, 2 * 10); /* running_mean, running_var of 10 batch norms */
    CHECK(!strcmp(n->buffers[0].key, "bn1.running_mean"));
    CHECK(!strcmp(n->buffers[1].key, "bn1.running_var"));
    const net_entry *t = net_entry_find(n, "layer2.0.downsample.1.running_var");
    CHECK(t && t->node == net_find(n, "layer2.0.downsample.1") && t->slot->kind == SLOT_BUFFER);
    CHECK(net_entry_find(n, "layer1.0.downsample.0.weight") == NULL);
    /* conv1 of layer2.0: 8 x 4 x 3 x 3 */
    t = net_entry_find(n, "layer2.0.conv1.weight");
    CHECK(t && t->slot->t.s.d[0] == 8 && t->slot->t.s.d[1] == 4);
    net_destroy(n);
}

/* Arguments: a whole node (a kernel pair), values passed through nested blocks, defaults
 * that read the caller's arguments, model.args at the top; references resolved relatively. */
static void arguments(void)
{
    net *n = make("model:\n"
                  "  input: [2, 8, 8]\n"
                  "  args: {k: [3, 1], ch: 6}\n"
                  "  blocks:\n"
                  "    inner:\n"
                  "      args: {w2: $ch}\n"
                  "      layers:\n"
                  "        - {type: conv2d, name: c, out: $w2, kernel: $kk, pad: [1, 0]}\n"
                  "        - {type: conv2d, name: d, out: $w, kernel: 1}\n"
                  "    outer:\n"
                  "      args: {w: null, kk: $k}\n"
                  "      layers:\n"
                  "        - {block: inner, name: a}\n"
                  "        - {block: inner, name: b, args: {w2: $w}}\n"
                  "        - {type: max_pool2d, name: p, kernel: 2}\n"
                  "        - {type: max_unpool2d, name: u, indices: p}\n"
                  "  layers:\n"
                  "    - {block: outer, name: o, args: {w: 5, kk: [1, 3]}}\n"
                  "    - {block: outer, args: {w: 7}}\n"
                  "    - {type: max_unpool2d, input: o.p, indices: o.p}\n",
                  1);
    /* the unnamed use of outer is spliced: its named items land in the top scope */
    expect_names(n, (const char *const[]){"o.a.c", "o.a.d", "o.b.c", "o.b.d", "o.p", "o.u",
                                          "a.c", "a.d", "b.c", "b.d", "p", "u", "5", "loss",
                                          NULL});
    const net_entry *t = net_entry_find(n, "o.a.c.weight"); /* kk overridden: [1, 3] */
    CHECK(t && t->slot->t.s.d[0] == 6 && t->slot->t.s.d[2] == 1 && t->slot->t.s.d[3] == 3);
    t = net_entry_find(n, "o.b.c.weight"); /* w2 = $w = 5 from the use's caller */
    CHECK(t && t->slot->t.s.d[0] == 5);
    t = net_entry_find(n, "o.a.d.weight"); /* $w read through inner from outer */
    CHECK(t && t->slot->t.s.d[0] == 5);
    t = net_entry_find(n, "a.c.weight"); /* spliced outer: default kk = $k = [3, 1] */
    CHECK(t && t->slot->t.s.d[0] == 6 && t->slot->t.s.d[2] == 3 && t->slot->t.s.d[3] == 1);
    CHECK(!strcmp(n->nodes[net_find(n, "o.u")].l->ref_name, "o.p"));
    CHECK(n->nodes[net_find(n, "o.u")].l->ref == n->nodes[net_find(n, "o.p")].l);
    CHECK(!strcmp(n->nodes[net_find(n, "u")].l->ref_name, "p"));
    CHECK(!strcmp(n->nodes[net_find(n, "5")].l->ref_name, "o.p"));
    CHECK_EQ(in_of(n, "5", 0), net_find(n, "o.p"));
    CHECK_EQ(in_of(n, "a.c", 0), net_find(n, "o.u"));
    net_destroy(n);
    /* scaled arguments: channel counts that follow one width */
    n = make("model:\n"
             "  input: [2, 8, 8]\n"
             "  args: {width: 6}\n"
             "  blocks:\n"
             "    b:\n"
             "      args: {out: null}\n"
             "      layers: [{type: conv2d, name: c, out: $out, kernel: 1}]\n"
             "  layers:\n"
             "    - {type: conv2d, name: x, out: $width*4, kernel: 1}\n"
             "    - {block: b, name: y, args: {out: $width/3}}\n",
             1);
    t = net_entry_find(n, "x.weight");
    CHECK(t && t->slot->t.s.d[0] == 24);
    t = net_entry_find(n, "y.c.weight");
    CHECK(t && t->slot->t.s.d[0] == 2 && t->slot->t.s.d[1] == 24);
    net_destroy(n);
}

/* The model's output is the last emitted item: a named group stands for its last item, and
 * a group whose items are all skipped for its input. */
static void outputs_and_loss(void)
{
    net *n = make("model:\n"
                  "  input: [4]\n"
                  "  loss: mse_loss\n"
                  "  layers:\n"
                  "    - {type: linear, name: fc, out: 4}\n"
                  "    - {name: g, layers: [{type: relu, if: false}]}\n"
                  "    - {type: add, inputs: [g, fc, in]}\n",
                  3);
    expect_names(n, (const char *const[]){"fc", "2", "loss", NULL});
    CHECK_EQ(in_of(n, "2", 0), net_find(n, "fc"));
    CHECK_EQ(in_of(n, "2", 2), NET_INPUT);
    CHECK(n->target_dt == DTYPE_F32 && shape_eq(&n->target_shape, &n->nodes[1].l->out));
    net_destroy(n);
    /* a loss map of keys only (what --set model.loss.label_smoothing=0.1 makes) is the
     * default loss with those keys */
    n = make("model:\n"
             "  input: [4]\n"
             "  loss: {label_smoothing: 0.1}\n"
             "  layers: [{type: linear, name: fc, out: 3}]\n",
             2);
    CHECK(!strcmp(n->nodes[n->loss].l->ops->type, "softmax_cross_entropy"));
    CHECK(n->target_dt == DTYPE_I32);
    net_destroy(n);
}

int main(void)
{
    vgg_indices();
    resnet_names();
    arguments();
    outputs_and_loss();
    printf("net language: ok\n");
    return 0;
}
