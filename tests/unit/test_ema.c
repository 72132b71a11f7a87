/* The weight average (src/train/ema.c) on hand-computed values: created equal to the net,
 * one update gives d*A + (1-d)*B over every parameter and buffer; a swap exchanges the
 * net's contents with the average (the layers' views keep their pointers), a second swap
 * restores both bit for bit; the "ema" checkpoint group has one entry per state_dict key and
 * survives ckpt_save/ckpt_load. */
#include "../../src/train/optim.h"
#include "test_checkpoint_util.h"

static const char *const MODEL =
    "model:\n"
    "  input: [2, 2, 2]\n"
    "  layers:\n"
    "    - {type: conv2d, name: c1, out: 3, kernel: 1}\n"
    "    - {type: batch_norm2d, name: bn}\n"
    "    - {type: flatten, name: flatten}\n"
    "    - {type: linear, name: fc, out: 2}\n";

/* Every entry of n equals d*a + (1-d)*b computed on the host (1 float rounding each way). */
static void check_mix(net *n, const float *a, const float *b, const float *live, int k, float d)
{
    const tensor *f = k ? &n->buffers_flat : &n->params_flat;
    int cnt = k ? n->n_buffers : n->n_params;
    const net_entry *ens = k ? n->buffers : n->params;
    for (int i = 0; i < cnt; i++) {
        int64_t off = ((const char *)ens[i].value.data - (const char *)f->data) / 4;
        for (int64_t j = 0; j < tensor_numel(&ens[i].value); j++) {
            double want = (double)d * a[off + j] + (1.0 - d) * b[off + j];
            CHECK_NEAR(live[off + j], want, 1e-6 * (1 + fabs(want)));
        }
    }
}

int main(int argc, char **argv)
{
    /* test_ema [cpu|cuda]: the GPU run exits 77 when there is none. */
    const char *dev = argc > 1 ? argv[1] : "cpu";
    backend *be;
    cnn_err e = {0};
    if (backend_create(dev, 1, &be, &e) < 0) {
        printf("skipped: %s\n", e.msg);
        return strcmp(dev, "cpu") ? 77 : 1;
    }
    ck_net m = ck_build_yaml(MODEL, be);
    net *n = m.n;
    CHECK(n->n_buffers >= 2);
    ck_fill(n, rng_key_from_seed(1));
    float *a[2] = {ck_host(be, &n->params_flat), ck_host(be, &n->buffers_flat)};
    ema *avg;
    CHECK(ema_create(n, 0.75, &avg, &e) == 0);
    ck_fill(n, rng_key_from_seed(2));
    float *b[2] = {ck_host(be, &n->params_flat), ck_host(be, &n->buffers_flat)};
    void *views_before = n->params[0].value.data;
    ema_update(avg);
    ema_swap(avg);
    CHECK(n->params[0].value.data == views_before);
    float *mixed[2] = {ck_host(be, &n->params_flat), ck_host(be, &n->buffers_flat)};
    for (int k = 0; k < 2; k++)
        check_mix(n, a[k], b[k], mixed[k], k, 0.75f);

    int cnt;
    ckpt_tensor *st = ema_state(avg, &cnt);
    CHECK_EQ(cnt, n->n_params + n->n_buffers);
    for (int j = 0; j < cnt; j++) { /* the average now holds B, the net's old contents */
        const net_entry *en = j < n->n_params ? &n->params[j] : &n->buffers[j - n->n_params];
        CHECK(!strcmp(st[j].group, "ema") && !strcmp(st[j].key, en->key));
        const tensor *f = j < n->n_params ? &n->params_flat : &n->buffers_flat;
        int64_t off = ((const char *)en->value.data - (const char *)f->data) / 4;
        float *h = ck_host(be, st[j].t);
        CHECK(!memcmp(h, b[j < n->n_params ? 0 : 1] + off, tensor_bytes(st[j].t)));
        free(h);
    }
    ema_swap(avg);
    float *back[2] = {ck_host(be, &n->params_flat), ck_host(be, &n->buffers_flat)};
    for (int k = 0; k < 2; k++)
        CHECK(!memcmp(back[k], b[k], tensor_bytes(k ? &n->buffers_flat : &n->params_flat)));

    /* Checkpoint round trip of the average into a second net's ema. */
    char *dir = ck_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/ema.h5", dir);
    CHECK(ckpt_save(path, n, NULL, st, cnt, NULL, &e) == 0);
    ck_net m2 = ck_build_yaml(MODEL, be);
    ema *avg2;
    CHECK(ema_create(m2.n, 0.5, &avg2, &e) == 0);
    int cnt2;
    ckpt_tensor *st2 = ema_state(avg2, &cnt2);
    CHECK(ckpt_load(path, m2.n, NULL, st2, cnt2, NULL, &e) == 0);
    for (int j = 0; j < cnt2; j++)
        CHECK(st2[j].found && ck_same(be, st[j].t, st2[j].t));
    ck_rmdir(dir);
    ema_destroy(avg2);
    ck_free(&m2);

    for (int k = 0; k < 2; k++) {
        free(a[k]);
        free(b[k]);
        free(mixed[k]);
        free(back[k]);
    }
    ema_destroy(avg);
    ck_free(&m);
    backend_destroy(be);
    printf("ema: ok\n");
    return 0;
}
