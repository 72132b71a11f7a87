/* cnn-pack imagenet-val and segmentation (pack_images_main), and encoded --resize:
 * label files in both forms (synset names numbered in sorted order, integer indices as
 * given) with their errors named by file and line; images paired with masks by stem, the
 * mask ids (palette indices as VOC stores them, and gray) stored so that image_decode gives
 * them back exactly (Pillow's ids: tools/fixtures/make_images.py), n_classes = max id + 1
 * (255 = ignore), a missing mask as an error; --classes-from numbering names as a training
 * master lists them (in an unsorted order written here, so the sorted numbering differs). */
#include "test_pack_images_util.h"

static void flat_folder(void)
{
    put_fx("val/x1.jpg", "rgb_base.jpg");
    put_fx("val/x2.png", "rgb.png");
    put_fx("val/x3.jpg", "gray.jpg");
    put("val/README", "x", 1);
}

static void check_labels(const char *master, const int *want, int n_classes,
                         const char *const *names)
{
    dataset *ds = open_ds(master);
    const dataset_info *in = dataset_get_info(ds);
    CHECK_EQ(in->n, 3);
    CHECK_EQ(in->n_classes, n_classes);
    for (int c = 0; names && c < n_classes; c++)
        CHECK(!strcmp(in->classes[c], names[c]));
    for (int i = 0; i < 3; i++) {
        sample_ref r;
        dataset_ref(ds, i, &r);
        CHECK_EQ(r.label, want[i]);
    }
    dataset_close(ds);
}

