/* Private to src/config: the schema table's row type and the helpers the module's files
 * share (range parsing, key suggestions, the static marks of filled-in defaults). */
#ifndef CNN_CONFIG_IMPL_H
#define CNN_CONFIG_IMPL_H

#include "config.h"

typedef enum schema_type {
    ST_INT,
    ST_FLOAT,
    ST_BOOL,
    ST_STRING, /* may be null */
    ST_CHOICE,
    ST_INT_LIST,
    ST_FLOAT_LIST,
    ST_MAP,
} schema_type;

typedef struct schema_row {
    const char *path;  /* "optim.lr": a section and a key, or a top-level key */
    schema_type type;
    const char *def;   /* YAML text of the default; NULL: required */
    const char *range; /* numbers and list items: "[lo, hi]" with ( ) for open ends and
                          inf; choices: "a|b|c"; NULL otherwise */
    int list_len;      /* lists: exact length; 0: 1 to RUN_LIST_MAX items */
    size_t offset;     /* of the value in run_config */
    const char *doc;
} schema_row;

/* Bounds parsed from a row's range text. */
typedef struct schema_range {
    double lo, hi;
    bool lo_open, hi_open;
} schema_range;

extern const schema_row config_schema[];
extern const int config_schema_n;

/* The mark of nodes that hold a default, and of the run.dir default's placeholder. */
extern const char config_default_file[];
#define CONFIG_RUN_DIR_DEFAULT "runs/<config file stem>"

const schema_row *schema_find(const char *path);
/* Is name a section ("optim") of the schema? */
bool schema_is_section(const char *name);
schema_range schema_range_of(const schema_row *r);
/* "a number >= 0 and < 1", "an integer between 1 and 1048576" into buf. */
const char *schema_range_text(const schema_row *r, char *buf, int len);
const char *schema_type_name(schema_type t);
/* The i-th choice of a choice row into buf, or NULL past the end. */
const char *schema_choice(const schema_row *r, int i, char *buf, int len);
/* The schema path (or section) closest to the unknown dotted path into buf, or NULL if
 * none is close enough to suggest. */
const char *schema_suggest(const char *path, char *buf, int len);

#endif
