/* The typed run config: defaults from the schema, typed values, and one case per error class
 * (unknown key with suggestion, wrong type, out of range, bad choice, missing required key,
 * cross-key rules), each checked for its position and wording. */
#include "../../src/config/config.h"
#include "../check.h"

static const char model[] = "model: {input: [1, 8, 8], layers: [flatten, {type: linear, out: 2}]}\n";

/* Loads text (with the model appended unless raw); returns the code, e->msg printed. */
static int load_as(const char *text, bool raw, run_purpose purpose, run_config *rc, cnn_err *e)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s%s", text, raw ? "" : model);
    cfg_node *t;
    int r = config_parse_string(buf, strlen(buf), "configs/t.yaml", &t, e);
    if (r == CNN_OK)
        r = run_config_from_tree(t, "configs/t.yaml", purpose, rc, e);
    else
        memset(rc, 0, sizeof *rc);
    if (r < 0)
        printf("  %s\n", e->msg);
    return r;
}

static int load(const char *text, run_purpose purpose, run_config *rc, cnn_err *e)
{
    return load_as(text, false, purpose, rc, e);
}

static void expect_error_as(const char *text, bool raw, run_purpose purpose,
                            const char *fragment)
{
    run_config rc;
    cnn_err e = {0};
    CHECK_EQ(load_as(text, raw, purpose, &rc, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, fragment);
    run_config_free(&rc);
}

static void expect_error(const char *text, run_purpose purpose, const char *fragment)
{
    expect_error_as(text, false, purpose, fragment);
}

static void test_defaults(void)
{
    run_config rc;
    cnn_err e = {0};
    CHECK_EQ(load("", RUN_FOR_INSPECTION, &rc, &e), CNN_OK);
    /* The values CONFIGKEYS.md documents (written here independently of the table). */
    CHECK_EQ(rc.seed, 0);
    CHECK_EQ(rc.device, RUN_DEVICE_AUTO);
    CHECK_EQ(rc.threads, 0);
    CHECK_EQ(rc.precision, RUN_FP32);
    CHECK(!rc.channels_last);
    CHECK(rc.data.train == NULL && rc.data.val == NULL);
    CHECK_EQ(rc.data.batch_size, 256);
    CHECK_EQ(rc.data.workers, 4);
    CHECK_EQ(rc.data.prefetch, 2);
    CHECK_EQ(rc.train.epochs, 90);
    CHECK_EQ(rc.train.max_steps, 0);
    CHECK_EQ(rc.train.accum_steps, 1);
    CHECK_EQ(rc.optim.name, RUN_OPTIM_SGD);
    CHECK_NEAR(rc.optim.lr, 0.1, 0);
    CHECK_NEAR(rc.optim.momentum, 0.9, 0);
    CHECK(!rc.optim.nesterov && rc.optim.decay_norm_and_bias);
    CHECK_NEAR(rc.optim.weight_decay, 1e-4, 0);
    CHECK_EQ(rc.optim.betas.n, 2);
    CHECK_NEAR(rc.optim.betas.v[0], 0.9, 0);
    CHECK_NEAR(rc.optim.betas.v[1], 0.999, 0);
    CHECK_NEAR(rc.optim.eps, 1e-8, 0);
    CHECK_EQ(rc.optim.lr_scaling, RUN_LR_SCALING_NONE);
    CHECK_EQ(rc.optim.ref_batch, 256);
    CHECK_EQ(rc.sched.name, RUN_SCHED_STEP);
    CHECK_NEAR(rc.sched.warmup_epochs, 0, 0);
    CHECK_EQ(rc.sched.step_size, 30);
    CHECK_NEAR(rc.sched.gamma, 0.1, 0);
    CHECK_EQ(rc.sched.milestones.n, 3);
    CHECK(rc.sched.milestones.v[0] == 30 && rc.sched.milestones.v[1] == 60 &&
          rc.sched.milestones.v[2] == 80);
    CHECK_NEAR(rc.sched.power, 2.0, 0);
    CHECK_EQ(rc.eval.every, 1);
    CHECK_EQ(rc.eval.batch_size, 0);
    CHECK_EQ(rc.ckpt.every, 1);
    CHECK_EQ(rc.ckpt.keep, 3);
    CHECK_EQ(rc.log.every, 50);
    CHECK_EQ(rc.log.level, LOG_INFO);
    CHECK(!strcmp(rc.run.dir, "runs/t"));
    CHECK_NEAR(rc.comm.bucket_mb, 25, 0);
    CHECK(!rc.comm.sync_bn);
    CHECK_EQ(rc.comm.timeout_s, 300);
    CHECK_EQ(rc.comm.transport, RUN_TRANSPORT_AUTO);
    CHECK_EQ(rc.cuda.workspace_mb, 2048);
    CHECK(!rc.cuda.deterministic);
    CHECK(rc.model && rc.model->kind == CFG_MAP && cfg_get(rc.model, "layers"));
    /* The defaults are now in the tree: the effective config. */
    CHECK(!strcmp(cfg_get(cfg_get(rc.tree, "optim"), "lr")->str, "0.1"));
    run_config_free(&rc);
    run_config_free(&rc); /* tolerates a freed config */
}

static void test_values(void)
{
    run_config rc;
    cnn_err e = {0};
    CHECK_EQ(load("seed: 42\ndevice: cpu\nprecision: fp32\ndata: {train: /d/train.h5, "
                  "batch_size: 64, workers: 1}\noptim: {name: adamw, lr: 3e-4, nesterov: false, "
                  "betas: [0.8, 0.99]}\nsched: {name: multistep, milestones: [5, 10]}\n"
                  "log: {level: debug}\nrun: {dir: /tmp/r}\ncomm: {transport: mpi, sync_bn: "
                  "True}\n",
                  RUN_FOR_TRAINING, &rc, &e),
             CNN_OK);
    CHECK_EQ(rc.seed, 42);
    CHECK_EQ(rc.device, RUN_DEVICE_CPU);
    CHECK(!strcmp(rc.data.train, "/d/train.h5"));
    CHECK_EQ(rc.data.batch_size, 64);
    CHECK_EQ(rc.data.workers, 1);
    CHECK_EQ(rc.optim.name, RUN_OPTIM_ADAMW);
    CHECK_NEAR(rc.optim.lr, 3e-4, 0);
    CHECK_NEAR(rc.optim.betas.v[0], 0.8, 0);
    CHECK_EQ(rc.sched.name, RUN_SCHED_MULTISTEP);
    CHECK_EQ(rc.sched.milestones.n, 2);
    CHECK_EQ(rc.sched.milestones.v[1], 10);
    CHECK_EQ(rc.log.level, LOG_DEBUG);
    CHECK(!strcmp(rc.run.dir, "/tmp/r"));
    CHECK_EQ(rc.comm.transport, RUN_TRANSPORT_MPI);
    CHECK(rc.comm.sync_bn);
    int b;
    CHECK_EQ(run_config_rank_batch(&rc, 4, &b, &e), CNN_OK);
    CHECK_EQ(b, 16);
    CHECK_EQ(run_config_rank_batch(&rc, 3, &b, &e), CNN_EINVAL);
    printf("  %s\n", e.msg);
    CHECK_STR_CONTAINS(e.msg, "configs/t.yaml:4:40: data.batch_size=64 is not divisible by 3 "
                              "ranks; use a multiple of 3 (e.g. 63)");
    run_config_free(&rc);
    /* Null forms of a string; run.dir from a stem without folder or extension. */
    cfg_node *t;
    const char *nulls = "data: {val: ~, train: }\nmodel: {}\n";
    CHECK_EQ(config_parse_string(nulls, strlen(nulls), "x", &t, &e), CNN_OK);
    CHECK_EQ(run_config_from_tree(t, "resnet.v2.yaml", RUN_FOR_INSPECTION, &rc, &e), CNN_OK);
    CHECK(rc.data.val == NULL && rc.data.train == NULL);
    CHECK(!strcmp(rc.run.dir, "runs/resnet.v2"));
    run_config_free(&rc);
}

static void test_errors(void)
{
    /* Unknown keys: the closest valid key, also across sections and for section names. */
    expect_error("optim: {lr: 0.1, momentun: 0.9}\n",
                 RUN_FOR_INSPECTION, "configs/t.yaml:1:18: unknown key 'optim.momentun'; did "
                                     "you mean 'optim.momentum'?");
    expect_error("lr: 0.1\n", RUN_FOR_INSPECTION, "t.yaml:1:1: unknown key 'lr'; did you mean "
                                                  "'optim.lr'?");
    expect_error("optim.lr: 0.3\n", RUN_FOR_INSPECTION, "t.yaml:1:1: 'optim.lr' is one key with "
                                                        "a dot in it; write it nested: 'optim: "
                                                        "{lr: ...}'");
    expect_error("data: {lr: 0.1}\n", RUN_FOR_INSPECTION, "unknown key 'data.lr'; did you mean "
                                                          "'optim.lr'?");
    expect_error("optimizer: {lr: 0.1}\n", RUN_FOR_INSPECTION, "unknown key 'optimizer'; did "
                                                               "you mean 'optim'?");
    expect_error("data: {batch: 3}\n", RUN_FOR_INSPECTION, "did you mean 'data.batch_size'?");
    expect_error("sched: {zzzzzz: 1}\n", RUN_FOR_INSPECTION,
                 "t.yaml:1:9: unknown key 'sched.zzzzzz'; valid keys in sched: name, "
                 "warmup_epochs, step_size, gamma, milestones, power, min_lr");
    expect_error("qqqqqqqqq: 1\n", RUN_FOR_INSPECTION,
                 "valid keys at the top level: seed, device, threads, precision, channels_last, "
                 "amp, data, train, optim, sched, eval, ckpt, log, run, comm, cuda, model");
    /* Wrong types. */
    expect_error("optim: {lr: fast}\n", RUN_FOR_INSPECTION,
                 "configs/t.yaml:1:13: optim.lr: expected a number > 0, got 'fast'");
    expect_error("data: {batch_size: 12.5}\n", RUN_FOR_INSPECTION,
                 "t.yaml:1:20: data.batch_size: expected an integer between 1 and 1048576, got "
                 "'12.5'");
    expect_error("optim: {nesterov: yes}\n", RUN_FOR_INSPECTION,
                 "optim.nesterov: expected true or false, got 'yes'");
    expect_error("sched: {milestones: 30}\n", RUN_FOR_INSPECTION,
                 "sched.milestones: expected a list of integers like [30, 60], got '30'");
    expect_error("data: {train: [a, b]}\n", RUN_FOR_INSPECTION,
                 "data.train: expected a string (or null), got a list");
    expect_error("data: 3\n", RUN_FOR_INSPECTION, "t.yaml:1:7: 'data' must be a map of keys");
    expect_error_as("- 1\n- 2\n", true, RUN_FOR_INSPECTION, "t.yaml:1:1: a run config is a map "
                                                            "of keys (model, data, optim, ...); "
                                                            "got a list");
    /* Out of range: lr <= 0, batch_size < 1, momentum outside [0, 1), list lengths. */
    expect_error("optim: {lr: 0}\n", RUN_FOR_INSPECTION,
                 "t.yaml:1:13: optim.lr=0 is out of range: expected a number > 0");
    expect_error("optim: {lr: -0.1}\n", RUN_FOR_INSPECTION, "optim.lr=-0.1 is out of range");
    expect_error("data: {batch_size: 0}\n", RUN_FOR_INSPECTION,
                 "data.batch_size=0 is out of range: expected an integer between 1 and 1048576");
    expect_error("optim: {momentum: 1}\n", RUN_FOR_INSPECTION,
                 "optim.momentum=1 is out of range: expected a number >= 0 and < 1");
    expect_error("optim: {momentum: -0.5}\n", RUN_FOR_INSPECTION, "optim.momentum=-0.5 is out");
    expect_error("data: {batch_size: 99999999999999999999}\n", RUN_FOR_INSPECTION,
                 "data.batch_size: expected an integer");
    expect_error("optim: {lr: 1e999}\n", RUN_FOR_INSPECTION, "optim.lr: expected a number");
    expect_error("optim: {lr: nan}\n", RUN_FOR_INSPECTION, "optim.lr: expected a number");
    expect_error("optim: {betas: [0.9]}\n", RUN_FOR_INSPECTION,
                 "optim.betas: expected a list of 2 values, got 1");
    expect_error("sched: {milestones: [10, 0]}\n", RUN_FOR_INSPECTION,
                 "t.yaml:1:26: sched.milestones=0 is out of range");
    expect_error("sched: {milestones: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}\n",
                 RUN_FOR_INSPECTION, "expected a list of 1 to 16 values, got 17");
    /* Choices list the valid names. */
    expect_error("optim: {name: adam}\n", RUN_FOR_INSPECTION,
                 "t.yaml:1:15: optim.name: 'adam' is not one of: sgd, adamw");
    expect_error("device: tpu\n", RUN_FOR_INSPECTION, "device: 'tpu' is not one of: auto, cpu, "
                                                      "cuda");
    /* Cross-key rules. */
    expect_error("sched: {milestones: [30, 20]}\n", RUN_FOR_INSPECTION,
                 "t.yaml:1:26: sched.milestones must increase: 20 comes after 30");
    run_config rc;
    cnn_err e = {0};
    CHECK_EQ(load("device: cpu\nprecision: bf16\nchannels_last: true\n"
                  "amp: {init_scale: 1024}\n", RUN_FOR_INSPECTION, &rc, &e), CNN_OK);
    CHECK_EQ(rc.precision, RUN_BF16);
    CHECK(rc.channels_last);
    CHECK_NEAR(rc.amp.init_scale, 1024, 0);
    CHECK_EQ(rc.amp.growth_interval, 2000);
    run_config_free(&rc);
    expect_error("amp: {backoff_factor: 0}\n", RUN_FOR_INSPECTION, "amp.backoff_factor");
    expect_error("optim: {nesterov: true, momentum: 0}\n", RUN_FOR_INSPECTION,
                 "optim.nesterov needs optim.momentum > 0");
    expect_error("optim: {lr: 0.01}\nsched: {min_lr: 0.1}\n", RUN_FOR_INSPECTION,
                 "sched.min_lr=0.1 is above optim.lr=0.01");
    expect_error("train: {epochs: 3}\nsched: {warmup_epochs: 5}\n", RUN_FOR_INSPECTION,
                 "sched.warmup_epochs=5 is longer than train.epochs=3");
    /* Required keys: data.train only when training; model always. */
    expect_error("", RUN_FOR_TRAINING, "configs/t.yaml (default): data.train is missing: training "
                                       "needs the path of the training set");
    expect_error("data: {train: null}\n", RUN_FOR_TRAINING, "t.yaml:1:15: data.train is "
                                                            "missing");
    expect_error_as("seed: 1\n", true, RUN_FOR_INSPECTION,
                    "configs/t.yaml:1:1: required key 'model' is missing: the network");
    expect_error_as("model: 3\n", true, RUN_FOR_INSPECTION,
                    "t.yaml:1:8: model: expected a map (see docs/models.md), got '3'");
}

/* The loader's limits end hostile documents with an error, quickly. */
static void test_limits(void)
{
    cfg_node *t = NULL;
    cnn_err e = {0};
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                       "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    CHECK_EQ(config_parse_string(bomb, strlen(bomb), "b.yaml", &t, &e), CNN_EINVAL);
    printf("  %s\n", e.msg);
    CHECK_STR_CONTAINS(e.msg, "the config expands to more than 200000 values");
    CHECK(t == NULL);
    const char *two = "seed: 1\n---\nseed: 2\n";
    CHECK_EQ(config_parse_string(two, strlen(two), "two.yaml", &t, &e), CNN_EINVAL);
    printf("  %s\n", e.msg);
    CHECK_STR_CONTAINS(e.msg, "two.yaml:2:1: a second YAML document starts here");
    CHECK(t == NULL);
    const char *self = "a: &a [1, *a]\n";
    CHECK_EQ(config_parse_string(self, strlen(self), "s.yaml", &t, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "nesting deeper than 64 levels");
    static char keys[20000];
    for (int i = 0, off = 0; i <= CONFIG_MAX_KEYS; i++)
        off += snprintf(keys + off, sizeof keys - (size_t)off, "k%d: 1\n", i);
    CHECK_EQ(config_parse_string(keys, strlen(keys), "k.yaml", &t, &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "k.yaml:1:1: a map with more than 1024 keys");
    char *big = malloc((size_t)CONFIG_MAX_BYTES + 1);
    CHECK(big != NULL);
    memset(big, '#', (size_t)CONFIG_MAX_BYTES + 1); /* one long comment */
    CHECK_EQ(config_parse_string(big, (size_t)CONFIG_MAX_BYTES + 1, "big.yaml", &t, &e),
             CNN_EINVAL);
    free(big);
    CHECK_STR_CONTAINS(e.msg, "big.yaml: 4194305 bytes; a config is at most 4194304 bytes");
}

int main(void)
{
    test_limits();
    test_defaults();
    test_values();
    test_errors();
    printf("config_schema: ok\n");
    return 0;
}
