/* Datasets for training: the HDF5 shard format written by cnn-pack, the reader that serves
 * samples with pread() from many threads, image decoding, augmentation keyed by (seed,
 * epoch, sample index), the world-size-invariant sampler and the prefetching loader.
 * Knows nothing about the network: the loader fills host batches of a given shape.
 * Format (DESIGN.md "Data format", docs/data.md): a master file PREFIX.h5 lists shard files
 * PREFIX-SSSSS-of-NNNNN.h5; a shard holds one contiguous uint8 `blob` plus index datasets. */
#ifndef CNN_DATA_H
#define CNN_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"

#define DATA_FORMAT_VERSION 1
#define DATA_MAX_CLASSES 100000
/* Samples of a dataset (the master's num_samples) and of each shard: 2^31, above any image
 * dataset we know of (LAION-2B is split into many datasets), and a bound that a corrupt
 * count cannot pass to the index arrays (44 bytes per sample) or the sampler (8). */
#define DATA_MAX_SAMPLES ((int64_t)1 << 31)

typedef enum data_mode { DATA_ENCODED, DATA_RAW } data_mode;
typedef enum data_task { DATA_CLASSIFY, DATA_SEGMENT } data_task;

/* ---- images (image.c) ---- */
/* 8-bit interleaved pixels (H, W, C), C = 1 (gray) or 3 (RGB). Owns data. */
typedef struct image {
    int h, w, c;
    uint8_t *data; /* (h, w, c) */
} image;

void image_free(image *im);
/* Resize with bilinear interpolation (align_corners=false); when shrinking, the filter
 * support widens with the scale (antialias, as PIL and torchvision's antialias=True). */
void image_resize_bilinear(const image *src, int h, int w, image *dst);
/* Nearest neighbour as torchvision's InterpolationMode.NEAREST (masks). */
void image_resize_nearest(const image *src, int h, int w, image *dst);
/* The (h, w) window at (top, left) of src resized to (rh, rw), which must lie inside it:
 * the same pixels as the resize followed by image_crop, in memory for the window only
 * (an extreme aspect ratio makes the whole resized image huge). */
void image_resize_bilinear_window(const image *src, int64_t rh, int64_t rw, int64_t top,
                                  int64_t left, int h, int w, image *dst);
void image_resize_nearest_window(const image *src, int64_t rh, int64_t rw, int64_t top,
                                 int64_t left, int h, int w, image *dst);
/* dst = src[top:top+h, left:left+w]; the region must lie inside src. */
void image_crop(const image *src, int top, int left, int h, int w, image *dst);

/* ---- decoding (decode_jpeg.c, decode_png.c, decode.c) ---- */
/* JPEG (baseline, progressive; gray, YCbCr, CMYK/YCCK to RGB; EXIF orientation applied) or
 * PNG (gray, palette, alpha dropped as PIL's convert("RGB"), 16-bit to 8). want_c: 3 gives
 * RGB, 1 gray, 0 keeps the file's (1 or 3). min_side > 0 allows JPEG's scaled decoding
 * (1/2, 1/4, 1/8) as long as the shorter side stays >= min_side. Unreadable bytes give
 * CNN_EINVAL with what was wrong, never a crash. */
int image_decode(const uint8_t *bytes, size_t len, int want_c, int min_side, image *out,
                 cnn_err *e);

/* ---- image files, as cnn-pack and cnn-dist predict find and read them ---- */
/* Every .jpg, .jpeg and .png (any case) under dir, recursively, sorted as os.walk's sorted
 * (folder, name) pairs: *paths (n) malloc'ed, each path too (image_scan.c). */
int image_files_under(const char *dir, char ***paths, int64_t *n, cnn_err *e);
/* A whole file (up to 2 GiB) into a malloc'ed buffer (pack_sample.c). */
int data_read_file(const char *path, uint8_t **buf, size_t *len, cnn_err *e);
/* 8-bit gray (c 1) or RGB (c 3) PNG, lossless, into a malloc'ed buffer the caller frees. */
int image_encode_png(const image *im, uint8_t **out, size_t *len, cnn_err *e);

