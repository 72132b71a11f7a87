/* cnn-dist: the trainer's command line. Reads the run config (YAML + --set overrides),
 * validates every key against the schema, then trains on every MPI rank (train_run), or
 * prints the effective config or the per-layer summary without starting MPI; `predict`
 * and `eval` apply a checkpoint (src/infer).
 * Exit status: 0 ok, 2 config or usage error (CNN_EINVAL), 1 any other failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "config/config.h"
#include "infer/infer.h"
#include "net/net.h"
#include "train/train.h"

static const char usage[] =
    "usage: [mpirun -np N] cnn-dist CONFIG [--set KEY=VALUE ...] [--resume auto|PATH]\n"
    "       cnn-dist CONFIG [--set ...] --print-config | --summary [--ranks N]\n"
    "       [mpirun -np N] cnn-dist predict CKPT [...] FILE|DIR ...   (predict --help)\n"
    "       [mpirun -np N] cnn-dist eval CKPT [--data VAL.h5] [...]    (eval --help)\n"
    "       cnn-dist filters CKPT [--layer NAME] [--out PNG]             (filters --help)\n"
    "       cnn-dist --help | --help-config\n"
    "\n"
    "  CONFIG          the run's YAML file (model, data, optim, ...; docs/config.md)\n"
    "  --set KEY=VALUE override a key; VALUE is YAML: --set optim.lr=0.2,\n"
    "                  --set sched.milestones=[30,60], --set model.args.num_classes=10\n"
    "  --resume auto   continue from the latest checkpoint in run.dir (start fresh when\n"
    "                  there is none); --resume PATH continues from that checkpoint\n"
    "  --hash-weights  print every rank's weight hash at the end (replicas must agree)\n"
    "  --print-config  print the effective config (every default filled in) and exit\n"
    "  --summary       print per layer: output shape, parameters, multiply-adds, receptive\n"
    "                  field; then totals and the memory of one training step per rank\n"
    "  --ranks N       ranks the global data.batch_size is split across (default 1)\n"
    "  --help-config   print every config key with type, default and meaning (Markdown)\n"
    "\n"
    "exit status: 0 ok, 2 config or usage error, 1 other failure\n";

typedef struct cli {
    const char *path;
    const char **sets; /* (n_sets) */
    int n_sets;
    bool print_config, summary, hash_weights;
    long long ranks;
    const char *resume;
} cli;

static int usage_error(cnn_err *e, const char *what, const char *arg)
{
    return CNN_ERR(e, CNN_EINVAL, "%s '%s'; see cnn-dist --help", what, arg);
}

/* The value of "--opt VALUE" or "--opt=VALUE"; NULL when arg is not opt. */
static const char *opt_value(int argc, char **argv, int *i, const char *opt, cnn_err *e,
                             int *rc)
{
    size_t n = strlen(opt);
    if (strncmp(argv[*i], opt, n))
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n])
        return NULL;
    if (*i + 1 >= argc) {
        *rc = usage_error(e, "missing value after", opt);
        return NULL;
    }
    return argv[++*i];
}

static int parse_args(int argc, char **argv, cli *c, cnn_err *e)
{
    c->sets = cnn_xcalloc((size_t)argc, sizeof *c->sets);
    c->ranks = 1;
    bool ranks_given = false;
    for (int i = 1; i < argc; i++) {
        int rc = CNN_OK;
        const char *v;
        char *end;
        if ((v = opt_value(argc, argv, &i, "--set", e, &rc)))
            c->sets[c->n_sets++] = v;
        else if ((v = opt_value(argc, argv, &i, "--ranks", e, &rc))) {
            c->ranks = strtoll(v, &end, 10);
            ranks_given = true;
            if (*end || end == v || c->ranks < 1)
                return usage_error(e, "--ranks expects a positive integer, got", v);
        } else if ((v = opt_value(argc, argv, &i, "--resume", e, &rc)))
            c->resume = v;
        else if (rc < 0)
            return rc;
        else if (!strcmp(argv[i], "--print-config"))
            c->print_config = true;
        else if (!strcmp(argv[i], "--summary"))
            c->summary = true;
        else if (!strcmp(argv[i], "--hash-weights"))
            c->hash_weights = true;
        else if (argv[i][0] == '-' && argv[i][1])
            return usage_error(e, "unknown option", argv[i]);
        else if (c->path)
            return usage_error(e, "one CONFIG only; unexpected argument", argv[i]);
        else
            c->path = argv[i];
    }
    if (!c->path)
        return CNN_ERR(e, CNN_EINVAL, "no CONFIG given\n%s", usage);
    if (ranks_given && !c->summary)
        return CNN_ERR(e, CNN_EINVAL, "--ranks goes with --summary (a training run has the "
                       "ranks mpirun starts)\n%s", usage);
    return CNN_OK;
}

