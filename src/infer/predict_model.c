/* The model predict applies: the checkpoint's config (or --config), its weights loaded
 * strictly into a forward-only net, the evaluation transform (data.eval_resize, model.input,
 * the normalization stored in the checkpoint or set in the config) and the class names
 * (--classes, else the checkpoint's, else the index). A fully convolutional model is
 * rebuilt for each input size from host copies of the weights; its input must be a
 * multiple of the net's total stride (the largest jump of any node), so it is padded. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer_impl.h"

static int64_t gcd64(int64_t a, int64_t b) { return b ? gcd64(b, a % b) : a; }

/* The least common multiple of every node's jump (output step in input pixels) that is a
 * whole number: a U-Net with four poolings needs multiples of 16. */
static void size_multiple(const net *n, int *mh, int *mw)
{
    net_node_stats *st = cnn_xcalloc((size_t)n->n_nodes, sizeof *st);
    net_totals tot;
    net_stats(n, st, &tot);
    int64_t h = 1, w = 1;
    for (int i = 0; i < n->n_nodes; i++) {
        double jh = st[i].jump_h, jw = st[i].jump_w;
        if (!st[i].global && jh >= 1 && jh < 65536 && jh == floor(jh))
            h = h / gcd64(h, (int64_t)jh) * (int64_t)jh;
        if (!st[i].global && jw >= 1 && jw < 65536 && jw == floor(jw))
            w = w / gcd64(w, (int64_t)jw) * (int64_t)jw;
    }
    free(st);
    *mh = (int)(h < 65536 ? h : 1);
    *mw = (int)(w < 65536 ? w : 1);
}

static int read_lines(const char *path, char ***out, int *n, cnn_err *e)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return CNN_ERR(e, CNN_EIO, "--classes %s: cannot open it (%s)", path, strerror(errno));
    char line[4096];
    int cap = 0;
    *n = 0;
    *out = NULL;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (*n == cap)
            *out = cnn_xgrow(*out, &cap, sizeof **out);
        (*out)[(*n)++] = cnn_xstrdup(line);
    }
    fclose(f);
    return CNN_OK;
}

/* Names for every output class: --classes (exactly one a class), the checkpoint's (the
 * training set may have fewer classes than the model: the rest are indices), or indices. */
static int set_names(pmodel *m, const infer_args *a, const ckpt_model_info *ci, cnn_err *e)
{
    char **file = NULL;
    int nf = 0;
    if (a->classes_file) {
        CNN_TRY(e, read_lines(a->classes_file, &file, &nf, e));
        if (nf != m->classes) {
            for (int k = 0; k < nf; k++)
                free(file[k]);
            free(file);
            return CNN_ERR(e, CNN_EINVAL, "--classes %s has %d lines but the model has %d "
                           "classes: give one name a line", a->classes_file, nf, m->classes);
        }
    }
    m->names = cnn_xcalloc((size_t)m->classes, sizeof *m->names);
    for (int k = 0; k < m->classes; k++) {
        if (file) {
            m->names[k] = file[k];
        } else if (k < ci->n_classes) {
            m->names[k] = cnn_xstrdup(ci->classes[k]);
        } else {
            m->names[k] = cnn_xmalloc(16);
            snprintf(m->names[k], 16, "%d", k);
        }
    }
    free(file);
    return CNN_OK;
}

/* The normalization: data.mean/std when the config sets them, else the checkpoint's. */
static int set_transform(pmodel *m, const ckpt_model_info *ci, const char *ckpt, cnn_err *e)
{
    const run_config *rc = &m->rc;
    const shape *in = &m->n->in_shape;
    m->aug = (augment_cfg){.out_h = (int)in->d[2], .out_w = (int)in->d[3], .train = false,
                           .resize = (int)rc->data.eval_resize, .channels = m->C};
    for (int c = 0; c < m->C; c++) {
        if (rc->data.mean.n > 0) {
            int k = rc->data.mean.n == 1 ? 0 : c;
            m->aug.mean[c] = (float)rc->data.mean.v[k];
            m->aug.std[c] = (float)rc->data.std.v[k];
        } else if (ci->channels == m->C || ci->channels == 1) {
            int k = ci->channels == 1 ? 0 : c;
            m->aug.mean[c] = ci->mean[k];
            m->aug.std[c] = ci->std[k];
        } else {
            return CNN_ERR(e, CNN_EINVAL, "%s stores no input normalization for the model's %d "
                           "channels (a weights-only file, or one written before checkpoints "
                           "carried it): give it with --set data.mean=[...] --set "
                           "data.std=[...] (ImageNet: [0.485,0.456,0.406] and "
                           "[0.229,0.224,0.225])", ckpt, m->C);
        }
        if (!(m->aug.std[c] > 0))
            m->aug.std[c] = 1;
    }
    return CNN_OK;
}

