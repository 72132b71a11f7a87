/* cnn-dist filters CKPT [--layer NAME] [--out PNG]: a convolution's filters as a picture
 * (viz_filters), from any checkpoint, torchvision's exported weights included. Without
 * --layer, the first convolution: the 4-D weight that reads the image (1 or 3 input
 * channels; the first by name when several do), else the first 4-D weight by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../viz/viz.h"
#include "infer_impl.h"

static const char usage[] =
    "usage: cnn-dist filters CKPT [--layer NAME] [--out PNG]\n"
    "\n"
    "Draws the filters of a convolution of checkpoint CKPT (ours, or tools/torch_export.py's\n"
    "torchvision weights): each filter scaled to the full range around zero (grey 127.5 +\n"
    "127.5 w / max|w| of the filter), enlarged, in a grid: one colour tile per filter for RGB\n"
    "input, one grey tile for gray input; for other convolutions one row per filter, one grey\n"
    "tile per input channel (the first 64).\n"
    "\n"
    "  --layer NAME   the convolution (its weight NAME.weight, e.g. layer1.0.conv1); default:\n"
    "                 the first convolution, the one that reads the image\n"
    "  --out PNG      the picture (default: <CKPT's name>-<layer>-filters.png here)\n";

static bool is_weight(const ckpt_entry *c)
{
    size_t n = strlen(c->name);
    return c->s.nd == 4 && n > 7 && !strcmp(c->name + n - 7, ".weight");
}

/* "conv1, layer1.0.conv1, ..." (the first few convolutions), for messages. */
static const char *conv_list(const ckpt_entry *v, int n, char *buf, size_t len)
{
    size_t at = 0;
    int shown = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && at < len; i++)
        if (is_weight(&v[i]) && shown++ < 8)
            at += (size_t)snprintf(buf + at, len - at, "%s%.*s", shown > 1 ? ", " : "",
                                   (int)strlen(v[i].name) - 7, v[i].name);
    if (shown > 8 && at < len)
        snprintf(buf + at, len - at, ", ... (%d in all)", shown);
    return shown ? buf : "none";
}

static int pick(const ckpt_entry *v, int n, const char *layer, const char *ckpt, cnn_err *e)
{
    char want[512], list[600];
    if (layer) {
        snprintf(want, sizeof want, "%s.weight", layer);
        for (int i = 0; i < n; i++)
            if (!strcmp(v[i].name, want) || !strcmp(v[i].name, layer)) {
                if (v[i].s.nd == 4)
                    return i;
                return CNN_ERR(e, CNN_EINVAL, "--layer %s: '%s' is not a convolution weight "
                               "(it has %d dimensions, not 4); convolutions: %s", layer,
                               v[i].name, v[i].s.nd, conv_list(v, n, list, sizeof list));
            }
        return CNN_ERR(e, CNN_EINVAL, "--layer %s: %s has no tensor %s; its convolutions: %s",
                       layer, ckpt, want, conv_list(v, n, list, sizeof list));
    }
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++)
            if (is_weight(&v[i]) && (pass || v[i].s.d[1] == 1 || v[i].s.d[1] == 3))
                return i;
    return CNN_ERR(e, CNN_EINVAL, "%s holds no convolution weight (a 4-D '<layer>.weight')",
                   ckpt);
}

/* <CKPT's stem>-<layer>-filters.png in the current folder: never a run's own filters.png. */
static void default_out(const char *ckpt, const char *tensor, char *buf, size_t n)
{
    int stem;
    const char *base = infer_stem(ckpt, &stem);
    size_t t = strlen(tensor);
    int keep = t > 7 && !strcmp(tensor + t - 7, ".weight") ? (int)t - 7 : (int)t;
    snprintf(buf, n, "%.*s-%.*s-filters.png", stem, base, keep, tensor);
}

static int run(const char *ckpt, const char *layer, const char *out, cnn_err *e)
{
    ckpt_entry *v;
    int n;
    CNN_TRY(e, ckpt_list(ckpt, &v, &n, e));
    int i = pick(v, n, layer, ckpt, e), rc = i;
    float *w = NULL;
    shape s;
    char def[1200];
    if (i >= 0 && !out) {
        default_out(ckpt, v[i].name, def, sizeof def);
        out = def;
    }
    if (i >= 0)
        rc = ckpt_read_tensor(ckpt, v[i].name, &w, &s, e);
    if (rc >= 0)
        rc = viz_filters(out, w, (int)s.d[0], (int)s.d[1], (int)s.d[2], (int)s.d[3], e);
    if (rc >= 0) {
        char b[96];
        printf("wrote %s: %s %s\n", out, v[i].name, shape_str(&s, b, sizeof b));
    }
    free(w);
    ckpt_list_free(v, n);
    return rc < 0 ? rc : CNN_OK;
}

int infer_filters_main(int argc, char **argv)
{
    const char *ckpt = NULL, *layer = NULL, *out = NULL;
    cnn_err e = {0};
    int rc = CNN_OK;
    for (int i = 1; i < argc && rc == CNN_OK; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        const char **slot = !strcmp(argv[i], "--layer") ? &layer
                            : !strcmp(argv[i], "--out") ? &out : NULL;
        if (slot && i + 1 < argc)
            *slot = argv[++i];
        else if (slot || argv[i][0] == '-')
            rc = CNN_ERR(&e, CNN_EINVAL, "%s '%s'; see cnn-dist filters --help",
                         slot ? "missing value after" : "unknown option", argv[i]);
        else if (ckpt)
            rc = CNN_ERR(&e, CNN_EINVAL, "one CKPT only; unexpected argument '%s'", argv[i]);
        else
            ckpt = argv[i];
    }
    if (rc == CNN_OK && !ckpt)
        rc = CNN_ERR(&e, CNN_EINVAL, "no CKPT given\n%s", usage);
    if (rc == CNN_OK)
        rc = run(ckpt, layer, out, &e);
    if (rc < 0)
        cnn_err_report("cnn-dist", rc, &e, 0, 1);
    return rc == CNN_OK ? 0 : rc == CNN_EINVAL ? 2 : 1;
}
