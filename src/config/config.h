/* The config module's public face: YAML text to a cfg_node tree (src/core/cfg.h) with
 * file:line:column marks, `--set key.sub=value` overrides on that tree, and the typed run
 * configuration. One schema table (schema.c, one line per key) drives the defaults, the
 * validation, the printed effective config and docs/config.md (`cnn-dist --help-config`).
 * `model` stays a tree: the network graph validates it (src/net, docs/models.md). */
#ifndef CNN_CONFIG_H
#define CNN_CONFIG_H

#include <stdio.h>

#include "../core/core.h"

/* ---- YAML loading (yaml_load.c) ---- */

/* fname is only used in marks and messages. Anchors and aliases are expanded; a document
 * that expands past CONFIG_MAX_NODES nodes, nests deeper than 64 levels, or has a map of
 * more than CONFIG_MAX_KEYS keys is an error, as is a file over CONFIG_MAX_BYTES. */
#define CONFIG_MAX_NODES 200000
#define CONFIG_MAX_KEYS 1024
#define CONFIG_MAX_BYTES (4 << 20)
int config_parse_string(const char *text, size_t len, const char *fname, cfg_node **out,
                        cnn_err *e);
int config_parse_file(const char *path, cfg_node **out, cnn_err *e);

/* ---- overrides (override.c) ---- */

/* Applies one "a.b.c=VALUE" to the tree root (a map). VALUE is parsed as YAML (a scalar or
 * a flow node: `0.2`, `[30, 60]`, `{lr: 0.1}`); missing intermediate maps are created;
 * errors and later validation cite the override as "<--set a.b.c=VALUE>:1:COL". Whether
 * the key exists is checked by run_config_from_tree, like keys written in the file. */
int config_set(cfg_node *root, const char *assignment, cnn_err *e);

/* ---- the typed run configuration (run_config.c; keys and meanings: docs/config.md) ---- */

#define RUN_LIST_MAX 16 /* longest int/float list value (milestones) */

typedef struct run_int_list {
    int n;
    int64_t v[RUN_LIST_MAX]; /* (n) */
} run_int_list;
typedef struct run_float_list {
    int n;
    double v[RUN_LIST_MAX]; /* (n) */
} run_float_list;

/* Choice keys: the enum order is the order of the choices in the schema table. */
typedef enum run_device { RUN_DEVICE_AUTO, RUN_DEVICE_CPU, RUN_DEVICE_CUDA } run_device;
typedef enum run_precision { RUN_FP32, RUN_BF16, RUN_FP16 } run_precision;
typedef enum run_optim { RUN_OPTIM_SGD, RUN_OPTIM_ADAMW } run_optim;
typedef enum run_lr_scaling { RUN_LR_SCALING_NONE, RUN_LR_SCALING_LINEAR } run_lr_scaling;
typedef enum run_train_crop { RUN_CROP_AUTO, RUN_CROP_RESIZED, RUN_CROP_SCALE } run_train_crop;
typedef enum run_sched {
    RUN_SCHED_CONSTANT,
    RUN_SCHED_STEP,
    RUN_SCHED_MULTISTEP,
    RUN_SCHED_COSINE,
    RUN_SCHED_POLY,
} run_sched;
typedef enum run_transport { RUN_TRANSPORT_AUTO, RUN_TRANSPORT_NCCL, RUN_TRANSPORT_MPI } run_transport;

typedef struct run_config {
    cfg_node *tree;        /* owned: the effective config, every default filled in */
    const cfg_node *model; /* borrowed from tree: the `model:` map (NULL only if absent) */

    int64_t seed;
    run_device device;
    int64_t threads; /* CPU threads per rank; 0 = all cores of the rank */
    run_precision precision;
    bool channels_last;
    struct {
        double init_scale, growth_factor, backoff_factor;
        int64_t growth_interval;
    } amp;
    struct {
        const char *train, *val; /* borrowed from tree; NULL when null */
        int64_t batch_size;      /* global, split across ranks */
        int64_t workers, prefetch;
        int64_t synthetic;
        int64_t cache_mb;
        run_train_crop train_crop;
        run_float_list crop_scale, crop_ratio, scale_range;
        int64_t crop_padding;
        bool hflip;
        double brightness, contrast, saturation;
        int64_t eval_resize;
        run_float_list mean, std; /* n = 0: the training set's */
        double noise_std;
    } data;
    struct {
        int64_t epochs, max_steps, accum_steps;
        double grad_clip, mixup, cutmix, ema;
        const char *init_weights; /* NULL: the seed's initialization */
        bool init_strict;
    } train;
    struct {
        run_optim name;
        double lr, momentum;
        bool nesterov;
        double weight_decay;
        bool decay_norm_and_bias;
        run_float_list betas;
        double eps;
        run_lr_scaling lr_scaling;
        int64_t ref_batch;
    } optim;
    struct {
        run_sched name;
        double warmup_epochs;
        int64_t step_size;
        double gamma;
        run_int_list milestones;
        double power, min_lr;
    } sched;
    struct {
        int64_t every, batch_size;
    } eval;
    struct {
        int64_t every, keep;
    } ckpt;
    struct {
        int64_t every;
        log_level level;
        bool pictures, tensorboard;
    } log;
    struct {
        const char *dir; /* borrowed from tree */
    } run;
    struct {
        double bucket_mb;
        bool sync_bn;
        int64_t timeout_s;
        run_transport transport;
    } comm;
    struct {
        int64_t workspace_mb;
        bool deterministic;
    } cuda;
} run_config;

/* What the run is for: training needs data.train; a summary or a printed config does not. */
typedef enum run_purpose { RUN_FOR_TRAINING, RUN_FOR_INSPECTION } run_purpose;

/* Validates tree against the schema (unknown keys with the closest valid key, types,
 * ranges, choices, required keys, cross-key rules), fills every default into it, and fills
 * rc. rc owns tree from this call on, also when it fails: always call run_config_free.
 * path (may be NULL) names the config file; run.dir defaults to runs/<its stem>. */
int run_config_from_tree(cfg_node *tree, const char *path, run_purpose purpose, run_config *rc,
                         cnn_err *e);
/* Parses path, applies the n_sets overrides in order, then run_config_from_tree. */
int run_config_load(const char *path, const char *const *sets, int n_sets, run_purpose purpose,
                    run_config *rc, cnn_err *e);
/* The same from YAML text (a checkpoint's config); name appears in messages. */
int run_config_load_text(const char *text, const char *name, const char *const *sets,
                         int n_sets, run_purpose purpose, run_config *rc, cnn_err *e);
void run_config_free(run_config *rc);

/* data.batch_size / ranks; an error naming a usable multiple when it does not divide. */
int run_config_rank_batch(const run_config *rc, int64_t ranks, int *out, cnn_err *e);
/* The dtype of activations and working weights for `precision` (net_opts.precision). */
dtype run_config_precision_dtype(const run_config *rc);

/* The effective config as YAML (schema order, defaults included); parsing the text again
 * gives the same config. *text is malloc'ed. */
int run_config_to_yaml(const run_config *rc, char **text, cnn_err *e);
/* Whether the config file or a --set gave key (a schema path such as "data.crop_padding"),
 * rather than its default. */
bool run_config_is_set(const run_config *rc, const char *key);
/* Any tree as YAML (block style, short lists and maps in flow style). */
int config_to_yaml(const cfg_node *tree, char **text, cnn_err *e);

/* docs/config.md: every key with type, default, allowed values and meaning (Markdown). */
void config_help(FILE *f);

#endif
