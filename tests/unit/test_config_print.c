/* --print-config: the effective config printed as YAML parses back to the same config (every
 * key's value, the model tree node by node), printing again gives the same text, and
 * scalars that YAML would misread unquoted survive. Also the --help-config table. */
#include "../../src/config/config.h"
#include "../check.h"

static bool same_tree(const cfg_node *a, const cfg_node *b)
{
    if (!a || !b || a->kind != b->kind || a->n != b->n)
        return a == b;
    if (a->kind == CFG_SCALAR)
        return !strcmp(a->str, b->str);
    for (int i = 0; i < a->n; i++)
        if ((a->kind == CFG_MAP && strcmp(a->keys[i], b->keys[i])) ||
            !same_tree(a->items[i], b->items[i]))
            return false;
    return true;
}

static char *print(const run_config *rc)
{
    char *text;
    cnn_err e = {0};
    CHECK_EQ(run_config_to_yaml(rc, &text, &e), CNN_OK);
    return text;
}

static void load_text(const char *text, const char *name, run_config *rc)
{
    cfg_node *t;
    cnn_err e = {0};
    if (config_parse_string(text, strlen(text), name, &t, &e) < 0 ||
        run_config_from_tree(t, name, RUN_FOR_INSPECTION, rc, &e) < 0) {
        fprintf(stderr, "%s\n--- text:\n%s", e.msg, text);
        exit(1);
    }
}

static const char config[] =
    "# a comment, and keys in an unusual order\n"
    "optim: {lr: 0.05, betas: [0.8, 0.9]}\n"
    "model:\n"
    "  input: [3, 32, 32]\n"
    "  args: {w: 16, odd: 'a: b', hash: '#x', empty: '', dash: '- x', yes: 'true',\n"
    "         multi: \"two\\nlines\", utf: \"caf\\u00e9\", spaces: ' pad ', star: '*a'}\n"
    "  layers:\n"
    "    - {type: conv2d, name: conv1, out: $w, kernel: 3, pad: 1, bias: false}\n"
    "    - relu\n"
    "    - {type: linear, out: 10, input: [conv1]}\n"
    "seed: 7\n"
    "data: {train: /data/train.h5}\n";

int main(void)
{
    run_config a, b;
    cnn_err e = {0};
    cfg_node *t;
    CHECK_EQ(config_parse_string(config, strlen(config), "p.yaml", &t, &e), CNN_OK);
    CHECK_EQ(config_set(t, "sched.milestones=[30,60]", &e), CNN_OK);
    CHECK_EQ(config_set(t, "model.args.w=8", &e), CNN_OK);
    CHECK_EQ(run_config_from_tree(t, "configs/p.yaml", RUN_FOR_INSPECTION, &a, &e), CNN_OK);
    char *t1 = print(&a);
    printf("%s", t1);
    load_text(t1, "printed.yaml", &b);
    char *t2 = print(&b);
    CHECK(!strcmp(t1, t2));
    /* Same value for every key, taken from the trees (model included); sections may list
     * their keys in another order. */
    for (int i = 0; i < a.tree->n; i++) {
        const cfg_node *va = a.tree->items[i], *vb = cfg_get(b.tree, a.tree->keys[i]);
        bool same = vb && va->kind == vb->kind && va->n == vb->n;
        for (int j = 0; same && va->kind == CFG_MAP && j < va->n; j++)
            same = same_tree(va->items[j], cfg_get(vb, va->keys[j]));
        if (!same || (va->kind != CFG_MAP && !same_tree(va, vb))) {
            fprintf(stderr, "key '%s' differs after the round trip\n", a.tree->keys[i]);
            return 1;
        }
    }
    CHECK_EQ(a.tree->n, b.tree->n);
    CHECK_EQ(b.seed, 7);
    CHECK_NEAR(b.optim.lr, 0.05, 0);
    CHECK_NEAR(b.optim.betas.v[1], 0.9, 0);
    CHECK_EQ(b.sched.milestones.n, 2);
    CHECK(!strcmp(b.data.train, "/data/train.h5"));
    CHECK(!strcmp(b.run.dir, "runs/p")); /* the default of the first file, kept */
    const cfg_node *args = cfg_get(b.model, "args");
    CHECK(!strcmp(cfg_get(args, "odd")->str, "a: b"));
    CHECK(!strcmp(cfg_get(args, "multi")->str, "two\nlines"));
    CHECK(!strcmp(cfg_get(args, "utf")->str, "caf\xc3\xa9"));
    CHECK(!strcmp(cfg_get(args, "spaces")->str, " pad "));
    CHECK(!strcmp(cfg_get(args, "w")->str, "8"));
    /* Layout: schema order (seed first, model last), flow lists, one line per layer. */
    CHECK(!strncmp(t1, "seed: 7\n", 8));
    CHECK_STR_CONTAINS(t1, "\noptim:\n  name: sgd\n  lr: 0.05\n");
    CHECK_STR_CONTAINS(t1, "  milestones: [30, 60]\n");
    CHECK_STR_CONTAINS(t1, "  - {type: conv2d, name: conv1, out: $w, kernel: 3, pad: 1, bias: "
                           "false}\n");
    CHECK_STR_CONTAINS(t1, "\nmodel:\n");
    CHECK(strstr(t1, "\nmodel:\n") > strstr(t1, "\ncuda:\n"));
    free(t1);
    free(t2);
    run_config_free(&a);
    run_config_free(&b);

    /* The generic printer keeps the tree's order. */
    const char *plain = "b: 1\na: [x, {y: 2}]\n";
    CHECK_EQ(config_parse_string(plain, strlen(plain), "g.yaml", &t, &e), CNN_OK);
    char *g;
    CHECK_EQ(config_to_yaml(t, &g, &e), CNN_OK);
    CHECK(!strcmp(g, "b: 1\na:\n- x\n- {y: 2}\n"));
    free(g);
    cfg_free(t);

    /* --help-config documents every key with its default. */
    char *doc;
    size_t n;
    FILE *f = open_memstream(&doc, &n);
    config_help(f);
    fclose(f);
    CHECK_STR_CONTAINS(doc, "| `optim.lr` | float | `0.1` | (0, inf) | peak learning rate");
    CHECK_STR_CONTAINS(doc, "| `data.batch_size` | int | `256` | [1, 1048576] |");
    CHECK_STR_CONTAINS(doc, "| `device` | choice | `auto` | `auto`, `cpu`, `cuda` |");
    CHECK_STR_CONTAINS(doc, "| `optim.betas` | float list | `[0.9, 0.999]` | 2 items, each in "
                            "[0, 1) |");
    CHECK_STR_CONTAINS(doc, "| `model` | map | required |");
    CHECK_STR_CONTAINS(doc, "## `sched`");
    free(doc);
    printf("config_print: ok\n");
    return 0;
}
