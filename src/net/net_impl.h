/* Private to src/net: the expander that turns the model language into nodes (net_expand.c,
 * net_scope.c, net_args.c), the memory plan (net_plan.c) and the run (net_run.c).
 * Limits keep any YAML, however hostile, from exhausting time, memory or the stack: node
 * count, block nesting, group nesting and an overall work budget (items visited plus config
 * nodes copied by argument substitution). */
#ifndef CNN_NET_IMPL_H
#define CNN_NET_IMPL_H

#include "net.h"

#define NET_MAX_NODES 10000      /* layers after expansion, the loss included */
#define NET_MAX_BLOCK_DEPTH 16   /* blocks using blocks */
#define NET_MAX_NEST 64          /* groups and block uses inside each other */
#define NET_MAX_WORK 1000000     /* items visited + config nodes copied */
#define NET_ALIGN 64             /* every slot and activation starts on a 64-byte boundary */
#define NET_OPEN (-100)          /* value of a scope whose items are still being emitted */

/* ---- arguments (net_args.c) ---- */
typedef struct net_env {
    const struct net_env *parent; /* the caller's environment; NULL above model.args */
    int n;
    const char **names; /* (n) borrowed from the config */
    cfg_node **vals;    /* (n) owned copies, or borrowed when !owned (model.args) */
    bool owned;
} net_env;

/* ---- scopes and names (net_scope.c) ---- */
typedef enum net_ent_kind { NET_ENT_NODE, NET_ENT_SCOPE, NET_ENT_ALIAS } net_ent_kind;

typedef struct net_scope net_scope;
typedef struct net_ent {
    char name[LAYER_NAME_MAX]; /* local name: "conv1", "0" */
    net_ent_kind kind;
    int value;          /* output: node index or NET_INPUT; NET_OPEN while a scope fills */
    net_scope *child;   /* NET_ENT_SCOPE */
    cfg_mark mark;      /* where it was written */
} net_ent;

struct net_scope {
    char prefix[LAYER_NAME_MAX]; /* full dotted name; "" for the top */
    net_scope *parent;
    net_ent **ents; /* (n_ents) in emission order */
    int n_ents, cap;
    int n_index; /* items emitted so far: the next unnamed item's name */
};

/* One copy of a group or block use being expanded. */
typedef struct net_frame {
    net_scope *sc;      /* where its items' names go (the enclosing scope when spliced) */
    int in;             /* what `in` names */
    const net_env *env; /* arguments visible to its items */
    int depth;
} net_frame;

typedef struct net_expander {
    const cfg_node *blocks; /* model.blocks, or NULL */
    net_node *nodes;        /* (n_nodes) layers created and wired, not inferred */
    int n_nodes, cap_nodes;
    net_scope **scopes; /* every scope, owned, freed at the end */
    int n_scopes, cap_scopes;
    const char *chain[NET_MAX_BLOCK_DEPTH]; /* block uses being expanded, outermost first */
    int n_chain;
    int64_t work;
    /* The first name that matched nothing. Expansion goes on, then it is looked up again in
     * the finished tree to tell a forward reference (a would-be cycle) from a typo. */
    bool pending;
    char pending_name[LAYER_NAME_MAX], pending_what[32], pending_visible[256];
    cfg_mark pending_mark;
    net_scope *pending_sc;
    cnn_err *e;
} net_expander;

/* "file:line:col" of a mark. */
const char *net_where(cfg_mark m, char *buf, size_t n);
/* Spends work; fails once the budget is gone. */
int net_spend(net_expander *x, int64_t units, cfg_mark m);

bool net_is_null(const cfg_node *v);
const cfg_node *net_env_get(const net_env *env, const char *name);
void net_env_free(net_env *env);
/* A deep copy of n in which every scalar written exactly `$name` is replaced by a copy of
 * the argument's value. */
int net_subst(net_expander *x, const cfg_node *n, const net_env *env, cfg_node **out);
/* Checks model.blocks: a map of {args: map, layers: list}. */
int net_blocks_check(const cfg_node *blocks, cnn_err *e);
/* The arguments of copy k of a block use (use is already substituted in the caller's
 * environment; def is the block's definition). */
int net_block_env(net_expander *x, const cfg_node *use, const cfg_node *def, int k,
                  const net_env *caller, net_env *out);
