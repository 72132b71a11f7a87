/* sched_lr against PyTorch's schedulers (the definition in src/train/sched.c's header,
 * reproduced in tools/fixtures/make_optim_fixtures.py with LambdaLR for the warmup and
 * StepLR/MultiStepLR/CosineAnnealingLR/PolynomialLR stepped per epoch): every step of
 * 7 epochs x 5 steps per case, within 1e-9 relative (PyTorch chains its factors in double,
 * we evaluate closed forms: the two differ by a few double roundings). Plus hand-computed
 * edge cases. Usage: test_sched [FIXTURE]. */
#include <math.h>

#include "../../src/train/optim.h"
#include "test_optim_util.h"

static run_sched sched_of(const char *name)
{
    static const char *const names[] = {"constant", "step", "multistep", "cosine", "poly"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(name, names[i]))
            return (run_sched)i;
    fprintf(stderr, "unknown schedule '%s'\n", name);
    exit(1);
}

static run_config config_of(const char *cfg)
{
    run_config rc;
    memset(&rc, 0, sizeof rc);
    char buf[256];
    rc.sched.name = sched_of(ou_str(cfg, "name", buf, sizeof buf));
    rc.train.epochs = (int64_t)ou_num(cfg, "epochs");
    rc.optim.lr = ou_num(cfg, "lr");
    rc.sched.warmup_epochs = ou_num(cfg, "warmup");
    rc.sched.step_size = (int64_t)ou_num(cfg, "step_size");
    rc.sched.gamma = ou_num(cfg, "gamma");
    rc.sched.power = ou_num(cfg, "power");
    rc.sched.min_lr = ou_num(cfg, "min_lr");
    rc.optim.lr_scaling = ou_num(cfg, "scaling") != 0 ? RUN_LR_SCALING_LINEAR
                                                      : RUN_LR_SCALING_NONE;
    rc.data.batch_size = (int64_t)ou_num(cfg, "batch");
    rc.optim.ref_batch = (int64_t)ou_num(cfg, "ref");
    char *p = (char *)ou_str(cfg, "milestones", buf, sizeof buf);
    while (*p) {
        CHECK(rc.sched.milestones.n < RUN_LIST_MAX);
        rc.sched.milestones.v[rc.sched.milestones.n++] = strtoll(p, &p, 10);
        if (*p == ',')
            p++;
    }
    return rc;
}

static int check_case(const fixture *f, const char *name)
{
    const char *cfg = ou_rec(f, "sched.%s.config%s", name, "")->data;
    const char *lrs = ou_rec(f, "sched.%s.lrs%s", name, "")->data;
    run_config rc = config_of(cfg);
    int64_t spe = (int64_t)ou_num(cfg, "spe"), steps = rc.train.epochs * spe;
    char *p = (char *)lrs;
    int bad = 0;
    double worst = 0;
    for (int64_t s = 0; s < steps; s++) {
        double want = strtod(p, &p), got = sched_lr(&rc, s, spe);
        double rel = fabs(got - want) / fabs(want);
        if (rel > worst)
            worst = rel;
        if (!(rel <= 1e-9) && bad++ < 5)
            fprintf(stderr, "  %s step %lld: got %.17g, want %.17g\n", name, (long long)s,
                    got, want);
    }
    printf("  %-24s %lld steps  max rel err %.3g%s\n", name, (long long)steps, worst,
           bad ? "  MISMATCH" : "");
    return bad == 0;
}

/* Hand-computed: warmup over 2.5 epochs of 4 steps = 10 steps; cosine past train.epochs
 * stays at min_lr; poly reaches min_lr at the end. */
static void check_edges(void)
{
    run_config rc;
    memset(&rc, 0, sizeof rc);
    rc.optim.lr = 1.0;
    rc.train.epochs = 4;
    rc.sched.name = RUN_SCHED_COSINE;
    rc.sched.min_lr = 0.25;
    rc.sched.warmup_epochs = 2.5;
    CHECK_NEAR(sched_lr(&rc, 0, 4), 0.1, 1e-15);
    CHECK_NEAR(sched_lr(&rc, 9, 4), 1.0, 1e-15);
    CHECK_NEAR(sched_lr(&rc, 10, 4), 1.0, 1e-15);  /* epoch 2, 0 epochs after warmup */
    CHECK_NEAR(sched_lr(&rc, 12, 4), 0.625, 1e-15); /* epoch 3: k=1 of T=2, cos(pi/2) = 0 */
    CHECK_NEAR(sched_lr(&rc, 16, 4), 0.25, 1e-15);
    CHECK_NEAR(sched_lr(&rc, 400, 4), 0.25, 1e-15);
    rc.sched.name = RUN_SCHED_POLY;
    rc.sched.power = 2.0;
    rc.sched.warmup_epochs = 0;
    CHECK_NEAR(sched_lr(&rc, 4, 4), 0.25 + 0.75 * 0.5625, 1e-15); /* (1 - 1/4)^2 */
    CHECK_NEAR(sched_lr(&rc, 99, 4), 0.25, 1e-15);
}

int main(int argc, char **argv)
{
    fixture f;
    ou_load(argc, argv, &f);
    int ok = 1, cases = 0;
    for (int i = 0; i < f.n; i++) {
        const char *nm = f.recs[i].name;
        size_t len = strlen(nm);
        if (strncmp(nm, "sched.", 6) || len < 13 || strcmp(nm + len - 7, ".config"))
            continue;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(len - 13), nm + 6);
        ok &= check_case(&f, name);
        cases++;
    }
    CHECK(cases >= 15);
    check_edges();
    fixture_free(&f);
    if (!ok)
        return 1;
    printf("sched: %d cases ok\n", cases);
    return 0;
}
