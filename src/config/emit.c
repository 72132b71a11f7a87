/* Config trees back to YAML (libyaml's emitter, which quotes whatever a plain scalar cannot
 * carry, so the text parses back to the same tree), the effective run config in schema
 * order, and docs/config.md generated from the schema table. Layout: sections in block
 * style; short lists and maps (a layer, [30, 60, 80]) in flow style on one line. */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config_impl.h"

#define FLOW_WIDTH 96 /* a list or map that fits this many characters goes on one line */

typedef struct text_buf {
    char *p;
    size_t n, cap;
} text_buf;

static int write_text(void *data, unsigned char *buffer, size_t size)
{
    text_buf *b = data;
    if (b->n + size + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + size + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, buffer, size);
    b->n += size;
    b->p[b->n] = '\0';
    return 1;
}

/* Width of n on one line, or FLOW_WIDTH + 1 when it does not fit. */
static size_t flow_width(const cfg_node *n)
{
    if (n->kind == CFG_SCALAR)
        return strlen(n->str) + 2;
    size_t w = 2;
    for (int i = 0; i < n->n && w <= FLOW_WIDTH; i++)
        w += flow_width(n->items[i]) + (n->keys ? strlen(n->keys[i]) + 2 : 0);
    return w <= FLOW_WIDTH ? w : FLOW_WIDTH + 1;
}

static int emit(yaml_emitter_t *em, yaml_event_t *ev)
{
    return yaml_emitter_emit(em, ev) ? CNN_OK : CNN_EINVAL;
}

static int emit_scalar(yaml_emitter_t *em, const char *s)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
                                      YAML_ANY_SCALAR_STYLE))
        return CNN_EINVAL;
    return emit(em, &ev);
}

/* depth < 2: the top level and its sections stay in block style. */
static int emit_node(yaml_emitter_t *em, const cfg_node *n, int depth)
{
    yaml_event_t ev;
    if (n->kind == CFG_SCALAR)
        return emit_scalar(em, n->str);
    bool flow = depth >= 2 && flow_width(n) <= FLOW_WIDTH;
    int ok = n->kind == CFG_SEQ
                 ? yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                        flow ? YAML_FLOW_SEQUENCE_STYLE
                                                             : YAML_BLOCK_SEQUENCE_STYLE)
                 : yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                       flow ? YAML_FLOW_MAPPING_STYLE
                                                            : YAML_BLOCK_MAPPING_STYLE);
    if (!ok || emit(em, &ev) < 0)
        return CNN_EINVAL;
    for (int i = 0; i < n->n; i++) {
        if (n->kind == CFG_MAP && emit_scalar(em, n->keys[i]) < 0)
            return CNN_EINVAL;
        if (emit_node(em, n->items[i], depth + 1) < 0)
            return CNN_EINVAL;
    }
    if (n->kind == CFG_SEQ)
        yaml_sequence_end_event_initialize(&ev);
    else
        yaml_mapping_end_event_initialize(&ev);
    return emit(em, &ev);
}

/* A section's keys in schema order; rows from..: the section's rows (adjacent). */
static int emit_section(yaml_emitter_t *em, const cfg_node *s, int from, size_t prefix)
{
    yaml_event_t ev;
    if (s->kind != CFG_MAP)
        return emit_node(em, s, 1);
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
    CNN_TRY(NULL, emit(em, &ev));
    for (int i = from; i < config_schema_n && !strncmp(config_schema[i].path,
                                                       config_schema[from].path, prefix); i++) {
        const char *key = config_schema[i].path + prefix;
        const cfg_node *v = cfg_get(s, key);
        if (v)
            CNN_TRY(NULL, emit_scalar(em, key) < 0 ? CNN_EINVAL : emit_node(em, v, 2));
    }
    yaml_mapping_end_event_initialize(&ev);
    return emit(em, &ev);
}

/* The root map in schema order when schema_order (the tree holds schema keys only: it was
 * validated), else in the tree's order. */
static int emit_root(yaml_emitter_t *em, const cfg_node *root, bool schema_order)
{
    yaml_event_t ev;
    if (!schema_order || root->kind != CFG_MAP)
        return emit_node(em, root, 0);
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
    CNN_TRY(NULL, emit(em, &ev));
    for (int i = 0; i < config_schema_n; i++) {
        const char *p = config_schema[i].path, *dot = strchr(p, '.');
        if (!dot) {
            const cfg_node *v = cfg_get(root, p);
            if (v)
                CNN_TRY(NULL, emit_scalar(em, p) < 0 ? CNN_EINVAL : emit_node(em, v, 1));
            continue;
        }
        size_t sl = (size_t)(dot - p) + 1; /* a section's rows are adjacent in the table */
        if (i > 0 && !strncmp(config_schema[i - 1].path, p, sl))
            continue;
        char sec[32];
        snprintf(sec, sizeof sec, "%.*s", (int)sl - 1, p);
        const cfg_node *s = cfg_get(root, sec);
        if (s)
            CNN_TRY(NULL, emit_scalar(em, sec) < 0 ? CNN_EINVAL : emit_section(em, s, i, sl));
    }
    yaml_mapping_end_event_initialize(&ev);
    return emit(em, &ev);
}

static int to_yaml(const cfg_node *root, bool schema_order, char **text, cnn_err *e)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    text_buf b = {0};
    *text = NULL;
    if (!yaml_emitter_initialize(&em))
        return CNN_ERR(e, CNN_ENOMEM, "yaml_emitter_initialize failed (out of memory)");
    yaml_emitter_set_output(&em, write_text, &b);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    yaml_emitter_set_indent(&em, 2);
    int rc = CNN_OK;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if (emit(&em, &ev) == CNN_OK) {
        yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
        rc = emit(&em, &ev);
    }
    if (rc == CNN_OK)
        rc = emit_root(&em, root, schema_order);
    if (rc == CNN_OK) {
        yaml_document_end_event_initialize(&ev, 1);
        rc = emit(&em, &ev);
    }
    if (rc == CNN_OK) {
        yaml_stream_end_event_initialize(&ev);
        rc = emit(&em, &ev);
    }
    if (rc == CNN_OK && !yaml_emitter_flush(&em))
        rc = CNN_EINVAL;
    if (rc < 0) {
        rc = CNN_ERR(e, CNN_EINVAL, "cannot write the config as YAML: %s",
                     em.problem ? em.problem : "out of memory");
        free(b.p);
    } else {
        *text = b.p ? b.p : cnn_xstrdup("");
    }
    yaml_emitter_delete(&em);
    return rc;
}

int config_to_yaml(const cfg_node *tree, char **text, cnn_err *e)
{
    return to_yaml(tree, false, text, e);
}

int run_config_to_yaml(const run_config *rc, char **text, cnn_err *e)
{
    return to_yaml(rc->tree, true, text, e);
}