/* ---- reading (dataset.c): validated at open, then lock-free pread() ---- */
typedef struct dataset dataset;

typedef struct dataset_info {
    int64_t n;            /* samples */
    int n_shards;
    data_mode mode;
    data_task task;
    int n_classes;
    char **classes;       /* (n_classes) names, owned by the dataset */
    int raw_h, raw_w, raw_c; /* raw mode: every sample's size */
    float mean[3], std[3];   /* per channel, over the packed images, in [0, 1] units */
    char source[256];
    bool cached;             /* every blob was read into memory at open (ram_bytes) */
    bool cache_shared;       /* ... into memory shared by the node's processes (shared) */
    int64_t cache_read;      /* bytes of the blobs this process read into the cache */
} dataset_info;

/* One sample's bytes as stored (encoded file bytes or raw HWC pixels) and its metadata. */
typedef struct sample_ref {
    int64_t index;
    int32_t label;      /* classify: class index; segment: -1 */
    int32_t h, w;       /* image size as packed */
    int64_t len;        /* bytes of the image */
    int64_t mask_len;   /* segment: bytes of the mask (encoded PNG or raw HxW) */
} sample_ref;

/* Opens the master file and validates every shard (present, format version, counts, index
 * checksums, blob size); verify_blobs also checks every blob's checksum (reads it all). */
int dataset_open(const char *master_path, bool verify_blobs, dataset **out, cnn_err *e);
/* ram_bytes: when all blobs together fit, they are read into memory at open (verify_blobs
 * then checks their crc32 in memory) and dataset_read is memcpy; otherwise it preads.
 * dataset_open uses DATASET_RAM_DEFAULT; 0 never caches. */
#define DATASET_RAM_DEFAULT ((size_t)1 << 30)
/* One cache per node instead of one per process: the processes of a node that open the
 * same dataset with the same ram_bytes (the trainer's ranks) each read a part into memory
 * they all map, then read samples from all of it. cnn_data does not link MPI: the caller
 * supplies the collectives (src/comm: comm_shm_map, comm_shm_agree). Both are collective
 * over the `size` processes, which must call dataset_open_with in the same order; they are
 * used only inside it. */
typedef struct dataset_shared {
    int rank, size; /* this process among those sharing (node-local rank and size) */
    void *ctx;
    /* bytes of memory mapped in every process (the same pages), or NULL in every process
     * when any passed 0 or another count or could not map; each unmaps it with munmap. */
    void *(*map)(void *ctx, size_t bytes);
    /* The lowest rc over the processes; also a barrier. */
    int (*agree)(void *ctx, int rc);
} dataset_shared;
typedef struct dataset_open_opts {
    bool verify_blobs;
    size_t ram_bytes;
    const dataset_shared *shared; /* NULL: a private cache (borrowed, used during open) */
} dataset_open_opts;
int dataset_open_with(const char *master_path, const dataset_open_opts *o, dataset **out,
                      cnn_err *e);
/* cnn-pack info: reads the master (its errors are returned), then checks every shard as
 * dataset_open would and calls fn for each in order, bad = NULL when it is fine, else why
 * not; ds gives the master's info and dataset_shard (n and checksums are 0 when bad).
 * *n_bad counts the bad shards. No cache. */
typedef void (*dataset_check_fn)(void *ctx, const dataset *ds, int s, const cnn_err *bad);
int dataset_check(const char *master_path, bool verify_blobs, dataset_check_fn fn, void *ctx,
                  int *n_bad, cnn_err *e);
const dataset_info *dataset_get_info(const dataset *ds);
/* Metadata of sample i (0 <= i < n), no I/O. */
void dataset_ref(const dataset *ds, int64_t i, sample_ref *r);
/* Reads sample i's image bytes (r.len) and, for segmentation, its mask bytes (r.mask_len)
 * into caller buffers with pread(); thread-safe, no libhdf5 call. */
