/* The loader on datasets packed in a temporary folder (pack_open/pack_add/pack_finish):
 * every batch holds the sampler's indices, and its images, labels, masks and targets equal
 * a direct single-threaded augment_sample of the same pixels (generated here, not read
 * back) with the key (seed, epoch, index), bit for bit, for 1 and 4 workers; evaluation
 * padding; resume at a middle step; raw gray into a 3-channel net; encoded JPEGs; masks out
 * of the class set and a shard truncated after opening give errors naming the sample. */
#include "../../src/data/data_impl.h"
#include "../../src/data/decode_impl.h"
#include "../../src/data/loader_impl.h"
#include "../check.h"

#include <unistd.h>

#define N 37
#define HH 6
#define WW 5
#define NCLS 4

static char dir[64];

static void pixels(int64_t i, int c, uint8_t *px)
{
    for (int y = 0; y < HH; y++)
        for (int x = 0; x < WW; x++)
            for (int k = 0; k < c; k++)
                px[(y * WW + x) * c + k] = (uint8_t)(i * 31 + y * 7 + x * 13 + k * 50);
}

/* Class ids (i + y + x) % 3 with 255 (ignore) on the first pixel; sample `bad` has a 9. */
static void mask_of(int64_t i, int64_t bad, uint8_t *m)
{
    for (int p = 0; p < HH * WW; p++)
        m[p] = (uint8_t)((i + p / WW + p % WW) % 3);
    m[0] = 255;
    if (i == bad)
        m[HH * WW - 1] = 9;
}

/* Samples 0..N/2-1 in shard 0, the rest in shard 1; jpeg: encoded mode with JPEG bytes. */
static dataset *pack(const char *name, int c, data_task task, bool jpeg, int64_t bad)
{
    char prefix[128], *cls[NCLS] = {"a", "b", "c", "d"};
    snprintf(prefix, sizeof prefix, "%s/%s", dir, name);
    pack_opts po = {.prefix = prefix, .n_shards = 2, .mode = jpeg ? DATA_ENCODED : DATA_RAW,
                    .task = task, .raw_h = HH, .raw_w = WW, .raw_c = c, .source = "test",
                    .classes = cls, .n_classes = task == DATA_SEGMENT ? 3 : NCLS};
    pack_writer *w;
    cnn_err e = {0};
    CHECK_EQ(pack_open(&po, &w, &e), 0);
    for (int64_t i = 0; i < N; i++) {
        uint8_t px[HH * WW * 3], m[HH * WW], *bytes = px;
        size_t len = (size_t)HH * WW * c;
        pixels(i, c, px);
        mask_of(i, bad, m);
        if (jpeg) {
            image im = {HH, WW, c, px};
            CHECK_EQ(encode_jpeg(&im, 90, &bytes, &len, &e), 0);
        }
        bool seg = task == DATA_SEGMENT;
        if (pack_add(w, i < N / 2 ? 0 : 1, bytes, len, seg ? -1 : (int32_t)(i % NCLS), HH, WW,
                     seg ? m : NULL, seg ? sizeof m : 0, &e) != 0) {
            fprintf(stderr, "pack_add: %s\n", e.msg);
            exit(1);
        }
        if (jpeg)
            free(bytes);
    }
    float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.25f, 0.25f, 0.25f};
    CHECK_EQ(pack_finish(w, mean, std, &e), 0);
    char master[160];
    snprintf(master, sizeof master, "%s.h5", prefix);
    dataset *ds;
    /* Uncached, so that check_read_error's truncation after opening reaches pread. */
    dataset_open_opts o = {.verify_blobs = true, .ram_bytes = 0};
    if (dataset_open_with(master, &o, &ds, &e) != 0) {
        fprintf(stderr, "dataset_open: %s\n", e.msg);
        exit(1);
    }
    return ds;
}

