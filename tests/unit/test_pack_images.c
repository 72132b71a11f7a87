/* cnn-pack imagefolder (pack_images_main) on a tree built here from the fixture images:
 * torchvision's ImageFolder order (classes sorted, nested folders in os.walk order, any case
 * of extension; the expected list was checked once against torchvision.datasets.ImageFolder
 * on the same tree), a truncated JPEG skipped, a text file ignored, --strict failing with no
 * file left, the same samples for 1 and 3 threads, encoded bytes identical to the files,
 * sizes and mean/std against Pillow's decoded pixels, and raw mode against torchvision's
 * Resize(12) + CenterCrop((9, 12)) (tools/fixtures/make_images.py). */
#include "test_pack_images_util.h"

typedef struct expect {
    const char *rel, *fixture, *ref; /* ref: Pillow's pixels (.raw) */
    int label, h, w;
} expect;

/* torchvision.datasets.ImageFolder's order for the tree (dog/d.jpg, truncated, skipped). */
static const expect tree[] = {
    {"bird/e.jpg", "long.jpg", "long_jpg.raw", 0, 2, 3000},
    {"bird/f.jpg", "gray.jpg", "gray_jpg.raw", 0, 32, 48},
    {"cat/a.jpg", "rgb_base.jpg", "rgb_base_jpg.raw", 1, 32, 48},
    {"cat/z.png", "one.png", "one_png.raw", 1, 1, 1},
    {"cat/sub/b.PNG", "rgb.png", "rgb_png.raw", 1, 32, 48},
    {"cat/sub/deeper/g.jpeg", "one.jpg", "one_jpg.raw", 1, 1, 1},
    {"dog/c.JPEG", "exif6.jpg", "exif6_jpg.raw", 2, 24, 16},
};
#define N_TREE ((int)(sizeof tree / sizeof *tree))

static void make_tree(void)
{
    for (int i = N_TREE - 1; i >= 0; i--) { /* created out of order on purpose */
        char rel[256];
        snprintf(rel, sizeof rel, "src/%s", tree[i].rel);
        put_fx(rel, tree[i].fixture);
    }
    put_fx("src/dog/d.jpg", "truncated.jpg");
    put("src/dog/notes.txt", "not an image\n", 13);
}

/* Per-channel mean/std of Pillow's pixels of every tree image, in [0, 1]. */
static void ref_stats(double mean[3], double std[3])
{
    double s[3] = {0}, q[3] = {0}, n = 0;
    for (int i = 0; i < N_TREE; i++) {
        size_t len;
        uint8_t *p = fx_read(tree[i].ref, &len);
        CHECK_EQ(len, (size_t)tree[i].h * tree[i].w * 3);
        for (size_t k = 0; k < len; k++) {
            s[k % 3] += p[k] / 255.0;
            q[k % 3] += (p[k] / 255.0) * (p[k] / 255.0);
        }
        n += (double)len / 3;
        free(p);
    }
    for (int c = 0; c < 3; c++) {
        mean[c] = s[c] / n;
        std[c] = sqrt(q[c] / n - mean[c] * mean[c]);
    }
}

static void check_encoded(const char *master)
{
    dataset *ds = open_ds(master);
    const dataset_info *in = dataset_get_info(ds);
    CHECK_EQ(in->n, N_TREE);
    CHECK_EQ(in->n_shards, 2);
    CHECK_EQ(in->mode, DATA_ENCODED);
    CHECK_EQ(in->n_classes, 3);
    CHECK(!strcmp(in->classes[0], "bird") && !strcmp(in->classes[1], "cat") &&
          !strcmp(in->classes[2], "dog"));
    for (int i = 0; i < N_TREE; i++) {
        sample_ref r;
        uint8_t *got = read_sample(ds, i, &r, NULL);
        size_t len;
        uint8_t *want = fx_read(tree[i].fixture, &len);
        CHECK_EQ(r.label, tree[i].label);
        CHECK_EQ(r.h, tree[i].h); /* after EXIF orientation, as the loader decodes */
        CHECK_EQ(r.w, tree[i].w);
        CHECK_EQ(r.len, (int64_t)len);
        CHECK(memcmp(got, want, len) == 0);
        free(got);
        free(want);
    }
    /* 7 files < 1000: the encoded statistics cover every image, exactly as Pillow decodes
     * them (decodes match exactly, test_decode); float32 storage. */
    double mean[3], std[3];
    ref_stats(mean, std);
    for (int c = 0; c < 3; c++) {
        CHECK_NEAR(in->mean[c], mean[c], 1e-5);
        CHECK_NEAR(in->std[c], std[c], 1e-5);
    }
    printf("  %s: %d samples, order/labels/bytes/sizes ok, mean %.4f %.4f %.4f std %.4f %.4f "
           "%.4f (Pillow)\n", master, N_TREE, mean[0], mean[1], mean[2], std[0], std[1],
           std[2]);
    dataset_close(ds);
}

