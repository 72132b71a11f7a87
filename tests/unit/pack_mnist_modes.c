/* cnn-pack mnist --mode raw and --mode encoded on a small MNIST-format fixture written here
 * (idx layout after the format's description: big-endian magic 0x803/0x801 and dimensions,
 * then uint8 data; images plain, labels gzip'ed). Truth is the fixture's own bytes: every
 * raw sample reads back as them, every encoded sample is a PNG that decodes to them, the
 * loader gives the fixture's pixels / 255 in eval mode, and the two sets give bit-identical
 * training batches (crop, flip, jitter) for the same key. --mode foo is a usage error.
 * usage: pack_mnist_modes CNN_PACK WORKDIR */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "../../src/data/data.h"
#include "../check.h"

#define N 37
#define H 28
#define W 28
#define B 8

static uint8_t px[N][H * W];
static uint8_t lab[N];

/* MNIST-like: mostly black, a bright blob whose place and shape depend on the sample. */
static void make_fixture(void)
{
    for (int i = 0; i < N; i++) {
        lab[i] = (uint8_t)((i * 7) % 10);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int dy = y - 8 - i % 12, dx = x - 6 - (i * 5) % 14;
                int v = dy * dy + dx * dx < 40 + i ? 255 - (x * 3 + y * 5 + i) % 90 : 0;
                px[i][y * W + x] = (uint8_t)(v ? v : ((x * y + i) % 97 == 0) * 17);
            }
    }
}

static void be32(uint8_t *b, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        b[k] = (uint8_t)(v >> (24 - 8 * k));
}

static void write_fixture(const char *img_path, const char *lab_path)
{
    uint8_t hdr[16];
    be32(hdr, 0x803);
    be32(hdr + 4, N);
    be32(hdr + 8, H);
    be32(hdr + 12, W);
    FILE *f = fopen(img_path, "wb");
    CHECK(f && fwrite(hdr, 1, 16, f) == 16 && fwrite(px, 1, sizeof px, f) == sizeof px);
    CHECK_EQ(fclose(f), 0);
    be32(hdr, 0x801);
    be32(hdr + 4, N);
    gzFile g = gzopen(lab_path, "wb");
    CHECK(g && gzwrite(g, hdr, 8) == 8 && gzwrite(g, lab, N) == N);
    CHECK_EQ(gzclose(g), Z_OK);
}