static loader_opts opts(const dataset *ds, int b, int rank, int world, bool train, int workers)
{
    loader_opts o = {.ds = ds, .workers = workers, .prefetch = 2, .channels = 3};
    CHECK_EQ(sampler_init(&o.smp, N, b, rank, world, 3, true, train, NULL), 0);
    o.aug = (augment_cfg){.out_h = 4, .out_w = 4, .train = train, .scale = {0.3f, 1},
                          .ratio = {0.75f, 4.0f / 3}, .hflip = true, .brightness = 0.4f,
                          .contrast = 0.4f, .saturation = 0.4f, .mean = {0.5f, 0.4f, 0.3f},
                          .std = {0.2f, 0.25f, 0.3f}};
    o.key = rng_fold(rng_key_from_seed(99), 1);
    return o;
}

/* What the loader must have produced for sample idx, from the generated pixels. */
static void reference(const loader_opts *o, const dataset *ds, int64_t epoch, int64_t idx,
                      float *img, int32_t *lab, float *tgt)
{
    const dataset_info *in = dataset_get_info(ds);
    augment_cfg a = o->aug;
    a.channels = o->channels;
    rng_key key = rng_fold(rng_fold(o->key, (uint64_t)epoch), (uint64_t)idx);
    uint8_t px[HH * WW * 3], m[HH * WW];
    pixels(idx, in->mode == DATA_RAW ? in->raw_c : 3, px);
    image im = {HH, WW, in->mode == DATA_RAW ? in->raw_c : 3, px}, dec = {0};
    if (in->mode == DATA_ENCODED) { /* the same bytes through the same decoder */
        uint8_t *bytes;
        size_t len;
        CHECK_EQ(encode_jpeg(&im, 90, &bytes, &len, NULL), 0);
        CHECK_EQ(image_decode(bytes, len, 3, loader_min_side(&a, in->task), &dec, NULL), 0);
        free(bytes);
        im = dec;
    }
    bool seg = in->task == DATA_SEGMENT;
    mask_of(idx, -1, m);
    image mk = {HH, WW, 1, m};
    augment_sample(&a, key, &im, seg ? &mk : NULL, img, seg ? lab : NULL, tgt);
    if (seg)
        for (int p = 0; p < a.out_h * a.out_w; p++)
            lab[p] = lab[p] == 255 ? -100 : lab[p];
    else
        *lab = (int32_t)(idx % NCLS);
    image_free(&dec);
}

/* Runs epoch `epoch` from `first` and compares every slot with the reference. */
static int64_t run(const loader_opts *o, int64_t epoch, int64_t first)
{
    loader *ld;
    cnn_err e = {0};
    CHECK_EQ(loader_create(o, &ld, &e), 0);
    CHECK_EQ(loader_start_epoch(ld, epoch, first, &e), 0);
    const dataset_info *in = dataset_get_info(o->ds);
    size_t ie = 3 * 16, le = in->task == DATA_SEGMENT ? 16 : 1;
    int64_t perm[N], idx[64], checked = 0;
    sampler_perm(&o->smp, epoch, perm);
    float ref[3 * 16], tref[3 * 16];
    int32_t lref[16];
    const batch *b;
    int64_t st = first;
    for (;; st++) {
        CHECK_EQ(loader_next(ld, &b, &e), 0);
        if (!b)
            break;
        CHECK_EQ(b->step, st);
        sampler_slice(&o->smp, perm, st, idx);
        CHECK((b->targets != NULL) == (o->aug.noise_std > 0));
        for (int k = 0; k < b->n; k++) {
            CHECK_EQ(b->index[k], idx[k]);
            if (idx[k] < 0) {
                CHECK_EQ(b->labels[k * le], -100);
                CHECK_EQ(b->images[k * ie + 7], 0);
                continue;
            }
            reference(o, o->ds, epoch, idx[k], ref, lref, tref);
            CHECK_EQ(memcmp(b->images + k * ie, ref, sizeof ref), 0);
            CHECK_EQ(memcmp(b->labels + k * le, lref, le * sizeof(int32_t)), 0);
            if (b->targets)
                CHECK_EQ(memcmp(b->targets + k * ie, tref, sizeof tref), 0);
            checked++;
        }
    }
    CHECK_EQ(st, sampler_steps(&o->smp));
    loader_destroy(ld);
    return checked;
}