int dataset_read(const dataset *ds, int64_t i, uint8_t *img, uint8_t *mask, cnn_err *e);
void dataset_close(dataset *ds);
/* Shard s as the master lists it (cnn-pack info): its path, samples and checksums. */
void dataset_shard(const dataset *ds, int s, const char **path, int64_t *n,
                   uint32_t *index_crc32, uint32_t *blob_crc32);

/* ---- writing (pack_writer.c), used by cnn-pack ---- */
typedef struct pack_writer pack_writer;
typedef struct pack_opts {
    const char *prefix; /* output: PREFIX.h5 and PREFIX-SSSSS-of-NNNNN.h5 */
    int n_shards;
    data_mode mode;
    data_task task;
    int raw_h, raw_w, raw_c; /* raw mode */
    const char *source;      /* attribute: what was packed */
    char **classes;          /* (n_classes), copied */
    int n_classes;
    /* MPI packing (0, 0 = one process): this writer owns the shards s % world == rank. */
    int rank, world;
} pack_opts;
/* Samples are added per shard in order; shard s is written to a temporary name and renamed
 * when closed; the master file last, after every shard. */
int pack_open(const pack_opts *o, pack_writer **out, cnn_err *e);
int pack_add(pack_writer *w, int shard, const uint8_t *img, size_t len, int32_t label,
             int32_t h, int32_t w_px, const uint8_t *mask, size_t mask_len, cnn_err *e);
/* Writes the master (shard list, counts, checksums, classes, mean/std) and renames it into
 * place. Without finish (abort), temporary files are removed and nothing is left. */
int pack_finish(pack_writer *w, const float mean[3], const float std[3], cnn_err *e);
void pack_abort(pack_writer *w);
/* pack_finish in steps, for MPI ranks that agree between them (cnn-pack): seal writes every
 * owned shard complete into its temporary file and fills info[s] of those shards; rename
 * moves them into place; write_master (one rank) needs info of every shard; then
 * pack_close, or pack_abort to remove this writer's files. */
typedef struct pack_shard_info {
    int64_t n;
    uint32_t index_crc32, blob_crc32;
} pack_shard_info;
int pack_seal(pack_writer *w, pack_shard_info *info, cnn_err *e);
int pack_rename_shards(pack_writer *w, cnn_err *e);
int pack_write_master(pack_writer *w, const pack_shard_info *info, const float mean[3],
                      const float std[3], cnn_err *e);
/* Frees a writer whose files are complete (the master written by some rank). */
void pack_close(pack_writer *w);

/* ---- MNIST idx files (mnist.c), plain or gzip'ed: MNIST, Fashion-MNIST ---- */
typedef struct mnist_set {
    int64_t n;
    int h, w;
    uint8_t *images; /* (n, h, w) */
    uint8_t *labels; /* (n) */
} mnist_set;
/* Reads an idx3 image file and its idx1 label file (magic, counts and sizes checked). */
int mnist_read(const char *images, const char *labels, mnist_set *out, cnn_err *e);
void mnist_free(mnist_set *s);
/* Image i as an 8-bit gray PNG (lossless, cnn-pack mnist --mode encoded) in a malloc'ed
 * buffer the caller frees; image_decode(want_c=1) gives back the idx bytes. */
int mnist_encode_png(const mnist_set *s, int64_t i, uint8_t **out, size_t *len, cnn_err *e);

/* ---- CIFAR-10/100 binary files (cifar.c): cnn-pack cifar ---- */
typedef struct cifar_set {
    int64_t n;
    uint8_t *images; /* (n, 32, 32, 3) HWC */
    int32_t *labels; /* (n) */
    int n_classes;   /* 10, 20 (coarse) or 100 (fine) */
    char **classes;  /* (n_classes) from the meta text files, else "0", "1", ... */
} cifar_set;
/* dir holds CIFAR-10's data_batch_1..5.bin and test_batch.bin, or CIFAR-100's train.bin and
 * test.bin; train picks the split, coarse CIFAR-100's 20 superclasses. Record sizes and
 * labels are checked; errors name the file. */