/* Runs cnn-pack with argv (NULL-terminated, argv[0] the executable); its exit status. */
static int run(char *const argv[])
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static dataset *pack(const char *exe, const char *img, const char *labels, const char *out,
                     const char *mode, const char *shards)
{
    char *argv[] = {(char *)exe, "mnist", (char *)img, (char *)labels, "--out", (char *)out,
                    "--shards", (char *)shards, "--mode", (char *)mode, NULL};
    CHECK_EQ(run(argv), 0);
    char master[600];
    snprintf(master, sizeof master, "%s.h5", out);
    dataset *ds = NULL;
    cnn_err e = {0};
    if (dataset_open(master, true, &ds, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    return ds;
}

/* Counts, classes, labels, mean/std from the fixture, and every sample's bytes. */
static void check_samples(const dataset *ds, bool encoded)
{
    const dataset_info *in = dataset_get_info(ds);
    CHECK_EQ(in->n, N);
    CHECK_EQ(in->mode, encoded ? DATA_ENCODED : DATA_RAW);
    CHECK_EQ(in->n_classes, 10);
    CHECK(strcmp(in->classes[3], "3") == 0);
    double s1 = 0, s2 = 0;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < H * W; k++) {
            s1 += px[i][k] / 255.0;
            s2 += (px[i][k] / 255.0) * (px[i][k] / 255.0);
        }
    double mean = s1 / (N * H * W), var = s2 / (N * H * W) - mean * mean;
    CHECK_NEAR(in->mean[0], mean, 1e-6);
    CHECK_NEAR(in->std[2], sqrt(var), 1e-6);
    uint8_t buf[4096];
    for (int i = 0; i < N; i++) {
        sample_ref r;
        dataset_ref(ds, i, &r);
        CHECK_EQ(r.label, lab[i]);
        CHECK(r.h == H && r.w == W && r.len <= (int64_t)sizeof buf);
        cnn_err e = {0};
        CHECK_EQ(dataset_read(ds, i, buf, NULL, &e), CNN_OK);
        if (!encoded) {
            CHECK_EQ(r.len, H * W);
            CHECK(memcmp(buf, px[i], H * W) == 0);
            continue;
        }
        CHECK(memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0);
        image im = {0};
        CHECK_EQ(image_decode(buf, (size_t)r.len, 1, 0, &im, &e), CNN_OK);
        CHECK(im.h == H && im.w == W && im.c == 1);
        CHECK(memcmp(im.data, px[i], H * W) == 0);
        image_free(&im);
    }
}

static loader_opts opts(const dataset *ds, bool train)
{
    loader_opts o = {.ds = ds, .workers = 2, .prefetch = 2, .channels = 1,
                     .key = rng_key_from_seed(5)};
    CHECK_EQ(sampler_init(&o.smp, N, B, 0, 1, 11, true, false, NULL), 0);
    o.aug = (augment_cfg){.out_h = H, .out_w = W, .train = train, .mean = {0, 0, 0},
                          .std = {1, 1, 1}, .channels = 1};
    if (train)
        o.aug = (augment_cfg){.out_h = 24, .out_w = 24, .train = true, .scale = {0.3f, 1},
                              .ratio = {0.75f, 4.0f / 3}, .hflip = true, .brightness = 0.4f,
                              .contrast = 0.4f, .mean = {0.3f, 0, 0}, .std = {0.35f, 1, 1},
                              .channels = 1};
    return o;
}

/* One epoch of both sets side by side: identical batches; in eval mode the pixels / 255. */
static void check_loader(const dataset *raw, const dataset *enc, bool train)
{
    loader_opts a = opts(raw, train), b = opts(enc, train);
    loader *la = NULL, *lb = NULL;
    cnn_err e = {0};
    CHECK_EQ(loader_create(&a, &la, &e), CNN_OK);
    CHECK_EQ(loader_create(&b, &lb, &e), CNN_OK);
    CHECK_EQ(loader_start_epoch(la, 2, 0, &e), CNN_OK);
    CHECK_EQ(loader_start_epoch(lb, 2, 0, &e), CNN_OK);
    size_t per = (size_t)a.aug.out_h * (size_t)a.aug.out_w;
    int seen = 0;
    for (;;) {
        const batch *x = NULL, *y = NULL;
        CHECK_EQ(loader_next(la, &x, &e), CNN_OK);
        CHECK_EQ(loader_next(lb, &y, &e), CNN_OK);
        CHECK((x == NULL) == (y == NULL));
        if (!x)
            break;
        CHECK(x->n == y->n && x->n_valid == y->n_valid);
        CHECK(memcmp(x->index, y->index, sizeof *x->index * (size_t)x->n) == 0);
        CHECK(memcmp(x->labels, y->labels, sizeof *x->labels * (size_t)x->n) == 0);
        CHECK(memcmp(x->images, y->images, sizeof *x->images * per * (size_t)x->n) == 0);
        for (int s = 0; s < x->n_valid; s++) {
            int64_t i = x->index[s];
            CHECK_EQ(x->labels[s], lab[i]);
            for (size_t k = 0; !train && k < per; k++)
                CHECK_NEAR(x->images[(size_t)s * per + k], px[i][k] / 255.0f, 1e-6);
        }
        seen += x->n_valid;
    }
    CHECK_EQ(seen, N);
    loader_destroy(la);
    loader_destroy(lb);
}

int main(int argc, char **argv)
{
    CHECK(argc == 3);
    const char *exe = argv[1], *work = argv[2];
    char rm[700];
    snprintf(rm, sizeof rm, "rm -rf '%s'", work);
    CHECK_EQ(system(rm), 0);
    CHECK_EQ(mkdir(work, 0755), 0);
    char img[600], labels[600], raw_out[600], enc_out[600];
    snprintf(img, sizeof img, "%s/train-images-idx3-ubyte", work);
    snprintf(labels, sizeof labels, "%s/train-labels-idx1-ubyte.gz", work);
    snprintf(raw_out, sizeof raw_out, "%s/raw", work);
    snprintf(enc_out, sizeof enc_out, "%s/enc", work);
    make_fixture();
    write_fixture(img, labels);
    char *bad[] = {(char *)exe, "mnist", img, labels, "--out", enc_out, "--mode", "jpeg",
                   NULL};
    CHECK_EQ(run(bad), 2);
    dataset *raw = pack(exe, img, labels, raw_out, "raw", "2");
    dataset *enc = pack(exe, img, labels, enc_out, "encoded", "3");
    check_samples(raw, false);
    check_samples(enc, true);
    check_loader(raw, enc, false);
    check_loader(raw, enc, true);
    dataset_close(raw);
    dataset_close(enc);
    CHECK_EQ(system(rm), 0);
    printf("raw and encoded MNIST packs give the fixture's pixels and identical batches\n");
    return 0;
}
