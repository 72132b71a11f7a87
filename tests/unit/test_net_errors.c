/* Errors of the model language: each case asserts CNN_EINVAL and a message that carries the
 * position of the offending text (file:line:col, counted by hand from the YAML below) and
 * the words that tell the user what is wrong and what to do. */
#include "../../src/config/config.h"
#include "../../src/net/net.h"
#include "../check.h"

static int cases;

static void expect(const char *yaml, const char *const *frag)
{
    cfg_node *root;
    cnn_err e = {0};
    net *n = NULL;
    CHECK_EQ(config_parse_string(yaml, strlen(yaml), "m.yaml", &root, &e), CNN_OK);
    int rc = net_create(cfg_get(root, "model"), 2, &n, &e);
    if (rc != CNN_EINVAL || n) {
        fprintf(stderr, "expected CNN_EINVAL for:\n%s\ngot %d (%s)\n", yaml, rc,
                rc ? e.msg : "success");
        exit(1);
    }
    printf("  %s\n", e.msg);
    for (int i = 0; frag[i]; i++)
        if (!strstr(e.msg, frag[i])) {
            fprintf(stderr, "the message lacks \"%s\"\n", frag[i]);
            exit(1);
        }
    cfg_free(root);
    cases++;
}
#define EXPECT(yaml, ...) expect((yaml), (const char *const[]){__VA_ARGS__, NULL})

#define HEAD "model:\n  input: [3, 8, 8]\n"
#define BLOCK                                                                              \
    "  blocks:\n"                                                                          \
    "    basic:\n"                                                                         \
    "      args: {width: null, stride: 1}\n"                                               \
    "      layers:\n"                                                                      \
    "        - {type: conv2d, out: $width, kernel: 3, stride: $stride, pad: 1}\n"          \
    "        - relu\n"

static void keys(void)
{
    EXPECT(HEAD "  layer: [relu]\n", "m.yaml:3:3:", "unknown key 'layer'",
           "did you mean 'layers'");
    EXPECT(HEAD "  layers:\n    - {name: g, layer: [relu]}\n", "m.yaml:4:17:",
           "unknown key 'layer'", "did you mean 'layers'");
    EXPECT(HEAD "  layers:\n    - {type: conv2d, out: 4, kernal: 3}\n", "m.yaml:4:30:",
           "unknown key 'kernal'", "did you mean 'kernel'");
    /* a layer's own value check that cites no position gets the item's */
    EXPECT(HEAD "  layers:\n    - {type: max_pool2d, kernel: 0}\n", "m.yaml:4:7:", "kernel=0");
    EXPECT(HEAD "  layers:\n    - {name: g}\n", "m.yaml:4:7:", "needs 'type:'", "'layers:'",
           "'block:'");
    EXPECT(HEAD "  layers:\n    - {type: relu, layers: [relu]}\n", "m.yaml:4:7:",
           "both type and layers");
    EXPECT(HEAD "  layers:\n    - {layers: [relu], first: {a: 1}}\n", "m.yaml:4:24:",
           "unknown key 'first'");
    EXPECT(HEAD "  layers: []\n", "m.yaml:3:11:", "non-empty list");
    EXPECT("model:\n  layers: [relu]\n", "m.yaml:2:3:", "needs 'input:'");
    EXPECT(HEAD "  loss: relu\n  layers: [relu]\n", "m.yaml:3:9:", "'relu' is not a loss",
           "use one of softmax_cross_entropy, mse_loss");
    EXPECT(HEAD "  loss: {type: mse_loss, input: x}\n  layers: [relu]\n", "m.yaml:3:33:",
           "model.loss takes no 'input'");
}