static void check_classify(void)
{
    dataset *ds = pack("cls", 3, DATA_CLASSIFY, false, -1);
    for (int workers = 1; workers <= 4; workers += 3) {
        loader_opts o = opts(ds, 8, 1, 2, true, workers);
        CHECK_EQ(run(&o, 0, 0), 4 * 4); /* 4 steps of 4 per rank, 5 samples dropped */
        CHECK_EQ(run(&o, 1, 2), 2 * 4); /* resume in the middle */
        o.aug.noise_std = 0.2f;          /* denoising targets */
        CHECK_EQ(run(&o, 2, 0), 4 * 4);
        /* Evaluation: 5 steps, the last holds samples 32..36 = 4 on rank 0, 1 on rank 1. */
        int64_t seen = 0;
        for (int r = 0; r < 2; r++) {
            o = opts(ds, 8, r, 2, false, workers);
            o.aug.resize = 5;
            seen += run(&o, 0, 0);
        }
        CHECK_EQ(seen, N);
    }
    dataset_close(ds);
    ds = pack("gray", 1, DATA_CLASSIFY, false, -1); /* raw gray into 3 channels */
    loader_opts o = opts(ds, 8, 0, 1, true, 2);
    CHECK_EQ(run(&o, 0, 0), 32);
    dataset_close(ds);
    ds = pack("jpeg", 3, DATA_CLASSIFY, true, -1);
    o = opts(ds, 8, 0, 1, true, 3);
    CHECK_EQ(run(&o, 0, 0), 32);
    dataset_close(ds);
}

static void check_segment(void)
{
    dataset *ds = pack("seg", 3, DATA_SEGMENT, false, -1);
    loader_opts o = opts(ds, 4, 0, 1, true, 3);
    CHECK_EQ(run(&o, 0, 0), 36);
    dataset_close(ds);
    ds = pack("segbad", 3, DATA_SEGMENT, false, 11);
    o = opts(ds, 4, 0, 1, false, 3);
    loader *ld;
    cnn_err e = {0};
    CHECK_EQ(loader_create(&o, &ld, &e), 0);
    CHECK_EQ(loader_start_epoch(ld, 0, 0, &e), 0);
    const batch *b;
    int rc;
    while ((rc = loader_next(ld, &b, &e)) == 0 && b)
        ;
    CHECK_EQ(rc, CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "sample 11: mask value 9");
    loader_destroy(ld);
    dataset_close(ds);
}

/* A shard cut short after validation: pread comes back short for its samples. */
static void check_read_error(void)
{
    dataset *ds = pack("cut", 3, DATA_CLASSIFY, false, -1);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s/cut", dir);
    char *shard = data_shard_name(prefix, 1, 2, false);
    CHECK_EQ(truncate(shard, 2048), 0);
    loader_opts o = opts(ds, 8, 0, 1, false, 4);
    loader *ld;
    cnn_err e = {0};
    CHECK_EQ(loader_create(&o, &ld, &e), 0);
    CHECK_EQ(loader_start_epoch(ld, 0, 0, &e), 0);
    const batch *b;
    int rc;
    while ((rc = loader_next(ld, &b, &e)) == 0 && b)
        ;
    CHECK(rc < 0);
    printf("  read error: %s\n", e.msg);
    CHECK_STR_CONTAINS(e.msg, "reading sample ");
    CHECK_STR_CONTAINS(e.msg, shard);
    loader_destroy(ld);
    dataset_close(ds);
    free(shard);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/cnn_loader_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    check_classify();
    check_segment();
    check_read_error();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
    printf("loader_data: ok\n");
    return 0;
}
