/* --set overrides: scalars and flow values, nested keys that exist or not, list indices,
 * replaced subtrees, and errors marked with the override's text (unknown key with its
 * suggestion, wrong type, bad syntax, malformed assignments). */
#include "../../src/config/config.h"
#include "../check.h"

static const char base[] = "optim: {lr: 0.1}\n"
                           "model:\n"
                           "  input: [1, 8, 8]\n"
                           "  args: {classes: 4}\n"
                           "  layers: [flatten, {type: linear, out: $classes}]\n";

static cfg_node *tree(void)
{
    cfg_node *t;
    cnn_err e = {0};
    CHECK_EQ(config_parse_string(base, strlen(base), "s.yaml", &t, &e), CNN_OK);
    return t;
}

/* Applies the overrides, then validates; returns the first error's code. */
static int apply(const char *const *sets, int n, run_config *rc, cnn_err *e)
{
    cfg_node *t = tree();
    memset(rc, 0, sizeof *rc);
    for (int i = 0; i < n; i++) {
        int r = config_set(t, sets[i], e);
        if (r < 0) {
            printf("  %s\n", e->msg);
            cfg_free(t);
            return r;
        }
    }
    int r = run_config_from_tree(t, "s.yaml", RUN_FOR_INSPECTION, rc, e);
    if (r < 0)
        printf("  %s\n", e->msg);
    return r;
}

static void expect_error(const char *set, const char *fragment)
{
    run_config rc;
    cnn_err e = {0};
    const char *sets[] = {set};
    CHECK_EQ(apply(sets, 1, &rc, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, fragment);
    run_config_free(&rc);
}

int main(void)
{
    run_config rc;
    cnn_err e = {0};
    const char *sets[] = {
        "optim.lr=0.2",                 /* existing key */
        "optim.momentum=0.5",           /* new key in an existing section */
        "sched.milestones=[30,60]",     /* flow list into a new section */
        "data={batch_size: 32, workers: 1}", /* a whole section as a flow map */
        "data.workers=2",               /* then a key inside it */
        "model.args.classes=10",        /* free-form model keys */
        "model.layers.1.out=7",         /* list index */
        "model.extra.deep.key=1",       /* intermediate maps created (the net judges it) */
        "data.val=",                    /* empty = null */
        "run.dir=out dir/x: y",         /* YAML text: a plain scalar containing ': ' is a map */
    };
    CHECK_EQ(apply(sets, 9, &rc, &e), CNN_OK);
    CHECK_NEAR(rc.optim.lr, 0.2, 0);
    CHECK_NEAR(rc.optim.momentum, 0.5, 0);
    CHECK_EQ(rc.sched.milestones.n, 2);
    CHECK(rc.sched.milestones.v[0] == 30 && rc.sched.milestones.v[1] == 60);
    CHECK_EQ(rc.data.batch_size, 32);
    CHECK_EQ(rc.data.workers, 2);
    CHECK(rc.data.val == NULL);
    CHECK(!strcmp(cfg_get(cfg_get(rc.model, "args"), "classes")->str, "10"));
    CHECK(!strcmp(cfg_get(cfg_get(rc.model, "layers")->items[1], "out")->str, "7"));
    const cfg_node *deep = cfg_get(cfg_get(cfg_get(rc.model, "extra"), "deep"), "key");
    CHECK(deep && !strcmp(deep->str, "1"));
    /* Marks name the override that made the node. */
    char w[256];
    CHECK(!strcmp(cfg_where(cfg_get(cfg_get(rc.tree, "optim"), "lr"), w, sizeof w),
                  "<--set optim.lr=0.2>:1:1"));
    run_config_free(&rc);
    CHECK_EQ(apply(sets, 10, &rc, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "<--set run.dir=out dir/x: y>:1:1: run.dir: expected a string "
                              "(or null), got a map");
    run_config_free(&rc);

    /* A later override of the same key wins, and replacing a made map frees it cleanly. */
    const char *twice[] = {"optim.lr=0.3", "optim.lr=0.4", "comm.x.y=1", "comm.x=2",
                           "comm={sync_bn: true}"};
    CHECK_EQ(apply(twice, 5, &rc, &e), CNN_OK);
    CHECK_NEAR(rc.optim.lr, 0.4, 0);
    CHECK(rc.comm.sync_bn);
    run_config_free(&rc);

    /* The key of a replaced made map takes the new override's mark (no dangling mark). */
    const char *remade[] = {"comm.x.y=1", "comm.x=2"};
    CHECK_EQ(apply(remade, 2, &rc, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "<--set comm.x=2>:1:1: unknown key 'comm.x'");
    run_config_free(&rc);

    /* Errors cite the override. */
    expect_error("optim.lrr=0.2", "<--set optim.lrr=0.2>:1:1: unknown key 'optim.lrr'; did "
                                  "you mean 'optim.lr'?");
    expect_error("optim.lr=x", "<--set optim.lr=x>:1:1: optim.lr: expected a number > 0, got "
                               "'x'");
    expect_error("optim.lr=-1", "<--set optim.lr=-1>:1:1: optim.lr=-1 is out of range");
    expect_error("nosuch.key=1", "<--set nosuch.key=1>:1:1: unknown key 'nosuch'");
    expect_error("sched.milestones=[30,", "<--set sched.milestones=[30,>:2:1: YAML syntax error");
    expect_error("optim.lr", "--set 'optim.lr': expected KEY=VALUE, e.g. --set optim.lr=0.2");
    expect_error("=3", "expected KEY=VALUE");
    expect_error("optim..lr=1", "'optim..lr' has an empty part");
    expect_error("optim.lr.x=1", "<--set optim.lr.x=1>:1:1: cannot set inside 'optim.lr': it "
                                 "is a single value at s.yaml:1:13, not a map or list");
    expect_error("model.layers.5.out=1", "<--set model.layers.5.out=1>:1:1: 'model.layers' is a "
                                         "list of 2 items; '5' is not an index 0 to 1");
    expect_error("model.layers.x=1", "'model.layers' is a list of 2 items; 'x' is not an index "
                                     "0 to 1");
    char longkey[400];
    memset(longkey, 'a', 300);
    strcpy(longkey + 300, "=1");
    expect_error(longkey, "the key is longer than 255 characters");
    printf("config_set: ok\n");
    return 0;
}
