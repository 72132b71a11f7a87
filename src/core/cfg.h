/* A parsed configuration tree (maps, sequences, scalars) with the file:line:column of every
 * node, so errors can point at the user's text. src/config builds it from YAML; layers read
 * their own keys from it through the typed getters below, which fail with CNN_EINVAL and a
 * message citing the position, the key and what was expected. */
#ifndef CNN_CORE_CFG_H
#define CNN_CORE_CFG_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

typedef enum cfg_kind { CFG_SCALAR, CFG_SEQ, CFG_MAP } cfg_kind;

typedef struct cfg_mark {
    const char *file; /* owned by the tree's root */
    int line, col;    /* 1-based */
} cfg_mark;

typedef struct cfg_node cfg_node;
struct cfg_node {
    cfg_kind kind;
    cfg_mark mark;
    char *str;           /* CFG_SCALAR: the text */
    int n;               /* CFG_SEQ / CFG_MAP: number of items */
    cfg_node **items;    /* (n) */
    char **keys;         /* CFG_MAP: (n) */
    cfg_mark *key_marks; /* CFG_MAP: (n) */
    char *file_owned;    /* root only: storage behind mark.file */
};

/* Builders (used by the YAML loader and by code that makes configs). */
cfg_node *cfg_new(cfg_kind kind, cfg_mark mark, const char *scalar);
void cfg_seq_push(cfg_node *seq, cfg_node *item);
/* Fails on a duplicate key (YAML allows it silently; we do not). */
int cfg_map_put(cfg_node *map, const char *key, cfg_mark key_mark, cfg_node *value, cnn_err *e);
void cfg_free(cfg_node *n);

/* "file:line:col" of a node. */
const char *cfg_where(const cfg_node *n, char *buf, int len);

const cfg_node *cfg_get(const cfg_node *map, const char *key);

/* Typed getters: a missing key gives def unless required. */
int cfg_int(const cfg_node *map, const char *key, bool required, int64_t def, int64_t *out,
            cnn_err *e);
int cfg_float(const cfg_node *map, const char *key, bool required, double def, double *out,
              cnn_err *e);
int cfg_bool(const cfg_node *map, const char *key, bool required, bool def, bool *out,
             cnn_err *e);
/* *out points into the tree (or is def). */
int cfg_str(const cfg_node *map, const char *key, bool required, const char *def,
            const char **out, cnn_err *e);
/* An integer or a pair [h, w]: kernel, stride, padding. */
int cfg_int2(const cfg_node *map, const char *key, bool required, int64_t def, int64_t out[2],
             cnn_err *e);
/* One of choices (NULL-terminated); *out is its index. */
int cfg_choice(const cfg_node *map, const char *key, const char *const *choices, int def,
               int *out, cnn_err *e);

/* Levenshtein distance for "did you mean" suggestions; 99 for strings over 63 characters. */
int cfg_edit_distance(const char *a, const char *b);

/* Every key of map must be in allowed or in also (both NULL-terminated, also may be NULL);
 * the error names the first unknown key and the closest allowed one. */
int cfg_check_keys(const cfg_node *map, const char *const *allowed, const char *const *also,
                   cnn_err *e);

#endif
