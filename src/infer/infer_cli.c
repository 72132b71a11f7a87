/* The command lines of `cnn-dist predict` and `cnn-dist eval`, the run config they read from
 * the checkpoint (or --config), MPI's start and end, and the exit status: 0 ok, 1 a
 * failure, 2 a usage or config error (as cnn-dist CONFIG). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_impl.h"

static const char predict_usage[] =
    "usage: [mpirun -np N] cnn-dist predict CKPT [--config CONFIG] [--set KEY=VALUE ...]\n"
    "           [--classes FILE] [--top K] [--out DIR] [--batch N] [--threads N]\n"
    "           [--noise-std S] FILE|DIR ...\n"
    "\n"
    "Applies the model of checkpoint CKPT to JPEG and PNG files (folders: every image under\n"
    "them, sorted). A classifier prints one JSON line per image, in input order:\n"
    "  {\"file\": \"x.jpg\", \"top\": [{\"class\": \"Sneaker\", \"index\": 7, \"prob\": 0.931}, ...]}\n"
    "(also DIR/predictions.jsonl with --out). A segmenter writes DIR/<stem>_mask.png (class\n"
    "ids) and DIR/<stem>_overlay.png; a denoiser DIR/<stem>_denoised.png; each a JSON line.\n"
    "\n"
    "  --config CONFIG  the model's config instead of the one in CKPT (a weights-only file\n"
    "                   from tools/torch_export.py has none)\n"
    "  --set KEY=VALUE  override a config key (data.mean, data.std, data.eval_resize, device)\n"
    "  --classes FILE   class names, one a line (default: the names stored in CKPT)\n"
    "  --top K          classes per image (default 5)\n"
    "  --out DIR        where outputs go (needed by segmenters and denoisers)\n"
    "  --batch N        images per forward pass on each rank (default 16)\n"
    "  --threads N      CPU threads per rank (default: the config's threads)\n"
    "  --noise-std S    denoiser: add N(0, S^2) noise first, as training does (S in the\n"
    "                   units of data.noise_std), and report the PSNR before and after\n"
    "\n"
    "exit status: 0 ok, 1 some file could not be predicted (each named on stderr) or a\n"
    "failure, 2 usage or config error\n";

static const char eval_usage[] =
    "usage: [mpirun -np N] cnn-dist eval CKPT [--config CONFIG] [--set KEY=VALUE ...]\n"
    "           [--data VAL.h5] [--out DIR]\n"
    "\n"
    "Evaluates the model of checkpoint CKPT as training does, every sample counted once\n"
    "across ranks, and prints and writes DIR/eval.json: loss, top-1, top-5, per-class\n"
    "precision and recall, the confusion matrix and the most confused pairs (classifiers;\n"
    "also DIR/eval_samples.csv, every sample's prediction); pixel accuracy, mIoU and per-class\n"
    "IoU (segmentation); PSNR of the output and of the noisy input (denoising).\n"
    "\n"
    "  --config CONFIG  the model's config instead of the one in CKPT\n"
    "  --set KEY=VALUE  override a config key\n"
    "  --data VAL.h5    the dataset (default: the config's data.val)\n"
    "  --out DIR        where eval.json, eval_samples.csv and confusion.png go (default:\n"
    "                   CKPT's folder/eval-<CKPT's name>, e.g. runs/x/eval-ckpt-000000937)\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 usage or config error\n";

static int usage_error(cnn_err *e, const char *cmd, const char *what, const char *arg)
{
    return CNN_ERR(e, CNN_EINVAL, "%s '%s'; see cnn-dist %s --help", what, arg, cmd);
}

static int int_arg(const char *cmd, const char *opt, const char *v, int lo, int *out,
                   cnn_err *e)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < lo || x > 1 << 20) {
        char what[64];
        snprintf(what, sizeof what, "%s expects an integer >= %d, got", opt, lo);
        return usage_error(e, cmd, what, v);
    }
    *out = (int)x;
    return CNN_OK;
}

/* One option with its value: *i advances past it. 1 when argv[*i] was opt. */
static int take(int argc, char **argv, int *i, const char *opt, const char **v, cnn_err *e,
                const char *cmd)
{
    size_t n = strlen(opt);
    if (strncmp(argv[*i], opt, n) || (argv[*i][n] && argv[*i][n] != '='))
        return 0;
    if (argv[*i][n] == '=') {
        *v = argv[*i] + n + 1;
        return 1;
    }
    if (*i + 1 >= argc)
        return usage_error(e, cmd, "missing value after", opt);
    *v = argv[++*i];
    return 1;
}

static int parse_option(int argc, char **argv, int *i, bool predict, infer_args *a,
                        char **threads_set, cnn_err *e)
{
    const char *cmd = argv[0], *v = NULL;
    int r;
    if ((r = take(argc, argv, i, "--set", &v, e, cmd)))
        return r < 0 ? r : (a->sets[a->n_sets++] = v, CNN_OK);
    if ((r = take(argc, argv, i, "--config", &v, e, cmd)))
        return r < 0 ? r : (a->config = v, CNN_OK);
    if (!predict && (r = take(argc, argv, i, "--data", &v, e, cmd)))
        return r < 0 ? r : (a->data = v, CNN_OK);
    if ((r = take(argc, argv, i, "--out", &v, e, cmd)))
        return r < 0 ? r : (a->out_dir = v, CNN_OK);
    if (predict && (r = take(argc, argv, i, "--classes", &v, e, cmd)))
        return r < 0 ? r : (a->classes_file = v, CNN_OK);
    if (predict && (r = take(argc, argv, i, "--top", &v, e, cmd)))
        return r < 0 ? r : int_arg(cmd, "--top", v, 1, &a->top, e);
    if (predict && (r = take(argc, argv, i, "--batch", &v, e, cmd)))
        return r < 0 ? r : int_arg(cmd, "--batch", v, 1, &a->batch, e);
    if (predict && (r = take(argc, argv, i, "--threads", &v, e, cmd))) {
        int t = 0;
        if (r < 0 || (r = int_arg(cmd, "--threads", v, 1, &t, e)) < 0)
            return r;
        *threads_set = cnn_xmalloc(32);
        snprintf(*threads_set, 32, "threads=%d", t);
        a->sets[a->n_sets++] = *threads_set;
        return CNN_OK;
    }
    if (predict && (r = take(argc, argv, i, "--noise-std", &v, e, cmd))) {
        char *end;
        a->noise_std = r < 0 ? 0 : strtod(v, &end);
        if (r >= 0 && (end == v || *end || !(a->noise_std > 0 && a->noise_std < 1e6)))
            return usage_error(e, cmd, "--noise-std expects a positive number, got", v);
        return r < 0 ? r : CNN_OK;
    }
    return usage_error(e, cmd, "unknown option", argv[*i]);
}

