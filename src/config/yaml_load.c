/* libyaml document -> cfg_node. libyaml's composer turns aliases into shared nodes, and
 * the conversion copies them: the node budget stops alias bombs (a billion laughs) from
 * exhausting memory and time, the depth limit stops self-referencing anchors and deep
 * nesting from exhausting the stack, and the key limit keeps duplicate-key checks cheap. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "config.h"

#define MAX_DEPTH 64

typedef struct conv {
    yaml_document_t *doc;
    const char *file;
    long nodes; /* converted so far, aliases counted once per use */
} conv;

static int convert(conv *c, yaml_node_t *yn, int depth, cfg_node **out, cnn_err *e)
{
    const char *file = c->file;
    yaml_document_t *doc = c->doc;
    cfg_mark m = {file, (int)yn->start_mark.line + 1, (int)yn->start_mark.column + 1};
    *out = NULL;
    if (depth > MAX_DEPTH)
        return CNN_ERR(e, CNN_EINVAL, "%s:%d:%d: nesting deeper than %d levels", file, m.line,
                       m.col, MAX_DEPTH);
    if (++c->nodes > CONFIG_MAX_NODES)
        return CNN_ERR(e, CNN_EINVAL, "%s:%d:%d: the config expands to more than %d values "
                       "(aliases of aliases?); a run config has a few thousand", file, m.line,
                       m.col, CONFIG_MAX_NODES);
    if (yn->type == YAML_MAPPING_NODE &&
        yn->data.mapping.pairs.top - yn->data.mapping.pairs.start > CONFIG_MAX_KEYS)
        return CNN_ERR(e, CNN_EINVAL, "%s:%d:%d: a map with more than %d keys", file, m.line,
                       m.col, CONFIG_MAX_KEYS);
    if (yn->type == YAML_SCALAR_NODE) {
        *out = cfg_new(CFG_SCALAR, m, (const char *)yn->data.scalar.value);
        return CNN_OK;
    }
    if (yn->type == YAML_SEQUENCE_NODE) {
        cfg_node *seq = cfg_new(CFG_SEQ, m, NULL);
        for (yaml_node_item_t *it = yn->data.sequence.items.start;
             it < yn->data.sequence.items.top; it++) {
            cfg_node *child;
            int rc = convert(c, yaml_document_get_node(doc, *it), depth + 1, &child, e);
            if (rc < 0) {
                cfg_free(seq);
                return rc;
            }
            cfg_seq_push(seq, child);
        }
        *out = seq;
        return CNN_OK;
    }
    cfg_node *map = cfg_new(CFG_MAP, m, NULL);
    for (yaml_node_pair_t *p = yn->data.mapping.pairs.start; p < yn->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        cfg_mark km = {file, (int)k->start_mark.line + 1, (int)k->start_mark.column + 1};
        if (k->type != YAML_SCALAR_NODE) {
            cfg_free(map);
            return CNN_ERR(e, CNN_EINVAL, "%s:%d:%d: a key must be a plain string", file,
                           km.line, km.col);
        }
        cfg_node *child;
        int rc = convert(c, yaml_document_get_node(doc, p->value), depth + 1, &child, e);
        if (rc >= 0)
            rc = cfg_map_put(map, (const char *)k->data.scalar.value, km, child, e);
        if (rc < 0) {
            cfg_free(child);
            cfg_free(map);
            return rc;
        }
    }
    *out = map;
    return CNN_OK;
}

static int syntax_error(const yaml_parser_t *p, const char *file, cnn_err *e)
{
    return CNN_ERR(e, CNN_EINVAL, "%s:%d:%d: YAML syntax error: %s%s%s", file,
                   (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
                   p->problem ? p->problem : "unknown problem", p->context ? " " : "",
                   p->context ? p->context : "");
}

/* A second document after `---` would be ignored silently: one config is one document. */
static int only_document(yaml_parser_t *parser, const char *file, cnn_err *e)
{
    yaml_document_t doc;
    if (!yaml_parser_load(parser, &doc))
        return syntax_error(parser, file, e);
    int rc = CNN_OK;
    if (yaml_document_get_root_node(&doc))
        rc = CNN_ERR(e, CNN_EINVAL, "%s:%d:%d: a second YAML document starts here; a config is "
                     "one document (remove the '---' and what follows, or merge it)", file,
                     (int)doc.start_mark.line + 1, (int)doc.start_mark.column + 1);
    yaml_document_delete(&doc);
    return rc;
}

int config_parse_string(const char *text, size_t len, const char *fname, cfg_node **out,
                        cnn_err *e)
{
    *out = NULL;
    if (len > CONFIG_MAX_BYTES)
        return CNN_ERR(e, CNN_EINVAL, "%s: %zu bytes; a config is at most %d bytes",
                       fname ? fname : "<config>", len, CONFIG_MAX_BYTES);
    char *file = cnn_xstrdup(fname ? fname : "<config>");
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        free(file);
        return CNN_ERR(e, CNN_ENOMEM, "yaml_parser_initialize failed (out of memory)");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = CNN_OK;
    if (!yaml_parser_load(&parser, &doc)) {
        rc = syntax_error(&parser, file, e);
        yaml_parser_delete(&parser);
        free(file);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root)
        rc = CNN_ERR(e, CNN_EINVAL, "%s: the document is empty", file);
    else
        rc = convert(&(conv){&doc, file, 0}, root, 0, out, e);
    yaml_document_delete(&doc);
    if (rc == CNN_OK)
        rc = only_document(&parser, file, e);
    yaml_parser_delete(&parser);
    if (rc < 0) {
        cfg_free(*out);
        *out = NULL;
        free(file);
        return rc;
    }
    (*out)->file_owned = file;
    return CNN_OK;
}

int config_parse_file(const char *path, cfg_node **out, cnn_err *e)
{
    /* A path that names no readable file is a usage error, as a bad key is (exit 2). */
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return CNN_ERR(e, CNN_EINVAL, "config '%s' is a directory; give a YAML file, e.g. "
                       "configs/lenet5_fashion.yaml", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return CNN_ERR(e, CNN_EINVAL, "cannot open config '%s': %s; check the path", path,
                       strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len > CONFIG_MAX_BYTES) {
            free(buf);
            fclose(f);
            return CNN_ERR(e, CNN_EINVAL, "config '%s' is larger than %d bytes; is it a "
                           "config?", path, CONFIG_MAX_BYTES);
        }
        if (len + 4096 > cap) {
            cap = cap ? 2 * cap : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return CNN_ERR(e, CNN_ENOMEM, "config '%s' is too large to read", path);
            }
            buf = nb;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return CNN_ERR(e, CNN_EIO, "read error on config '%s'", path);
    }
    int rc = config_parse_string(buf, len, path, out, e);
    free(buf);
    return rc;
}
