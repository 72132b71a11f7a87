/* The model info of a checkpoint (train.h ckpt_model_info): what applying the model needs
 * besides its weights, so that `cnn-dist predict CKPT` works from the file alone. Root
 * attributes: "input_mean" and "input_std" (f32, one per input channel) and "classes" (one
 * variable-length string, the names joined by newlines: one attribute of any size, where an
 * array of strings would hit the 64 KiB object-header limit of the old file format at a
 * few thousand classes). A name holding a newline is written with a space instead. */
#include <stdlib.h>
#include <string.h>

#include "ckpt_impl.h"

#define ATTR_MEAN "input_mean"
#define ATTR_STD "input_std"
#define ATTR_CLASSES "classes"

int ckpt_write_info(hid_t f, const ckpt_model_info *info, cnn_err *e)
{
    if (info->channels > 0) {
        CNN_ASSERT(info->channels <= 3);
        CNN_TRY(e, io_h5_attr_put_f32(f, ATTR_MEAN, info->mean, info->channels, e));
        CNN_TRY(e, io_h5_attr_put_f32(f, ATTR_STD, info->std, info->channels, e));
    }
    if (info->n_classes <= 0)
        return CNN_OK;
    size_t len = 1;
    for (int k = 0; k < info->n_classes; k++)
        len += strlen(info->classes[k]) + 1;
    char *text = cnn_xmalloc(len), *at = text;
    for (int k = 0; k < info->n_classes; k++) {
        size_t n = strlen(info->classes[k]);
        memcpy(at, info->classes[k], n);
        for (size_t i = 0; i < n; i++)
            at[i] = at[i] == '\n' ? ' ' : at[i];
        at += n;
        *at++ = k + 1 < info->n_classes ? '\n' : '\0';
    }
    int rc = io_h5_attr_put_str(f, ATTR_CLASSES, text, e);
    free(text);
    return rc;
}

/* "a\nb\nc" into n_classes malloc'ed names. */
static void split_lines(const char *text, ckpt_model_info *out)
{
    int n = 1;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    out->classes = cnn_xcalloc((size_t)n, sizeof *out->classes);
    const char *start = text;
    for (int k = 0; k < n; k++) {
        const char *end = strchr(start, '\n');
        size_t len = end ? (size_t)(end - start) : strlen(start);
        out->classes[k] = cnn_xmalloc(len + 1);
        memcpy(out->classes[k], start, len);
        out->classes[k][len] = '\0';
        start = end ? end + 1 : start + len;
    }
    out->n_classes = n;
}

static int read_norm(hid_t f, const char *path, ckpt_model_info *out, cnn_err *e)
{
    htri_t has = CNN_H5(e, H5Aexists(f, ATTR_MEAN));
    if (has <= 0)
        return has < 0 ? CNN_EIO : CNN_OK;
    hid_t a = CNN_H5(e, H5Aopen(f, ATTR_MEAN, H5P_DEFAULT));
    hid_t sp = a < 0 ? -1 : CNN_H5(e, H5Aget_space(a));
    hssize_t c = sp < 0 ? -1 : CNN_H5(e, H5Sget_simple_extent_npoints(sp));
    if (sp >= 0)
        H5Sclose(sp);
    if (a >= 0)
        H5Aclose(a);
    if (c < 0)
        return CNN_EIO;
    if (c < 1 || c > 3)
        return CNN_ERR(e, CNN_EINVAL, "checkpoint %s: attribute '" ATTR_MEAN "' has %lld "
                       "values; it needs one per input channel (1 or 3)", path, (long long)c);
    CNN_TRY(e, io_h5_attr_get(f, ATTR_MEAN, H5T_NATIVE_FLOAT, (int)c, out->mean, e));
    CNN_TRY(e, io_h5_attr_get(f, ATTR_STD, H5T_NATIVE_FLOAT, (int)c, out->std, e));
    out->channels = (int)c;
    return CNN_OK;
}

int ckpt_read_info(const char *path, ckpt_model_info *out, cnn_err *e)
{
    *out = (ckpt_model_info){0};
    io_h5_quiet q;
    io_h5_quiet_begin(&q);
    hid_t f = io_h5_open_read(path, e);
    int rc = f < 0 ? CNN_EIO : read_norm(f, path, out, e);
    char *text = NULL;
    if (rc == CNN_OK)
        rc = io_h5_attr_get_str(f, ATTR_CLASSES, false, &text, e);
    if (rc == CNN_OK && text && *text)
        split_lines(text, out);
    free(text);
    if (f >= 0)
        H5Fclose(f);
    io_h5_quiet_end(&q);
    if (rc < 0) {
        ckpt_info_free(out);
        cnn_err_prefix(e, "reading %s: ", path);
    }
    return rc;
}

void ckpt_info_free(ckpt_model_info *info)
{
    for (int k = 0; info->classes && k < info->n_classes; k++)
        free(info->classes[k]);
    free(info->classes);
    *info = (ckpt_model_info){0};
}