static void imagenet_val(void)
{
    cnn_err e;
    flat_folder();
    const char pairs[] = "x3.jpg n02\n# comment\n\nval/x1.jpg\tn01\r\nx2.png n02\n";
    put("pairs.txt", pairs, sizeof pairs - 1);
    CHECK_EQ(run_pack("imagenet-val", "@/val @/pairs.txt --out @/out/v1", &e), CNN_OK);
    check_labels("out/v1.h5", (const int[]){0, 1, 1}, 2, (const char *const[]){"n01", "n02"});
    put("lines.txt", "5\n0\n5\n", 6);
    CHECK_EQ(run_pack("imagenet-val", "@/val @/lines.txt --out @/out/v2", &e), CNN_OK);
    check_labels("out/v2.h5", (const int[]){5, 0, 5}, 6, NULL);
    /* Errors: a name not in the folder, an image without a line, a count mismatch, forms
     * mixed, a twice-labelled file. */
    put("bad1.txt", "x1.jpg a\nx2.png b\nx9.jpg a\nx3.jpg b\n", 36);
    CHECK_EQ(run_pack("imagenet-val", "@/val @/bad1.txt --out @/out/b", &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "bad1.txt:3: x9.jpg is not an image in");
    put("bad2.txt", "x1.jpg a\nx2.png b\n", 18);
    CHECK_EQ(run_pack("imagenet-val", "@/val @/bad2.txt --out @/out/b", &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "x3.jpg has no line in");
    put("bad3.txt", "1\n2\n", 4);
    CHECK_EQ(run_pack("imagenet-val", "@/val @/bad3.txt --out @/out/b", &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "has 2 labels");
    put("bad4.txt", "x1.jpg 1\n2\n", 11);
    CHECK_EQ(run_pack("imagenet-val", "@/val @/bad4.txt --out @/out/b", &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "bad4.txt:2:");
    put("bad5.txt", "x1.jpg 1\nx1.jpg 2\nx2.png 0\n", 27);
    CHECK_EQ(run_pack("imagenet-val", "@/val @/bad5.txt --out @/out/b", &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "labelled twice");
    CHECK_EQ(run_pack("imagenet-val", "@/val --out @/out/b", &e), CNN_EINVAL);
    CHECK_EQ(count_files("out"), 4); /* v1, v2: master + 1 shard each; nothing from errors */
}

static void check_masks(const char *master, bool raw)
{
    dataset *ds = open_ds(master);
    const dataset_info *in = dataset_get_info(ds);
    CHECK_EQ(in->n, 2);
    CHECK_EQ(in->task, DATA_SEGMENT);
    CHECK_EQ(in->n_classes, 4); /* ids 0..3 (and 255) in mask_p */
    const char *ids[2] = {"mask_p_png.raw", "mask_l_png.raw"};
    for (int i = 0; i < 2; i++) {
        sample_ref r;
        uint8_t *mask, *img = read_sample(ds, i, &r, &mask);
        CHECK_EQ(r.label, -1);
        size_t len;
        uint8_t *want = fx_read(ids[i], &len);
        if (raw) {
            CHECK(r.h == 8 && r.w == 12 && r.mask_len == 96);
            for (int k = 0; k < 96; k++) /* nearest: only ids of the source */
                CHECK(memchr(want, mask[k], len) != NULL);
        } else {
            image m;
            cnn_err e = {0};
            CHECK_EQ(image_decode(mask, (size_t)r.mask_len, 1, 0, &m, &e), CNN_OK);
            CHECK(m.h == 32 && m.w == 48 && len == 32 * 48 && r.h == 32 && r.w == 48);
            CHECK(memcmp(m.data, want, len) == 0);
            image_free(&m);
        }
        free(want);
        free(img);
        free(mask);
    }
    dataset_close(ds);
}

static void segmentation(void)
{
    cnn_err e;
    char out_path[512];
    put_fx("seg/img/a.jpg", "rgb_base.jpg");
    put_fx("seg/img/b.png", "rgb.png");
    put_fx("seg/mask/a.png", "mask_p.png");
    put_fx("seg/mask/b.png", "mask_l.png");
    put_fx("seg/mask/extra.png", "mask_l.png");
    CHECK_EQ(run_pack("segmentation", "@/seg/img @/seg/mask --out @/out/s1 --threads 2", &e),
             CNN_OK);
    check_masks("out/s1.h5", false);
    CHECK_EQ(run_pack("segmentation", "@/seg/img @/seg/mask --out @/out/s2 --mode raw "
                      "--size 8x12", &e), CNN_OK);
    check_masks("out/s2.h5", true);
    /* A mask of another size, or an RGB mask, is an unreadable pair: --strict fails. */
    put_fx("seg/img/b.png", "one.png");
    CHECK_EQ(run_pack("segmentation", "@/seg/img @/seg/mask --out @/out/s3 --strict", &e),
             CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "masks must have their image's size");
    put_fx("seg/img/b.png", "rgb.png");
    put_fx("seg/mask/b.png", "rgb.png");
    CHECK_EQ(run_pack("segmentation", "@/seg/img @/seg/mask --out @/out/s3 --strict", &e),
             CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "gray or palette PNG");
    put_fx("seg/mask/b.png", "mask_l.png");
    put_fx("seg/img/a.png", "rgb.png");
    CHECK_EQ(run_pack("segmentation", "@/seg/img @/seg/mask --out @/out/s3", &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "holds both a.jpg and a.png");
    tmp_path("seg/img/a.png", out_path, sizeof out_path);
    CHECK(remove(out_path) == 0);
    put_fx("seg/img/c.jpg", "one.jpg");
    CHECK_EQ(run_pack("segmentation", "@/seg/img @/seg/mask --out @/out/s3", &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "no mask for");
    CHECK_STR_CONTAINS(e.msg, "c.png");
    CHECK_EQ(count_files("out"), 8); /* v1, v2, s1, s2: nothing from the failed runs */
}

/* Encoded --resize 16: 48x32 shrinks to 24x16 and 64x48 to 21x16 (floor(16 * 64 / 48), as
 * torchvision's Resize(16)), re-encoded as JPEG; 3000x2 keeps its bytes (never upscaled). */
static void resize(void)
{
    cnn_err e;
    put_fx("rs/a/big.png", "rgb.png");
    put_fx("rs/a/odd.jpg", "scaled.jpg");
    put_fx("rs/a/small.jpg", "long.jpg");
    CHECK_EQ(run_pack("imagefolder", "@/rs --out @/out/rs --resize 16", &e), CNN_OK);
    dataset *ds = open_ds("out/rs.h5");
    sample_ref r;
    uint8_t *b = read_sample(ds, 0, &r, NULL);
    CHECK(r.h == 16 && r.w == 24 && b[0] == 0xFF && b[1] == 0xD8);
    image im;
    CHECK_EQ(image_decode(b, (size_t)r.len, 0, 0, &im, &e), CNN_OK);
    CHECK(im.h == 16 && im.w == 24 && im.c == 3);
    image_free(&im);
    free(b);
    b = read_sample(ds, 1, &r, NULL);
    CHECK(r.h == 16 && r.w == 21);
    free(b);
    size_t len;
    uint8_t *want = fx_read("long.jpg", &len);
    b = read_sample(ds, 2, &r, NULL);
    CHECK(r.h == 2 && r.w == 3000 && r.len == (int64_t)len && !memcmp(b, want, len));
    free(b);
    free(want);
    dataset_close(ds);
}

/* A training master with classes in a hand-picked, unsorted order (one raw 1x1 sample). */
static void train_master(void)
{
    char prefix[512];
    tmp_path("cf/train", prefix, sizeof prefix);
    char *names[] = {"zebra", "ant", "cat"};
    pack_opts o = {.prefix = prefix, .n_shards = 1, .mode = DATA_RAW, .task = DATA_CLASSIFY,
                   .raw_h = 1, .raw_w = 1, .raw_c = 3, .source = "test", .classes = names,
                   .n_classes = 3};
    pack_writer *w;
    cnn_err e = {0};
    const uint8_t px[3] = {1, 2, 3};
    const float mean[3] = {0}, std[3] = {1, 1, 1};
    CHECK_EQ(pack_open(&o, &w, &e), CNN_OK);
    CHECK_EQ(pack_add(w, 0, px, 3, 2, 1, 1, NULL, 0, &e), CNN_OK);
    CHECK_EQ(pack_finish(w, mean, std, &e), CNN_OK);
}

static void classes_from(void)
{
    cnn_err e;
    train_master();
    const char pairs[] = "x1.jpg cat\nx2.png zebra\nx3.jpg ant\n";
    put("cf/pairs.txt", pairs, sizeof pairs - 1);
    CHECK_EQ(run_pack("imagenet-val", "@/val @/cf/pairs.txt --out @/cf/v "
                      "--classes-from @/cf/train.h5", &e), CNN_OK);
    check_labels("cf/v.h5", (const int[]){2, 0, 1}, 3,
                 (const char *const[]){"zebra", "ant", "cat"});
    put("cf/lines.txt", "ant\nzebra\nant\n", 14); /* one label per line, sorted names */
    CHECK_EQ(run_pack("imagenet-val", "@/val @/cf/lines.txt --out @/cf/w --classes-from "
                      "@/cf/train.h5", &e), CNN_OK);
    check_labels("cf/w.h5", (const int[]){1, 0, 1}, 3, NULL);
    put("cf/bad.txt", "x1.jpg cat\nx2.png dog\nx3.jpg ant\n", 32);
    CHECK_EQ(run_pack("imagenet-val", "@/val @/cf/bad.txt --out @/cf/b --classes-from "
                      "@/cf/train.h5", &e), CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "bad.txt:2: class 'dog' is not one of the 3 classes of");
    CHECK(run_pack("imagenet-val", "@/val @/cf/pairs.txt --out @/cf/b --classes-from "
                   "@/cf/none.h5", &e) < 0);
    CHECK_STR_CONTAINS(e.msg, "--classes-from: ");
    CHECK_STR_CONTAINS(e.msg, "none.h5");
    CHECK_EQ(run_pack("imagefolder", "@/val --out @/cf/b --classes-from @/cf/train.h5", &e),
             CNN_EINVAL);
    CHECK_STR_CONTAINS(e.msg, "usage: cnn-pack imagefolder");
    CHECK_EQ(count_files("cf"), 9); /* train, v, w (master + shard each), 3 label files */
}

int main(void)
{
    fx_init();
    char out[300];
    tmp_path("out/x", out, sizeof out);
    imagenet_val();
    segmentation();
    resize();
    classes_from();
    tmp_cleanup();
    printf("OK\n");
    return 0;
}
