/* The cnn-dist program end to end: exit status 2 with the message on stderr for config and
 * usage errors, 1 for other failures, 0 for --help, --print-config and --summary; the
 * printed config is itself a valid config. CNN_DIST_EXE is set by tests/CMakeLists.txt. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check.h"

#ifndef CNN_DIST_EXE
#error "CNN_DIST_EXE must name the cnn-dist binary"
#endif

static char dir[64], out_path[128], err_path[128];
static char out[1 << 16], err[1 << 14];

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
}

/* Runs cnn-dist with args (shell words); returns the exit status, fills out and err. */
static int run(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd %s && '%s' %s >%s 2>%s", dir, CNN_DIST_EXE, args, out_path,
             err_path);
    int st = system(cmd);
    CHECK(st != -1 && WIFEXITED(st));
    slurp(out_path, out, sizeof out);
    slurp(err_path, err, sizeof err);
    printf("$ cnn-dist %s -> %d\n%s", args, WEXITSTATUS(st), err);
    return WEXITSTATUS(st);
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

static const char good[] = "data: {batch_size: 8}\n"
                           "model:\n"
                           "  input: [1, 8, 8]\n"
                           "  args: {classes: 4}\n"
                           "  layers:\n"
                           "    - {type: conv2d, name: conv, out: 2, kernel: 3, pad: 1}\n"
                           "    - {type: relu, name: relu}\n"
                           "    - {type: flatten, name: flat}\n"
                           "    - {type: linear, name: fc, out: $classes}\n";

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/cnn_cli_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(out_path, sizeof out_path, "%s/out.txt", dir);
    snprintf(err_path, sizeof err_path, "%s/err.txt", dir);
    write_file("good.yaml", good);
    write_file("bad.yaml", "model: {input: [1, 2, 2], layers: [flatten]}\n"
                           "optim:\n  lrr: 0.1\n");

    /* Config errors: 2, the position and the suggestion on stderr, nothing on stdout. */
    CHECK_EQ(run("bad.yaml --print-config"), 2);
    CHECK_STR_CONTAINS(err, "cnn-dist: error: bad.yaml:3:3: unknown key 'optim.lrr'; did you "
                            "mean 'optim.lr'?");
    CHECK_EQ(out[0], '\0');
    CHECK_EQ(run("good.yaml --set optim.lr=x --print-config"), 2);
    CHECK_STR_CONTAINS(err, "<--set optim.lr=x>:1:1: optim.lr: expected a number > 0, got 'x'");
    CHECK_EQ(run("good.yaml --summary --ranks 3"), 2);
    CHECK_STR_CONTAINS(err, "data.batch_size=8 is not divisible by 3 ranks; use a multiple of 3");
    /* Usage errors: 2. A missing file is not a config error: 1. */
    CHECK_EQ(run(""), 2);
    CHECK_STR_CONTAINS(err, "no CONFIG given");
    CHECK_EQ(run("good.yaml --frobnicate"), 2);
    CHECK_STR_CONTAINS(err, "unknown option '--frobnicate'");
    CHECK_EQ(run("good.yaml --ranks zero"), 2);
    CHECK_EQ(run("good.yaml --ranks 2"), 2);
    CHECK_STR_CONTAINS(err, "--ranks goes with --summary");
    CHECK_EQ(run("good.yaml --set"), 2);
    CHECK_STR_CONTAINS(err, "missing value after '--set'");
    CHECK_EQ(run("nosuch.yaml --print-config"), 2);
    CHECK_STR_CONTAINS(err, "cannot open config 'nosuch.yaml': No such file or directory");
    CHECK_EQ(run(". --summary"), 2);
    CHECK_STR_CONTAINS(err, "config '.' is a directory");

    /* Help: 0. */
    CHECK_EQ(run("--help"), 0);
    CHECK_STR_CONTAINS(out, "cnn-dist CONFIG [--set KEY=VALUE ...] [--resume auto|PATH]");
    CHECK_EQ(run("--help-config"), 0);
    CHECK_STR_CONTAINS(out, "| `optim.lr` |");

    /* --print-config: 0, and the output is a config that prints the same. */
    CHECK_EQ(run("good.yaml --set optim.lr=0.2 --set=sched.milestones=[3,6] --print-config"), 0);
    CHECK_STR_CONTAINS(out, "  lr: 0.2\n");
    CHECK_STR_CONTAINS(out, "  milestones: [3, 6]\n");
    CHECK_STR_CONTAINS(out, "  dir: runs/good\n");
    write_file("printed.yaml", out);
    char first[sizeof out];
    memcpy(first, out, sizeof out);
    CHECK_EQ(run("printed.yaml --print-config"), 0);
    CHECK(!strcmp(strchr(out, '\n'), strchr(first, '\n'))); /* all but the header comment */

    /* --summary builds the net; without a flag the run trains, here without data. */
    CHECK_EQ(run("good.yaml --summary --set model.args.classes=3"), 0);
    CHECK_STR_CONTAINS(out, "fc");
    CHECK_EQ(run("good.yaml"), 2);
    CHECK_STR_CONTAINS(err, "data.train is missing");
    CHECK_EQ(run("good.yaml --set data.train=/d/train.h5 --set device=cpu"), 1);
    CHECK_STR_CONTAINS(err, "/d/train.h5");
    CHECK_EQ(run("good.yaml --set data.train=/d/train.h5 --set model.layers.3.out=0"), 2);
    CHECK(strstr(err, "/d/train.h5") == NULL); /* the net's error comes before the data's */

    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
    printf("config_cli: ok\n");
    return 0;
}