/* The definition a block use names (use substituted), or an error listing the blocks. */
int net_block_find(net_expander *x, const cfg_node *use, const cfg_node **def);
/* Fails when the use would nest blocks too deeply or make a block contain itself. */
int net_block_chain_check(net_expander *x, const cfg_node *use);
/* Argument names a block use may set (args and first), checked with suggestions. */
int net_use_args_check(const cfg_node *use, const cfg_node *def, const char *bname,
                       cnn_err *e);

/* A scope whose full dotted name is full ("" or NULL for the top). */
net_scope *net_scope_new(net_expander *x, net_scope *parent, const char *full);
/* Validates a name written by the user for scope sc: a non-empty string without '.', not
 * reserved, unused in sc, whose full name fits. */
int net_name_check(net_expander *x, const cfg_node *name, net_scope *sc);
/* Adds name to sc (an unnamed item passes NULL and gets the next index; aliases take
 * none); *out (may be NULL) is the entry. */
int net_scope_add(net_expander *x, net_scope *sc, const char *name, net_ent_kind kind,
                  int value, cfg_mark mark, net_ent **out);
/* Full dotted name of local inside sc; fails when it does not fit LAYER_NAME_MAX. */
int net_full_name(net_expander *x, const net_scope *sc, const char *local, cfg_mark m,
                  char *out);
/* Resolves what a name reads (see docs/models.md "Wiring"); what = "input", "indices". */
int net_resolve(net_expander *x, const net_frame *f, const char *name, cfg_mark m,
                const char *what, int *value);
/* Called once expansion ends: turns a pending unknown name into its final error. */
int net_pending_report(net_expander *x);

/* ---- expansion (net_expand.c) ---- */
/* Expands model.layers into x->nodes; *output is the model's output node. */
int net_expand(net_expander *x, const cfg_node *layers, const net_env *top, int *output);
void net_expander_free(net_expander *x);

/* ---- memory plan and binding (net_plan.c) ---- */
enum net_arena {
    NET_A_PARAMS,
    NET_A_GRADS,
    NET_A_BUFFERS,
    NET_A_STATE,
    NET_A_ACT,
    NET_A_DACT,
    NET_A_SCRATCH,
    NET_A_IO,
    NET_A_WORK, /* f16/bf16 or channels-last nets: working weights, their gradients, the
                   input, a channels-last target */
    NET_A_COUNT
};
/* Parameter slots start on this many elements in the f32 masters, so a node's working
 * copies, at its masters' byte offsets scaled by their element size (half for f16/bf16),
 * keep the same element offsets: one convert covers a node's gradients. An f16/bf16 net
 * mirrors all the masters that way (one convert refreshes every weight); an f32
 * channels-last net packs only the nodes with working copies (the convolutions). */
#define NET_PARAM_ALIGN_ELEMS 64

typedef struct net_plan_node {
    size_t act, dact;                 /* offsets of out and dout */
    size_t slot[LAYER_MAX_SLOTS];     /* offset in the slot's arena (params: grads too) */
    size_t scratch[LAYER_MAX_INPUTS]; /* for inputs with acc set */
    bool has_params;
    /* Every parameter of the node has a working copy (f16/bf16, or NHWC in a channels-last
     * net), all of dtype work_dt; work_nhwc: some of them are transposed (KRSC). */
    bool work;
    bool work_nhwc;
    dtype work_dt;
    size_t work_base; /* byte offset of its working copies in NET_A_WORK */
    int live_from, live_to; /* backward steps (0 = the loss) during which dout is live */
} net_plan_node;

typedef struct net_impl {
    net_plan_node *pn; /* (n_nodes) */
    size_t in_off, target_off;
    size_t work_bytes; /* of the working weights; their gradients follow at this offset */
    size_t work_in_off, work_target_off; /* in NET_A_WORK */
    void *arena[NET_A_COUNT];
    /* Bound by net_alloc (data NULL when not needed): f16/bf16 nets: every working weight
     * as one flat tensor, element offsets as params_flat; the input in the net's precision
     * and layout; the 4-D regression target in the net's layout (f32). */
    tensor work_flat, work_input, work_target;
} net_impl;

int net_plan(net *n, cnn_err *e);
void net_unbind(net *n);
/* Points parameter slots at the f32 masters (masters true: initialisers write them) or at
 * the working copies (the state every other call expects). */
void net_bind_params(net *n, bool masters);
/* Views of a node's parameters or gradients, [param_lo, param_hi), in the masters (f32) or
 * the working copies (flat: no layout). */
tensor net_param_range(const net *n, int node, bool grads, bool working);
/* The master view of slot s of node i (f32, NCHW), or its gradient. */
tensor net_master_slot(const net *n, int node, int s, bool grad);

#endif