int cifar_read(const char *dir, bool train, bool coarse, cifar_set *out, cnn_err *e);
void cifar_free(cifar_set *s);

/* Segmentation scenes of MNIST items (mnist_scenes.c; cnn-pack mnist-scenes): scene index
 * of size x size pixels into img and mask (size * size bytes each, gray), from s's items
 * (keyed by seed and index: deterministic). The mask is the covering item's class + 1, 0
 * for background; an item covers its pixels above MNIST_SCENE_THRESHOLD after scaling. */
#define MNIST_SCENE_THRESHOLD 64
#define MNIST_SCENE_SCALE_MIN 0.75
#define MNIST_SCENE_SCALE_MAX 1.5
typedef struct mnist_scene_cfg {
    int size;                 /* canvas side, >= the items' side */
    int items_min, items_max; /* items per scene, 1 <= min <= max */
    uint64_t seed;
} mnist_scene_cfg;
void mnist_scene(const mnist_set *s, const mnist_scene_cfg *c, int64_t index, uint8_t *img,
                 uint8_t *mask);

/* ---- cnn-pack's image sources (pack_images.c): imagefolder, imagenet-val, segmentation.
 * argv holds the command's arguments after the command name; returns 0, or a CNN_E* code
 * with e filled. Usage errors: CNN_EINVAL with the command's "usage: cnn-pack ..." line in
 * the message (cnn-pack then exits 2). */
/* MPI (cnn_data does not link MPI; cnn-pack supplies it): rank of world packs the shards
 * s % world == rank; every rank calls reduce at the same points, combining n values in
 * place over the ranks. NULL comm: one process. */
typedef enum pack_op { PACK_MIN_I32, PACK_MAX_I32, PACK_SUM_U64, PACK_BOR_U32 } pack_op;
typedef struct pack_comm {
    int rank, world;
    void (*reduce)(void *buf, int n, pack_op op);
} pack_comm;
int pack_images_main(int argc, char **argv, const char *cmd, const pack_comm *comm,
                     cnn_err *e);

/* ---- sampler (sampler.c): world-size invariance ---- */
/* For (seed, epoch) one global permutation of n samples (identity when !shuffle); global
 * batch b of size B holds positions [b*B, (b+1)*B) of it; rank r of W gets the slice
 * [r*B/W, (r+1)*B/W). Training drops the last partial batch; evaluation keeps it and pads
 * the slices with -1 so that every sample is seen exactly once and every rank's batch keeps
 * its shape. */
typedef struct sampler {
    int64_t n;
    int global_batch, rank, world;
    uint64_t seed;
    bool shuffle, drop_last;
} sampler;

int sampler_init(sampler *s, int64_t n, int global_batch, int rank, int world, uint64_t seed,
                 bool shuffle, bool drop_last, cnn_err *e);
int64_t sampler_steps(const sampler *s); /* global batches per epoch */
/* This rank's sample indices for (epoch, step): global_batch/world entries, -1 = padding.
 * perm is a caller buffer of n entries computed once per epoch by sampler_perm. */
void sampler_perm(const sampler *s, int64_t epoch, int64_t *perm);
void sampler_slice(const sampler *s, const int64_t *perm, int64_t step, int64_t *idx);