static int build(pmodel *m, int64_t h, int64_t w, cnn_err *e)
{
    net_opts o = m->no;
    o.input_h = h;
    o.input_w = w;
    net *n = NULL;
    CNN_TRY(e, net_create_opts(m->rc.model, m->batch, &o, &n, e));
    int r = net_alloc(n, m->be, e);
    if (r < 0) {
        net_destroy(n);
        return r;
    }
    m->n = n;
    m->h = n->in_shape.d[2];
    m->w = n->in_shape.d[3];
    return CNN_OK;
}

static void keep_weights(pmodel *m)
{
    const tensor *p = &m->n->params_flat, *b = &m->n->buffers_flat;
    m->params = cnn_xmalloc(p->data ? tensor_bytes(p) : 1);
    m->buffers = cnn_xmalloc(b->data ? tensor_bytes(b) : 1);
    if (p->data)
        backend_download(m->be, p, m->params);
    if (b->data)
        backend_download(m->be, b, m->buffers);
}

int pmodel_open(const infer_args *a, comm *c, pmodel *m, cnn_err *e)
{
    *m = (pmodel){.batch = a->batch};
    CNN_TRY(e, infer_load_config(a, &m->rc, e));
    if (!getenv("CNN_LOG"))
        log_set_level(m->rc.log.level);
    net_opts t = train_net_opts(&m->rc);
    m->no = (net_opts){.precision = t.precision, .channels_last = t.channels_last,
                       .inference = true};
    CNN_TRY(e, train_backend_create(&m->rc, c, &m->be, e));
    CNN_TRY(e, build(m, 0, 0, e));
    const shape *in = &m->n->in_shape;
    if (in->nd != 4 || (in->d[1] != 1 && in->d[1] != 3))
        return CNN_ERR(e, CNN_EINVAL, "the model's input is not an image of 1 or 3 channels "
                       "(model.input [C, H, W]): predict reads image files");
    m->C = (int)in->d[1];
    m->task = net_task(m->n);
    m->classes = net_classes(m->n);
    if (m->task != TASK_CLASSIFY)
        size_multiple(m->n, &m->mult_h, &m->mult_w);
    CNN_TRY(e, ckpt_load(a->ckpt, m->n, NULL, NULL, 0, NULL, e));
    keep_weights(m);
    ckpt_model_info ci;
    CNN_TRY(e, ckpt_read_info(a->ckpt, &ci, e));
    int r = set_transform(m, &ci, a->ckpt, e);
    if (r == CNN_OK && m->task != TASK_DENOISE)
        r = set_names(m, a, &ci, e);
    ckpt_info_free(&ci);
    return r;
}

int pmodel_resize(pmodel *m, int batch, int64_t h, int64_t w, cnn_err *e)
{
    if (m->task == TASK_CLASSIFY || (batch == m->batch && h == m->h && w == m->w))
        return CNN_OK;
    net_destroy(m->n);
    m->n = NULL;
    m->batch = batch;
    int r = build(m, h, w, e);
    if (r < 0) {
        cnn_err_prefix(e, "the model at input %lldx%lld: ", (long long)h, (long long)w);
        return r;
    }
    if (m->n->params_flat.data)
        backend_upload(m->be, &m->n->params_flat, m->params);
    if (m->n->buffers_flat.data)
        backend_upload(m->be, &m->n->buffers_flat, m->buffers);
    return CNN_OK;
}

void pmodel_close(pmodel *m)
{
    for (int k = 0; m->names && k < m->classes; k++)
        free(m->names[k]);
    free(m->names);
    free(m->params);
    free(m->buffers);
    net_destroy(m->n);
    if (m->be)
        backend_destroy(m->be);
    run_config_free(&m->rc);
    *m = (pmodel){0};
}
