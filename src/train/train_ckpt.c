/* The run directory's checkpoints: RUN_DIR/ckpt-<step, 9 digits>.h5, written by rank 0
 * (atomically, by ckpt_save; every rank holds the same weights and statistics), the oldest
 * beyond ckpt.keep removed; resuming loads one on every rank (rank 0 chooses which and
 * broadcasts the name) with the optimizer state, the EMA and the run's position, so the
 * next steps are those the run would have taken without stopping. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../io/io.h"
#include "trainer_impl.h"

/* optim.name as the config spells it (run_optim order), stored as "optimizer" in checkpoints. */
static const char *const optim_names[] = {"sgd", "adamw"};

#define CKPT_PATH_MAX 4096

/* Steps of the checkpoints in dir, ascending; *n_out of them (0 when dir is missing). */
static int64_t *list_ckpts(const char *dir, int *n_out)
{
    int n = 0, cap = 0;
    int64_t *v = NULL;
    DIR *d = opendir(dir);
    for (struct dirent *de; d && (de = readdir(d));) {
        long long step;
        int end = 0;
        if (sscanf(de->d_name, "ckpt-%lld.h5%n", &step, &end) == 1 && !de->d_name[end]) {
            v = cnn_xgrow(v, &cap, sizeof *v);
            int i = n++;
            for (; i > 0 && v[i - 1] > step; i--)
                v[i] = v[i - 1];
            v[i] = step;
        }
    }
    if (d)
        closedir(d);
    *n_out = n;
    return v;
}

static void ckpt_path(const char *dir, int64_t step, char *buf)
{
    snprintf(buf, CKPT_PATH_MAX, "%s/ckpt-%09lld.h5", dir, (long long)step);
}

/* Rank 0 picks the file: NULL/"auto"/a path (train_opts.resume); "" = start fresh. */
static int choose(const trainer *t, char *path, cnn_err *e)
{
    const char *dir = t->rc->run.dir, *want = t->opts->resume;
    int n;
    int64_t *steps = list_ckpts(dir, &n);
    int rc = CNN_OK;
    path[0] = '\0';
    if (want && strcmp(want, "auto")) {
        snprintf(path, CKPT_PATH_MAX, "%s", want);
        if (access(path, R_OK))
            rc = CNN_ERR(e, CNN_EIO, "--resume %s: %s", want, strerror(errno));
    } else if (n > 0 && want) {
        ckpt_path(dir, steps[n - 1], path);
    } else if (n > 0) {
        rc = CNN_ERR(e, CNN_EINVAL, "run.dir %s already holds checkpoints (the latest is "
                     "ckpt-%09lld.h5): continue that run with --resume auto, or start a new "
                     "one in another run.dir (--set run.dir=PATH)", dir,
                     (long long)steps[n - 1]);
    }
    free(steps);
    return rc;
}

/* The optimizer's and the EMA's tensors, as checkpoints carry them. */
static ckpt_tensor *extras(trainer *t, int *n_out)
{
    int no, ne = 0;
    ckpt_tensor *o = optim_state(t->opt, &no);
    ckpt_tensor *m = t->avg ? ema_state(t->avg, &ne) : NULL;
    ckpt_tensor *all = cnn_xcalloc((size_t)(no + ne) + 1, sizeof *all);
    memcpy(all, o, (size_t)no * sizeof *all);
    if (ne)
        memcpy(all + no, m, (size_t)ne * sizeof *all);
    *n_out = no + ne;
    return all;
}