/* ---- augmentation (augment.c): one sample, randomness from its own key ---- */
typedef struct augment_cfg {
    int out_h, out_w;           /* network input size */
    bool train;
    /* train */
    float scale[2], ratio[2];   /* random resized crop: (0.08, 1), (3/4, 4/3) */
    /* scale_max > 0: scale jitter instead (dense tasks): the shorter side resized to a size
     * in [scale_min, scale_max], padded by `pad` on every side, then a random crop, padded
     * right and bottom where smaller (image 0, mask 255 = ignore) */
    int scale_min, scale_max, pad;
    bool hflip;                 /* p = 0.5 */
    float brightness, contrast, saturation; /* color jitter factors in [1-x, 1+x], 0 = off */
    /* eval: resize the shorter side to resize (0 = out size), then center crop */
    int resize;
    float mean[3], std[3];      /* normalize after scaling to [0, 1] */
    float noise_std;            /* denoising: input = clean + N(0, std), target = clean */
    int channels;               /* out C: 1 or 3 (gray replicated, RGB to gray); 0 = image's */
} augment_cfg;

/* The training transform of a in words (start-up line): the geometry with its ranges, flip,
 * colour jitter, noise. */
void augment_describe(const augment_cfg *a, char *buf, size_t n);

/* key: rng_fold(rng_fold(seed key, epoch), sample index). out: (C, out_h, out_w) floats;
 * mask (segmentation, may be NULL): the mask image transformed jointly (nearest) into
 * mask_out (out_h, out_w) int32; target (denoising, may be NULL): the clean image. */
void augment_sample(const augment_cfg *a, rng_key key, const image *img, const image *mask,
                    float *out, int32_t *mask_out, float *target);

/* ---- loader (loader.c): worker threads and a ring of prefetched batches ---- */
typedef struct loader loader;
typedef struct loader_opts {
    const dataset *ds;      /* borrowed */
    sampler smp;
    augment_cfg aug;
    int workers;            /* decode/augment threads */
    int prefetch;           /* batches ready ahead (ring size) */
    int channels;           /* network input C (1 or 3) */
    rng_key key;            /* run's data key; folded with epoch and sample index */
    /* Batch memory (e.g. pinned host memory from the CUDA backend); NULL = malloc. */
    void *(*alloc)(void *ctx, size_t bytes);
    void (*free)(void *ctx, void *p);
    void *alloc_ctx;
} loader_opts;

typedef struct batch {
    int64_t epoch, step;
    int n;                 /* per-rank batch (slots), n_valid of them real samples */
    int n_valid;
    float *images;         /* (n, C, H, W) */
    int32_t *labels;       /* classify: (n), -100 for padding; segment: (n, H, W) */
    float *targets;        /* denoise: (n, C, H, W) clean images, else NULL */
    int64_t *index;        /* (n) sample indices, -1 for padding */
} batch;

int loader_create(const loader_opts *o, loader **out, cnn_err *e);
/* Synthetic samples instead of o->ds (which is ignored), for throughput measurements
 * (data.synthetic): standard normal images; labels index % classes (DATA_CLASSIFY), or per
 * pixel (DATA_SEGMENT); with classes 0 (denoising) labels 0 and, when the loader makes
 * targets (aug.noise_std > 0), another noise image as the target. */
int loader_create_synthetic(const loader_opts *o, data_task task, int classes, loader **out,
                            cnn_err *e);
/* One sample as the loader makes it (read, decode or raw, checked, augmented with key),
 * outside a loader (the trainer's pictures): out (C, out_h, out_w) for channels C; label:
 * the class (classify, one int) or the mask (segment, out_h x out_w; ignore -100); target:
 * the clean image when aug->noise_std > 0 (may be NULL otherwise). */
int loader_sample(const dataset *ds, const augment_cfg *aug, int channels, int64_t index,
                  rng_key key, float *out, int32_t *label, float *target, cnn_err *e);
/* Starts producing the batches of an epoch from step first (resume mid-epoch). */
int loader_start_epoch(loader *ld, int64_t epoch, int64_t first_step, cnn_err *e);
/* The next batch of the epoch (blocks until ready), NULL at the epoch's end. Valid until the
 * next call. A worker's error (unreadable sample) is returned here with the sample named. */
int loader_next(loader *ld, const batch **out, cnn_err *e);
/* Seconds the caller spent blocked in loader_next since the last call of this. */
double loader_wait_seconds(loader *ld);
void loader_destroy(loader *ld);

#endif