static void blocks_and_args(void)
{
    EXPECT(HEAD BLOCK "  layers:\n    - {block: basik, args: {width: 4}}\n", "m.yaml:10:15:",
           "unknown block 'basik'", "defines: basic");
    EXPECT(HEAD BLOCK "  layers:\n    - {block: basic, args: {widht: 4}}\n", "m.yaml:10:29:",
           "unknown key 'widht'", "did you mean 'width'", "argument of block 'basic'");
    EXPECT(HEAD BLOCK "  layers:\n    - {block: basic}\n", "m.yaml:10:7:",
           "block 'basic' needs argument 'width'", "declared without default at m.yaml:5:21",
           "add it to args");
    EXPECT(HEAD "  args: {width: 4}\n  layers:\n    - {type: conv2d, out: $widht, kernel: 1}\n",
           "m.yaml:5:27:", "unknown argument '$widht'", "visible here: width");
    /* scaled arguments: $name*K and $name/K take an integer and a positive integer K */
    EXPECT(HEAD "  args: {width: 6}\n  layers:\n    - {type: conv2d, out: $width/4, kernel: 1}\n",
           "m.yaml:5:27:", "'$width/4' is 6 / 4, not a whole number");
    EXPECT(HEAD "  args: {width: 6}\n  layers:\n    - {type: conv2d, out: $width*x, kernel: 1}\n",
           "m.yaml:5:27:", "write $name*K or $name/K with a positive integer K");
    EXPECT(HEAD "  args: {width: [1, 2]}\n  layers:\n    - {type: conv2d, out: $width*2, kernel: 1}\n",
           "m.yaml:5:27:", "scales an argument that is not an integer");
    EXPECT(HEAD "  args: {width: 4}\n  layers:\n    - {type: conv2d, out: $widht*2, kernel: 1}\n",
           "m.yaml:5:27:", "unknown argument '$widht*2'", "visible here: width");
    /* inside a block: the block's own arguments first, then model.args */
    EXPECT(HEAD "  args: {classes: 3}\n"
                "  blocks:\n"
                "    b:\n"
                "      args: {w: 2}\n"
                "      layers: [{type: linear, out: $v}]\n"
                "  layers: [{block: b}]\n",
           "m.yaml:7:36:", "unknown argument '$v'", "visible here: w, classes");
    EXPECT(HEAD "  blocks:\n"
                "    a:\n"
                "      layers: [{block: a}]\n"
                "  layers: [{block: a}]\n",
           "m.yaml:5:16:", "block 'a' uses itself (a -> a)");
    EXPECT(HEAD "  blocks:\n"
                "    a:\n"
                "      layers: [{block: b}]\n"
                "    b:\n"
                "      layers: [relu, {block: a, name: x}]\n"
                "  layers: [{block: a}]\n",
           "m.yaml:7:22:", "block 'a' uses itself (a -> b -> a)");
    EXPECT(HEAD "  layers:\n    - {type: relu, if: maybe}\n", "m.yaml:4:24:",
           "'if' must be true or false", "got 'maybe'");
    EXPECT(HEAD "  args: {on: [1]}\n  layers:\n    - {type: relu, if: $on}\n", "m.yaml:3:14:",
           "'if' must be true or false", "got a list");
    EXPECT(HEAD "  layers:\n    - {repeat: 0, layers: [relu]}\n", "m.yaml:4:16:",
           "repeat=0 must be 1 to");
    EXPECT(HEAD "  layers:\n    - {repeat: 10000, layers: [relu]}\n", "m.yaml:4:32:",
           "more than 9999 layers", "repeat counts");
    EXPECT(HEAD "  layers:\n"
                "    - {repeat: 10000, layers: [{repeat: 10000, layers: [{type: relu, if: false}]}]}\n",
           "m.yaml:4:57:", "more than 1000000 items", "repeat counts");
}

static void names_and_wiring(void)
{
    EXPECT(HEAD "  layers:\n    - relu\n    - {type: add, inputs: [0, conv9]}\n",
           "m.yaml:5:31:", "input 'conv9' names nothing before this layer",
           "names visible here: 0, in, input");
    EXPECT(HEAD "  layers:\n"
                "    - {type: relu, name: a}\n"
                "    - {type: add, inputs: [a, b]}\n"
                "    - {type: relu, name: b}\n",
           "m.yaml:5:31:", "input 'b' names the item at m.yaml:6:26, which comes after",
           "cannot have a cycle");
    EXPECT(HEAD "  layers:\n    - {type: relu, input: x, name: x}\n", "m.yaml:4:27:",
           "comes after", "or is this layer");
    EXPECT(HEAD "  layers:\n    - {name: g, layers: [relu, {type: add, inputs: [in, g]}]}\n",
           "m.yaml:4:57:", "names the group that contains this layer", "cycle");
    EXPECT(HEAD "  layers:\n"
                "    - {type: relu, name: r}\n"
                "    - {type: relu, name: r}\n",
           "m.yaml:5:26:", "name 'r' is already used in the top scope at m.yaml:4:26",
           "unique in their scope");
    EXPECT(HEAD "  layers:\n"
                "    - name: g\n"
                "      layers: [{type: relu, name: r}, {layers: [{type: relu, name: r}]}]\n",
           "m.yaml:5:68:", "name 'r' is already used in scope 'g' at m.yaml:5:35");
    EXPECT(HEAD "  layers:\n    - {type: relu, name: in}\n", "m.yaml:4:26:",
           "name 'in' is reserved");
    EXPECT(HEAD "  layers:\n    - {type: relu, name: a.b}\n", "m.yaml:4:26:", "contains '.'");
    EXPECT(HEAD "  layers:\n    - {type: relu, name: a/b}\n", "m.yaml:4:26:", "contains '/'");
    EXPECT(HEAD "  layers:\n    - {type: relu, name: loss}\n", "m.yaml:4:26:",
           "taken by the loss node");
    EXPECT(HEAD "  layers:\n    - {name: g, layers: [relu]}\n    - {type: relu, input: g.x}\n",
           "m.yaml:5:27:", "input 'g.x' names nothing", "'g' has no item 'x'");
    EXPECT(HEAD "  layers:\n    - {type: relu, input: target}\n", "m.yaml:4:27:",
           "read only by the loss");
    EXPECT(HEAD "  layers:\n    - {type: max_unpool2d, indices: nowhere}\n", "m.yaml:4:37:",
           "indices 'nowhere' names nothing before this layer");
    EXPECT(HEAD "  layers:\n    - {type: relu, if: false}\n", "m.yaml:4:5:",
           "emits no layer");
    /* shape errors found by inference carry the layer's position too */
    EXPECT(HEAD "  layers:\n"
                "    - {type: conv2d, name: c, out: 4, kernel: 3}\n"
                "    - {type: add, inputs: [c, input]}\n",
           "m.yaml:5:7:", "layer '1' (add)", "identical shapes");
}

int main(void)
{
    keys();
    blocks_and_args();
    names_and_wiring();
    printf("net errors: %d cases ok\n", cases);
    return 0;
}