static int parse(int argc, char **argv, infer_args *a, char **threads_set, cnn_err *e)
{
    bool predict = !strcmp(argv[0], "predict");
    *a = (infer_args){.top = 5, .batch = 16, .noise_std = -1};
    a->sets = cnn_xcalloc((size_t)argc + 1, sizeof *a->sets);
    a->inputs = cnn_xcalloc((size_t)argc + 1, sizeof *a->inputs);
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1]) {
            CNN_TRY(e, parse_option(argc, argv, &i, predict, a, threads_set, e));
        } else if (!a->ckpt) {
            a->ckpt = argv[i];
        } else if (predict) {
            a->inputs[a->n_inputs++] = argv[i];
        } else {
            return usage_error(e, argv[0], "one CKPT only; unexpected argument", argv[i]);
        }
    }
    if (!a->ckpt)
        return CNN_ERR(e, CNN_EINVAL, "no CKPT given\n%s", predict ? predict_usage : eval_usage);
    if (predict && !a->n_inputs)
        return CNN_ERR(e, CNN_EINVAL, "no FILE or DIR to predict\n%s", predict_usage);
    return CNN_OK;
}

int infer_load_config(const infer_args *a, run_config *rc, cnn_err *e)
{
    if (a->config)
        return run_config_load(a->config, a->sets, a->n_sets, RUN_FOR_INSPECTION, rc, e);
    char *text = NULL;
    ckpt_meta meta;
    CNN_TRY(e, ckpt_read_meta(a->ckpt, &meta, &text, e));
    if (!text)
        return CNN_ERR(e, CNN_EINVAL, "%s holds weights only, no config (a file from "
                       "tools/torch_export.py, or not a cnn-dist checkpoint): give the model "
                       "with --config CONFIG (e.g. configs/resnet18.yaml)", a->ckpt);
    char name[4200];
    snprintf(name, sizeof name, "%s:config", a->ckpt);
    int r = run_config_load_text(text, name, a->sets, a->n_sets, RUN_FOR_INSPECTION, rc, e);
    free(text);
    return r;
}

/* eval's default --out: CKPT's folder/eval-<CKPT's stem>, so evaluations of several
 * checkpoints (and the training run's own pictures) do not overwrite one another. */
static char *default_eval_dir(const char *ckpt)
{
    const char *slash = strrchr(ckpt, '/');
    int dir_len = slash ? (int)(slash - ckpt) : 1, stem_len;
    const char *base = infer_stem(ckpt, &stem_len);
    size_t n = strlen(ckpt) + 16;
    char *d = cnn_xmalloc(n);
    snprintf(d, n, "%.*s/eval-%.*s", dir_len ? dir_len : 1, slash ? ckpt : ".", stem_len, base);
    return d;
}

static int run_eval(const infer_args *a, comm *c, cnn_err *e)
{
    run_config rc;
    int r = comm_agree(c, infer_load_config(a, &rc, e));
    if (r == CNN_OK) {
        if (!getenv("CNN_LOG"))
            log_set_level(rc.log.level);
        char *dir = a->out_dir ? NULL : default_eval_dir(a->ckpt);
        eval_opts o = {.ckpt = a->ckpt, .data = a->data, .out_dir = a->out_dir ? a->out_dir : dir};
        r = train_evaluate(&rc, c, &o, e);
        free(dir);
    } else if (e->msg[0] == '\0') {
        r = CNN_ERR(e, CNN_ESTATE, "another rank could not read the config");
    }
    run_config_free(&rc);
    return r;
}

int infer_main(int argc, char **argv)
{
    if (!strcmp(argv[0], "filters"))
        return infer_filters_main(argc, argv);
    bool predict = !strcmp(argv[0], "predict");
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(predict ? predict_usage : eval_usage, stdout);
            return 0;
        }
    infer_args a;
    cnn_err e = {0};
    char *threads_set = NULL;
    int r = parse(argc, argv, &a, &threads_set, &e);
    if (r < 0) {
        cnn_err_report("cnn-dist", r, &e, 0, 1);
    } else {
        comm *c = NULL;
        r = comm_init(&argc, &argv, 300.0, &c, &e);
        if (r < 0) {
            cnn_err_report("cnn-dist", r, &e, 0, 1);
        } else {
            r = predict ? predict_run(&a, c, &e) : run_eval(&a, c, &e);
            if (r < 0 && (r != CNN_ESTATE || comm_rank(c) == 0))
                cnn_err_report("cnn-dist", r, &e, comm_rank(c), comm_size(c));
            comm_finalize(c);
        }
    }
    free(a.sets);
    free(a.inputs);
    free(threads_set);
    return r == CNN_OK ? 0 : r == CNN_EINVAL ? 2 : 1;
}