static int print_config(const run_config *rc, const char *path, cnn_err *e)
{
    char *text;
    CNN_TRY(e, run_config_to_yaml(rc, &text, e));
    printf("# effective config of ");
    for (const char *p = path; *p; p++) /* a comment line must stay one line */
        putchar((unsigned char)*p < ' ' ? '?' : *p);
    printf(" (every default filled in)\n%s", text);
    free(text);
    return CNN_OK;
}

static int inspect(const cli *c, const run_config *rc, cnn_err *e)
{
    int batch = 0;
    net *n = NULL;
    if (c->print_config)
        CNN_TRY(e, print_config(rc, c->path, e));
    if (!c->summary)
        return CNN_OK;
    CNN_TRY(e, run_config_rank_batch(rc, c->ranks, &batch, e));
    net_opts no = train_net_opts(rc);
    CNN_TRY(e, net_create_opts(rc->model, batch, &no, &n, e));
    net_summary_print(n, stdout);
    net_destroy(n);
    return CNN_OK;
}

/* Every rank reads the config before MPI starts; only the first prints its errors. */
static bool first_rank_by_env(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                                       "SLURM_PROCID", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i]))
            return atoi(getenv(vars[i])) == 0;
    return true;
}

static int train(int *argc, char ***argv, const cli *c, const run_config *rc)
{
    cnn_err e = {0};
    comm *cm;
    /* before MPI's start-up, which takes a while: a stop request (SLURM's --signal, a
     * requeue) that arrives then is kept for the first step, not fatal */
    train_catch_signals();
    int r = comm_init(argc, argv, (double)rc->comm.timeout_s, &cm, &e);
    if (r < 0) {
        cnn_err_report("cnn-dist", r, &e, 0, 1);
        return r;
    }
    train_opts o = {.config_path = c->path, .resume = c->resume,
                    .hash_weights = c->hash_weights};
    r = train_run(rc, cm, &o, &e);
    /* Ranks that only learned that another failed stay quiet; rank 0 says it once. */
    if (r < 0 && (r != CNN_ESTATE || comm_rank(cm) == 0))
        cnn_err_report("cnn-dist", r, &e, comm_rank(cm), comm_size(cm));
    comm_finalize(cm);
    return r;
}

static int run(int *argc, char ***argv, const cli *c)
{
    bool inspecting = c->print_config || c->summary;
    cnn_err e = {0};
    run_config rc;
    int r = run_config_load(c->path, c->sets, c->n_sets,
                            inspecting ? RUN_FOR_INSPECTION : RUN_FOR_TRAINING, &rc, &e);
    if (r == CNN_OK && !getenv("CNN_LOG")) /* the variable wins over log.level */
        log_set_level(rc.log.level);
    if (r == CNN_OK && inspecting)
        r = inspect(c, &rc, &e);
    if (r < 0 && first_rank_by_env())
        cnn_err_report("cnn-dist", r, &e, 0, 1);
    else if (r == CNN_OK && !inspecting)
        r = train(argc, argv, c, &rc);
    run_config_free(&rc);
    return r;
}

int main(int argc, char **argv)
{
    log_init_from_env();
    if (argc > 1 && (!strcmp(argv[1], "predict") || !strcmp(argv[1], "eval") ||
                     !strcmp(argv[1], "filters")))
        return infer_main(argc - 1, argv + 1);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--help-config")) {
            config_help(stdout);
            return 0;
        }
    }
    cli c = {0};
    cnn_err e = {0};
    int r = parse_args(argc, argv, &c, &e);
    if (r < 0)
        cnn_err_report("cnn-dist", r, &e, 0, 1);
    else
        r = run(&argc, &argv, &c);
    free(c.sets);
    return r == CNN_OK ? 0 : r == CNN_EINVAL ? 2 : 1;
}