static int load(trainer *t, const char *path, cnn_err *e)
{
    int n_extra;
    ckpt_tensor *ex = extras(t, &n_extra);
    ckpt_meta m = {0};
    int rc = ckpt_load(path, t->n, &m, ex, n_extra, NULL, e);
    int no, ne = 0; /* the owners' arrays learn what the file had */
    ckpt_tensor *os = optim_state(t->opt, &no), *es = t->avg ? ema_state(t->avg, &ne) : NULL;
    for (int i = 0; i < no; i++)
        os[i].found = ex[i].found;
    for (int i = 0; i < ne; i++)
        es[i].found = ex[no + i].found;
    if (rc >= 0 && !m.present)
        rc = CNN_ERR(e, CNN_EINVAL, "%s holds weights only (no training state); to start a "
                     "run from these weights set train.init_weights=%s (without --resume)",
                     path, path);
    const char *opt = optim_names[t->rc->optim.name];
    if (rc >= 0 && m.optimizer[0] && strcmp(m.optimizer, opt))
        rc = CNN_ERR(e, CNN_EINVAL, "%s was trained with optim.name %s, but the config says %s: "
                     "its optimizer state cannot carry over; resume with optim.name: %s, or "
                     "start a new run from its weights (train.init_weights=%s)", path,
                     m.optimizer, opt, m.optimizer, path);
    if (rc >= 0 && m.samples_seen != samples_seen(t, m.epoch, m.sampler_pos))
        rc = CNN_ERR(e, CNN_EINVAL, "%s was written with another data.batch_size or training "
                     "set (it has seen %lld samples at epoch %lld, position %lld); resume with "
                     "the same data and batch", path, (long long)m.samples_seen,
                     (long long)m.epoch, (long long)m.sampler_pos);
    if (rc >= 0 && t->rank == 0 && m.seed != (uint64_t)t->rc->seed)
        log_warn("%s continues the random streams of seed %llu; the config's seed %lld is not "
                 "used on resume", path, (unsigned long long)m.seed, (long long)t->rc->seed);
    if (rc >= 0) {
        t->epoch = m.epoch;
        t->step = m.step;
        t->micro = m.sampler_pos;
        t->seed = m.seed;
        t->root = m.key;
        optim_loaded(t->opt);
        for (int i = 0; t->avg && i < n_extra; i++)
            if (!strcmp(ex[i].group, "ema") && !ex[i].found)
                rc = CNN_ERR(e, CNN_EINVAL, "%s has no EMA weights but train.ema is on; "
                             "resume with the run's own config", path);
        t->last_ckpt_step = t->step;
    }
    free(ex);
    return rc;
}

int trainer_resume(trainer *t, cnn_err *e)
{
    char path[CKPT_PATH_MAX], dir[CKPT_PATH_MAX];
    int rc = CNN_OK;
    t->last_ckpt_step = t->last_eval_step = -1;
    if (t->rank == 0) {
        snprintf(dir, sizeof dir, "%s/", t->rc->run.dir);
        rc = io_mkdir_parents(dir, e);
        if (rc >= 0)
            rc = choose(t, path, e);
    }
    int all = comm_agree(t->c, rc);
    if (all < 0)
        return rc < 0 ? rc : CNN_ERR(e, CNN_ESTATE, "rank 0 could not prepare run.dir");
    comm_bcast_bytes(t->c, path, sizeof path, 0, "checkpoint path");
    if (!path[0]) /* a fresh start: from train.init_weights when given */
        return trainer_init_weights_file(t, e);
    if (t->rank == 0)
        printf("cnn-dist: resuming from %s\n", path);
    rc = load(t, path, e);
    all = comm_agree(t->c, rc);
    if (all < 0 && rc >= 0)
        return CNN_ERR(e, CNN_ESTATE, "another rank could not load %s", path);
    return all;
}

/* Removes the oldest checkpoints beyond ckpt.keep. */
static void prune(const trainer *t)
{
    int n;
    int64_t *steps = list_ckpts(t->rc->run.dir, &n);
    for (int i = 0; t->rc->ckpt.keep > 0 && i < n - t->rc->ckpt.keep; i++) {
        char p[CKPT_PATH_MAX];
        ckpt_path(t->rc->run.dir, steps[i], p);
        if (unlink(p) < 0)
            fprintf(stderr, "cnn-dist: warning: cannot remove old checkpoint %s: %s\n", p,
                    strerror(errno));
    }
    free(steps);
}

int trainer_checkpoint(trainer *t, cnn_err *e)
{
    int rc = CNN_OK;
    trainer_phase(t, "checkpoint at step %lld", (long long)t->step);
    trainer_stall_point(t, "ckpt");
    if (t->rank == 0) {
        char path[CKPT_PATH_MAX], *text = NULL;
        ckpt_path(t->rc->run.dir, t->step, path);
        int n_extra;
        ckpt_tensor *ex = extras(t, &n_extra);
        ckpt_meta m = {.present = true, .epoch = t->epoch, .step = t->step,
                       .samples_seen = samples_seen(t, t->epoch, t->micro),
                       .sampler_pos = t->micro,
                       .seed = t->seed, .key = t->root, .info = &t->info};
        snprintf(m.optimizer, sizeof m.optimizer, "%s", optim_names[t->rc->optim.name]);
        rc = run_config_to_yaml(t->rc, &text, e);
        if (rc >= 0)
            rc = ckpt_save(path, t->n, &m, ex, n_extra, text, e);
        if (rc >= 0)
            prune(t);
        free(text);
        free(ex);
    }
    int all = comm_agree(t->c, rc);
    if (all < 0 && rc >= 0)
        return CNN_ERR(e, CNN_ESTATE, "rank 0 could not write the checkpoint");
    t->last_ckpt_step = t->step;
    return all;
}
