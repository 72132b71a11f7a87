/* Chain construction for bad-input tests. */
#include "layer_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/config/config.h"
#include "../../src/layers/chain.h"

int try_chain(const char *yaml, const shape *in, const dtype *in_dt, int n_in, cnn_err *e)
{
    cfg_node *root;
    CNN_TRY(e, config_parse_string(yaml, strlen(yaml), "test.yaml", &root, e));
    int n = root->kind == CFG_SEQ ? root->n : 1, made = 0, rc = CNN_OK;
    layer **ls = cnn_xcalloc((size_t)n, sizeof *ls);
    for (; made < n && rc == CNN_OK; made++) {
        char def[16];
        snprintf(def, sizeof def, "l%d", made);
        rc = layer_create(root->kind == CFG_SEQ ? root->items[made] : root, def, &ls[made], e);
    }
    backend *be = NULL;
    if (rc == CNN_OK)
        rc = backend_create("cpu", 1, &be, e);
    if (rc == CNN_OK) {
        layer_chain c;
        rc = chain_setup(&c, ls, n, be, in, in_dt, n_in, e);
        chain_free(&c);
    }
    backend_destroy(be);
    for (int i = 0; i < n; i++)
        layer_destroy(ls[i]);
    free(ls);
    cfg_free(root);
    return rc;
}

void expect_chain_error(const char *yaml, const shape *in, const dtype *in_dt, int n_in,
                        const char *const *fragments)
{
    cnn_err e = {0};
    int rc = try_chain(yaml, in, in_dt, n_in, &e);
    if (rc != CNN_EINVAL) {
        fprintf(stderr, "expected CNN_EINVAL for:\n  %s\ngot %d (%s)\n", yaml, rc,
                rc ? e.msg : "success");
        exit(1);
    }
    printf("  %s\n    -> %s\n", yaml, e.msg);
    for (int i = 0; fragments[i]; i++)
        if (!strstr(e.msg, fragments[i])) {
            fprintf(stderr, "error message lacks \"%s\":\n  %s\n", fragments[i], e.msg);
            exit(1);
        }
}
