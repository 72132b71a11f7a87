/* libFuzzer target for everything a config file reaches: YAML parsing, `--set` overrides
 * (input lines starting with "#set " are applied, so the input stays valid YAML), the
 * typed run config, the printed config (which must parse back to the same text), and the
 * network graph built from `model:` (net_create, the --summary table, net_destroy; no
 * tensor memory).
 * Anything may fail with an error; a crash, a sanitizer report, a leak, a hang or a failed
 * round trip is a bug. Built by CNN_FUZZ=ON (clang); replay_main.c replays the corpus in
 * normal builds (tests/fuzz/README.md). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/config/config.h"
#include "../../src/net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SET_MAX 8

/* Applies the input's "#set KEY=VALUE" lines; errors are fine, they only end the run. */
static int apply_sets(cfg_node *t, const char *text, size_t size, cnn_err *e)
{
    int n = 0;
    for (size_t i = 0; i < size && n < FUZZ_SET_MAX; i++) {
        if ((i && text[i - 1] != '\n') || size - i < 5 || memcmp(text + i, "#set ", 5))
            continue;
        size_t end = i + 5;
        while (end < size && text[end] != '\n' && text[end] != '\0')
            end++;
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(end - i - 5), text + i + 5);
        n++;
        if (config_set(t, line, e) < 0)
            return CNN_EINVAL;
    }
    return CNN_OK;
}

static long count_nodes(const cfg_node *n)
{
    long c = 1;
    for (int i = 0; i < n->n; i++)
        c += count_nodes(n->items[i]);
    return c;
}

/* The printed config is a config: parsing it gives the same config and the same text.
 * Trees near the loader's limits are skipped: the defaults added on top may cross them. */
static void check_round_trip(const run_config *rc)
{
    char *t1, *t2 = NULL;
    cnn_err e = {0};
    if (count_nodes(rc->tree) > CONFIG_MAX_NODES / 2)
        return;
    if (run_config_to_yaml(rc, &t1, &e) < 0)
        return; /* libyaml refused a value (reported as an error, not a crash) */
    if (strlen(t1) > CONFIG_MAX_BYTES / 2) {
        free(t1);
        return;
    }
    cfg_node *tree;
    run_config rc2;
    int r = config_parse_string(t1, strlen(t1), "printed.yaml", &tree, &e);
    if (r == CNN_OK)
        r = run_config_from_tree(tree, "printed.yaml", RUN_FOR_INSPECTION, &rc2, &e);
    if (r == CNN_OK)
        r = run_config_to_yaml(&rc2, &t2, &e);
    if (r < 0 || strcmp(t1, t2)) {
        fprintf(stderr, "round trip failed: %s\n--- printed:\n%s\n--- printed again:\n%s\n",
                r < 0 ? e.msg : "texts differ", t1, t2 ? t2 : "");
        abort();
    }
    free(t1);
    free(t2);
    run_config_free(&rc2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    cfg_node *tree;
    cnn_err e = {0};
    if (config_parse_string(text, size, "fuzz.yaml", &tree, &e) < 0)
        return 0;
    if (apply_sets(tree, text, size, &e) < 0) {
        cfg_free(tree);
        return 0;
    }
    char *generic;
    if (config_to_yaml(tree, &generic, &e) == CNN_OK)
        free(generic);
    run_config rc;
    int r = run_config_from_tree(tree, "fuzz.yaml", RUN_FOR_INSPECTION, &rc, &e);
    int batch = 2;
    if (r == CNN_OK) {
        check_round_trip(&rc);
        r = run_config_rank_batch(&rc, 2, &batch, &e);
    }
    /* The graph sees the model even when another key was wrong: it is the larger surface. */
    const cfg_node *model = cfg_get(rc.tree, "model");
    if (model && model->kind == CFG_MAP) {
        net *n = NULL;
        if (net_create(model, r == CNN_OK ? batch : 2, &n, &e) == CNN_OK) {
            FILE *sink = fopen("/dev/null", "w"); /* the summary: stats, receptive fields */
            if (sink) {
                net_summary_print(n, sink);
                fclose(sink);
            }
            net_destroy(n);
        }
    }
    run_config_free(&rc);
    return 0;
}
