/* One sample for the loader's workers: pread its bytes (dataset_read, no libhdf5), decode
 * (encoded mode) or wrap the raw HWC pixels, check its label or mask against the dataset's
 * classes, then augment with the sample's own key straight into the batch slot.
 * Mask value 255 is the usual "ignore" of segmentation sets (VOC boundaries): it becomes
 * the loss's ignore_index -100; any other value outside [0, n_classes) is an error. */
#include "decode_impl.h"
#include "loader_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MASK_IGNORE 255
#define LABEL_IGNORE (-100)

void loader_scratch_free(loader_scratch *s)
{
    free(s->img);
    free(s->mask);
    *s = (loader_scratch){0};
}

int loader_min_side(const augment_cfg *a, data_task task)
{
    /* A mask must stay aligned with its image, and masks are PNGs: no scaling. */
    if (task == DATA_SEGMENT)
        return 0;
    int out = a->out_h > a->out_w ? a->out_h : a->out_w;
    if (!a->train)
        return a->resize > 0 ? a->resize : out;
    if (a->scale_max > 0) /* the shorter side never grows beyond scale_max */
        return a->scale_max;
    /* The smallest crop (area scale[0], the most elongated ratio) must still hold `out`
     * pixels along its shorter side: side * sqrt(scale * min(r, 1/r)) >= out. */
    double r = a->ratio[0] < 1.0 / a->ratio[1] ? a->ratio[0] : 1.0 / a->ratio[1];
    if (r > 1)
        r = 1;
    double f = sqrt((double)a->scale[0] * r);
    return f > 0 ? (int)ceil(out / f) : 0;
}

static int grow(uint8_t **buf, size_t *cap, int64_t need, cnn_err *e)
{
    if (need < 1)
        need = 1;
    if ((size_t)need <= *cap)
        return CNN_OK;
    free(*buf);
    *cap = 0;
    *buf = malloc((size_t)need);
    if (!*buf)
        return CNN_ERR(e, CNN_ENOMEM, "cannot allocate %lld bytes for one sample",
                       (long long)need);
    *cap = (size_t)need;
    return CNN_OK;
}

/* Raw mask bytes or a decoded mask image, checked value by value. */
static int check_mask(const image *m, int n_classes, int64_t index, cnn_err *e)
{
    size_t n = (size_t)m->h * (size_t)m->w * (size_t)m->c;
    for (size_t i = 0; i < n; i++) {
        int v = m->data[i];
        if (v >= n_classes && v != MASK_IGNORE)
            return CNN_ERR(e, CNN_EINVAL, "sample %lld: mask value %d at pixel (%zu, %zu) is "
                           "outside the dataset's %d classes (255 = ignore); fix the masks "
                           "and repack", (long long)index, v, i / (size_t)m->w % (size_t)m->h,
                           i % (size_t)m->w, n_classes);
    }
    return CNN_OK;
}

static int get_mask(const dataset_info *in, const sample_ref *r, const image *img,
                    const loader_scratch *s, image *mask, bool *owned, cnn_err *e)
{
    *owned = false;
    if (in->mode == DATA_RAW) {
        if (r->mask_len != (int64_t)in->raw_h * in->raw_w)
            return CNN_ERR(e, CNN_EINVAL, "sample %lld: raw mask has %lld bytes, expected "
                           "%dx%d", (long long)r->index, (long long)r->mask_len, in->raw_h,
                           in->raw_w);
        *mask = (image){in->raw_h, in->raw_w, 1, s->mask};
    } else {
        int rc = decode_png_ids(s->mask, (size_t)r->mask_len, mask, e); /* ids, not colors */
        if (rc < 0) {
            cnn_err_prefix(e, "sample %lld mask: ", (long long)r->index);
            return rc;
        }
        *owned = true;
    }
    if (mask->h != img->h || mask->w != img->w)
        return CNN_ERR(e, CNN_EINVAL, "sample %lld: mask is %dx%d but its image is %dx%d",
                       (long long)r->index, mask->h, mask->w, img->h, img->w);
    return check_mask(mask, in->n_classes, r->index, e);
}

static int get_image(const dataset_info *in, const sample_ref *r, int channels, int min_side,
                     const loader_scratch *s, image *img, bool *owned, cnn_err *e)
{
    *owned = false;
    if (in->mode == DATA_RAW) {
        int64_t want = (int64_t)in->raw_h * in->raw_w * in->raw_c;
        if (r->len != want)
            return CNN_ERR(e, CNN_EINVAL, "sample %lld: raw image has %lld bytes, expected "
                           "%dx%dx%d = %lld", (long long)r->index, (long long)r->len,
                           in->raw_h, in->raw_w, in->raw_c, (long long)want);
        *img = (image){in->raw_h, in->raw_w, in->raw_c, s->img};
        return CNN_OK;
    }
    int rc = image_decode(s->img, (size_t)r->len, channels, min_side, img, e);
    if (rc < 0) {
        cnn_err_prefix(e, "sample %lld: ", (long long)r->index);
        return rc;
    }
    *owned = true;
    return CNN_OK;
}

int loader_load_sample(const dataset *ds, const augment_cfg *aug, int channels, int min_side,
                       loader_scratch *s, int64_t index, rng_key key, float *out,
                       int32_t *label, float *target, cnn_err *e)
{
    const dataset_info *in = dataset_get_info(ds);
    sample_ref r;
    dataset_ref(ds, index, &r);
    bool seg = in->task == DATA_SEGMENT;
    if (!seg && (r.label < 0 || (in->n_classes > 0 && r.label >= in->n_classes)))
        return CNN_ERR(e, CNN_EINVAL, "sample %lld: label %d is outside the dataset's %d "
                       "classes; repack the dataset", (long long)index, r.label, in->n_classes);
    CNN_TRY(e, grow(&s->img, &s->img_cap, r.len, e));
    if (seg)
        CNN_TRY(e, grow(&s->mask, &s->mask_cap, r.mask_len, e));
    CNN_TRY(e, dataset_read(ds, index, s->img, seg ? s->mask : NULL, e));
    image img, mask = {0};
    bool img_owned, mask_owned = false;
    CNN_TRY(e, get_image(in, &r, channels, min_side, s, &img, &img_owned, e));
    int rc = seg ? get_mask(in, &r, &img, s, &mask, &mask_owned, e) : CNN_OK;
    if (rc == CNN_OK) {
        augment_sample(aug, key, &img, seg ? &mask : NULL, out, seg ? label : NULL, target);
        if (seg) {
            size_t hw = (size_t)aug->out_h * (size_t)aug->out_w;
            for (size_t i = 0; i < hw; i++)
                if (label[i] == MASK_IGNORE)
                    label[i] = LABEL_IGNORE;
        } else {
            *label = r.label;
        }
    }
    if (img_owned)
        image_free(&img);
    if (mask_owned)
        image_free(&mask);
    if (rc < 0)
        cnn_err_trace(e, __FILE__, __LINE__);
    return rc;
}

int loader_sample(const dataset *ds, const augment_cfg *aug, int channels, int64_t index,
                  rng_key key, float *out, int32_t *label, float *target, cnn_err *e)
{
    loader_scratch s = {0};
    int32_t one;
    int rc = loader_load_sample(ds, aug, channels,
                                loader_min_side(aug, dataset_get_info(ds)->task), &s, index,
                                key, out, label ? label : &one, target, e);
    loader_scratch_free(&s);
    return rc;
}