static void check_raw(void)
{
    put_fx("rawsrc/a/x.png", "rgb.png");
    put_fx("rawsrc/b/y.png", "palette.png");
    cnn_err e;
    CHECK_EQ(run_pack("imagefolder", "@/rawsrc --out @/out/raw --mode raw --size 9x12 "
                      "--threads 2", &e), CNN_OK);
    dataset *ds = open_ds("out/raw.h5");
    const dataset_info *in = dataset_get_info(ds);
    CHECK_EQ(in->n, 2);
    CHECK_EQ(in->mode, DATA_RAW);
    CHECK(in->raw_h == 9 && in->raw_w == 12 && in->raw_c == 3);
    const char *refs[2] = {"rgb_png_raw9x12.raw", "palette_png_raw9x12.raw"};
    double s[3] = {0}, q[3] = {0};
    for (int i = 0; i < 2; i++) {
        sample_ref r;
        uint8_t *got = read_sample(ds, i, &r, NULL);
        size_t len;
        uint8_t *want = fx_read(refs[i], &len);
        CHECK_EQ(r.label, i);
        CHECK(r.h == 9 && r.w == 12 && r.len == 9 * 12 * 3 && len == 9 * 12 * 3);
        /* torchvision resizes in float and rounds; the same float filter in another order
         * can land on the other side of a .5: at most 1 level. */
        int d = max_abs_diff(got, want, len);
        printf("  raw %s: max |diff| vs torchvision %d\n", refs[i], d);
        CHECK(d <= 1);
        for (size_t k = 0; k < len; k++) {
            s[k % 3] += got[k] / 255.0;
            q[k % 3] += (got[k] / 255.0) * (got[k] / 255.0);
        }
        free(got);
        free(want);
    }
    for (int c = 0; c < 3; c++) { /* raw: exact over the packed pixels */
        double m = s[c] / 216;
        CHECK_NEAR(in->mean[c], m, 1e-5);
        CHECK_NEAR(in->std[c], sqrt(q[c] / 216 - m * m), 1e-5);
    }
    dataset_close(ds);
}

static void check_usage(void)
{
    cnn_err e;
    CHECK_EQ(run_pack("imagefolder", "@/src", &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "--out");
    CHECK_EQ(run_pack("imagefolder", "@/src --out @/out/u --mode raw", &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "--size");
    CHECK_EQ(run_pack("imagefolder", "@/src --out @/out/u --size 8x8", &e), CNN_EINVAL);
    CHECK_EQ(run_pack("imagefolder", "@/src --out @/out/u --mode raw --size 8by8", &e),
             CNN_EINVAL);
    CHECK_EQ(run_pack("imagefolder", "@/src --out @/out/u --shards 0", &e), CNN_EINVAL);
    CHECK_EQ(run_pack("imagefolder", "@/src --out @/out/u --bogus", &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "usage: cnn-pack imagefolder");
    CHECK_EQ(run_pack("imagefolder", "@/missing --out @/out/u", &e), CNN_EIO);
    CHECK_STR_CONTAINS(e.msg, "missing");
}

int main(void)
{
    fx_init();
    make_tree();
    mkdir(strcat(strcpy((char[300]){0}, tmp_root), "/out"), 0700);
    cnn_err e;
    CHECK_EQ(run_pack("imagefolder", "@/src --out @/out/ds --shards 2 --threads 3", &e),
             CNN_OK);
    check_encoded("out/ds.h5");
    /* One thread: the same dataset (results are taken in index order). */
    CHECK_EQ(run_pack("imagefolder", "@/src --out @/out/one --shards 2 --threads=1", &e),
             CNN_OK);
    check_encoded("out/one.h5");
    CHECK_EQ(count_files("out"), 6);
    /* --strict: the truncated file fails the run and nothing new is left behind. */
    CHECK_EQ(run_pack("imagefolder", "@/src --out @/out/strict --shards 2 --strict", &e),
             CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "dog/d.jpg");
    CHECK_STR_CONTAINS(e.msg, "truncated");
    CHECK_EQ(count_files("out"), 6);
    check_raw();
    check_usage();
    tmp_cleanup();
    printf("OK\n");
    return 0;
}
