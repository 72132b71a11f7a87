/* Private to cnn-pack's image sources: the file lists found by image_scan.c and
 * pack_labels.c, the per-file work of pack_sample.c and the ordered thread pool of
 * pack_run.c, driven by pack_images.c (pack_images_main). */
#ifndef CNN_DATA_PACK_IMAGES_IMPL_H
#define CNN_DATA_PACK_IMAGES_IMPL_H

#include "data.h"

typedef struct pack_item {
    char *path;
    char *mask;    /* segmentation: the mask's path, else NULL */
    int32_t label; /* classify: class index; segment: -1 */
} pack_item;

typedef struct pack_list {
    pack_item *items; /* (n) in dataset order */
    int64_t n, cap;
    char **classes;   /* (n_classes) */
    int n_classes;
    int64_t ignored;  /* files without a .jpg/.jpeg/.png extension (.png for masks) */
} pack_list;

/* torchvision's ImageFolder: classes = sorted sub-folders, files found recursively (symlinks
 * followed), in os.walk order (sorted folder paths, then sorted names). */
int scan_imagefolder(const char *src, pack_list *l, cnn_err *e);
/* Flat folder + label file: "name label" lines, or one label per line for the sorted
 * names; labels are class indices (all integers) or class names (sorted into indices);
 * with classes_from (a training master file), every label is a name of its classes. */
int scan_imagenet_val(const char *src, const char *labels, const char *classes_from,
                      pack_list *l, cnn_err *e);
/* Flat folders of images and of PNG masks, paired by file stem. */
int scan_segmentation(const char *images, const char *masks, pack_list *l, cnn_err *e);
void pack_list_free(pack_list *l);

typedef struct pack_cfg {
    data_mode mode;
    data_task task;
    int resize;          /* shorter side (0 = keep) */
    int size_h, size_w;  /* raw mode */
    int threads, shards;
    bool strict, progress;
} pack_cfg;

/* One file's outcome: what to store, or why it was skipped. */
typedef struct pack_sample {
    int rc;
    char msg[1100];
    uint8_t *img, *mask; /* malloc'ed; img may alias `file` (stored as read) */
    size_t len, mask_len;
    int32_t h, w;
    int max_id;            /* segmentation: largest class id of the mask but 255, -1 if none */
    bool stats;            /* sum/sq hold this sample's pixels */
    uint64_t sum[3], sq[3], px;
} pack_sample;

/* stats_full: count this sample's pixels into the channel statistics. */
void pack_sample_make(const pack_cfg *c, const pack_item *it, bool stats_full, pack_sample *s);
/* Segmentation pre-pass: the mask's largest class id (255 = ignore excluded). */
void pack_sample_mask_ids(const pack_item *it, pack_sample *s);
void pack_sample_free(pack_sample *s);

/* Runs work(ctx, i, &s) for i in [0, n) on `threads` threads and take(ctx, i, &s) on the
 * calling thread in index order (output independent of the thread count); take returning
 * < 0 stops the run and is returned. */
typedef void (*pack_work_fn)(void *ctx, int64_t i, pack_sample *s);
typedef int (*pack_take_fn)(void *ctx, int64_t i, pack_sample *s, cnn_err *e);
int pack_run(int64_t n, int threads, pack_work_fn work, pack_take_fn take, void *ctx,
             cnn_err *e);

/* Progress on stderr ("\r" line, files/s and ETA) when it is a terminal. */
typedef struct pack_progress {
    bool on;
    int64_t n, last_shown;
    double t0, last_t;
    const char *what;
} pack_progress;
void pack_progress_init(pack_progress *p, bool on, int64_t n, const char *what);
void pack_progress_tick(pack_progress *p, int64_t done);
void pack_progress_end(pack_progress *p, int64_t done);
double pack_now(void);

#endif
