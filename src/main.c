/* cnn-dist: the trainer's command line. Reads the run config (YAML + --set overrides),
 * validates every key against the schema, builds the network, and prints the effective
 * config or the per-layer summary. Training itself arrives with issue #6; until then a run
 * without --summary/--print-config validates everything and says so.
 * Exit status: 0 ok, 2 config or usage error (CNN_EINVAL), 1 any other failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "net/net.h"

static const char usage[] =
    "usage: cnn-dist CONFIG [--set KEY=VALUE ...] [--print-config] [--summary] [--ranks N]\n"
    "       cnn-dist --help | --help-config\n"
    "\n"
    "  CONFIG          the run's YAML file (model, data, optim, ...; docs/config.md)\n"
    "  --set KEY=VALUE override a key; VALUE is YAML: --set optim.lr=0.2,\n"
    "                  --set sched.milestones=[30,60], --set model.args.num_classes=10\n"
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
    bool print_config, summary;
    long long ranks;
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
    for (int i = 1; i < argc; i++) {
        int rc = CNN_OK;
        const char *v;
        char *end;
        if ((v = opt_value(argc, argv, &i, "--set", e, &rc)))
            c->sets[c->n_sets++] = v;
        else if ((v = opt_value(argc, argv, &i, "--ranks", e, &rc))) {
            c->ranks = strtoll(v, &end, 10);
            if (*end || end == v || c->ranks < 1)
                return usage_error(e, "--ranks expects a positive integer, got", v);
        } else if (rc < 0)
            return rc;
        else if (!strcmp(argv[i], "--print-config"))
            c->print_config = true;
        else if (!strcmp(argv[i], "--summary"))
            c->summary = true;
        else if (argv[i][0] == '-' && argv[i][1])
            return usage_error(e, "unknown option", argv[i]);
        else if (c->path)
            return usage_error(e, "one CONFIG only; unexpected argument", argv[i]);
        else
            c->path = argv[i];
    }
    if (!c->path)
        return CNN_ERR(e, CNN_EINVAL, "no CONFIG given\n%s", usage);
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

static int run(const cli *c, cnn_err *e)
{
    bool inspect = c->print_config || c->summary;
    run_config rc;
    int r = run_config_load(c->path, c->sets, c->n_sets,
                            inspect ? RUN_FOR_INSPECTION : RUN_FOR_TRAINING, &rc, e);
    int batch = 0;
    if (r == CNN_OK && !getenv("CNN_LOG")) /* the variable wins over log.level */
        log_set_level(rc.log.level);
    if (r == CNN_OK && c->print_config)
        r = print_config(&rc, c->path, e);
    if (r == CNN_OK && (c->summary || !inspect))
        r = run_config_rank_batch(&rc, c->ranks, &batch, e);
    net *n = NULL;
    if (r == CNN_OK && (c->summary || !inspect))
        r = net_create(rc.model, batch, &n, e);
    if (r == CNN_OK && c->summary)
        net_summary_print(n, stdout);
    if (r == CNN_OK && !inspect)
        r = CNN_ERR(e, CNN_EINVAL, "%s is valid, but training is not available yet (issue "
                    "#6): use --summary or --print-config", c->path);
    net_destroy(n);
    run_config_free(&rc);
    return r;
}

int main(int argc, char **argv)
{
    log_init_from_env();
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
    if (r == CNN_OK)
        r = run(&c, &e);
    free(c.sets);
    if (r < 0) {
        fflush(stdout);
        fprintf(stderr, "cnn-dist: error: %s\n", e.msg);
        if (r != CNN_EINVAL && r != CNN_EIO) /* a fault: where it came from helps */
            fprintf(stderr, "  (at %s)\n", e.trace);
    }
    return r == CNN_OK ? 0 : r == CNN_EINVAL ? 2 : 1;
}
