/* Layer life cycle shared by every type: creation from YAML, inference with the common
 * checks, slot declaration and standalone memory for tests and tools; and the input checks
 * and formatting that the layer files share, so their messages read alike. */
#include "layers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* `if` is the net's conditional inclusion (docs/models.md); the net resolves it before
 * creating the layer, but the key stays in the map the layer sees. */
const char *const layer_common_keys[] = {"type", "name", "input", "inputs", "if", NULL};

layer_info layer_info_pointwise(void)
{
    return (layer_info){.kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .up_h = 1,
                        .up_w = 1};
}

int layer_create(const cfg_node *spec, const char *default_name, layer **out, cnn_err *e)
{
    return layer_create_default(spec, NULL, default_name, out, e);
}

int layer_create_default(const cfg_node *spec, const char *default_type,
                         const char *default_name, layer **out, cnn_err *e)
{
    char w[256];
    *out = NULL;
    if (!spec || spec->kind != CFG_MAP)
        return CNN_ERR(e, CNN_EINVAL, "%s: a layer must be a map with at least 'type:'",
                       spec ? cfg_where(spec, w, sizeof w) : "<config>");
    const char *type, *name;
    CNN_TRY(e, cfg_str(spec, "type", !default_type, default_type, &type, e));
    CNN_TRY(e, cfg_str(spec, "name", false, default_name, &name, e));
    const layer_ops *ops = layer_ops_find(type);
    if (!ops)
        return CNN_ERR(e, CNN_EINVAL, "%s: unknown layer type '%s'; known types: %s",
                       cfg_where(cfg_get(spec, "type"), w, sizeof w), type,
                       layer_types_list((char[1024]){0}, 1024));
    if (!name || !name[0] || strlen(name) >= LAYER_NAME_MAX)
        return CNN_ERR(e, CNN_EINVAL, "%s: layer name must have 1 to %d characters",
                       cfg_where(spec, w, sizeof w), LAYER_NAME_MAX - 1);
    layer *l = cnn_xcalloc(1, sizeof *l);
    l->ops = ops;
    l->mark = spec->mark;
    snprintf(l->name, sizeof l->name, "%s", name);
    int rc = ops->parse(l, spec, e);
    if (rc < 0) {
        if (e && !strstr(e->msg, "layer '"))
            cnn_err_prefix(e, "layer '%s' (%s): ", l->name, ops->type);
        cnn_err_trace(e, __FILE__, __LINE__);
        layer_destroy(l);
        return rc;
    }
    *out = l;
    return CNN_OK;
}

int layer_infer(layer *l, const shape *in, const dtype *in_dt, int n_in, cnn_err *e)
{
    if (n_in < l->ops->min_in || n_in > l->ops->max_in) {
        if (l->ops->min_in == l->ops->max_in)
            return LAYER_ERR(l, e, "takes %d input(s), got %d", l->ops->min_in, n_in);
        return LAYER_ERR(l, e, "takes %d to %d inputs, got %d", l->ops->min_in,
                         l->ops->max_in, n_in);
    }
    l->n_in = n_in;
    for (int i = 0; i < n_in; i++) {
        int64_t numel;
        if (shape_numel_checked(&in[i], &numel, e) < 0) {
            cnn_err_prefix(e, "layer '%s' (%s), input %d: ", l->name, l->ops->type, i);
            return CNN_EINVAL;
        }
        l->in[i] = in[i];
        l->in_dt[i] = in_dt[i];
    }
    l->out_dt = n_in > 0 && dtype_is_float(in_dt[0]) ? in_dt[0] : DTYPE_F32;
    CNN_TRY(e, l->ops->infer(l, e));
    int64_t numel;
    if (shape_numel_checked(&l->out, &numel, e) < 0) {
        char bo[128], bi[128];
        bool empty = false;
        for (int i = 0; i < l->out.nd; i++)
            empty |= l->out.d[i] <= 0;
        if (!empty)
            return LAYER_ERR(l, e, "output shape %s has more elements than fit in 64 bits; "
                             "use smaller sizes", shape_str(&l->out, bo, sizeof bo));
        return LAYER_ERR(l, e, "output shape %s is empty; the input %s is too small for "
                         "this layer's window", shape_str(&l->out, bo, sizeof bo),
                         shape_str(&l->in[0], bi, sizeof bi));
    }
    return CNN_OK;
}

void layer_destroy(layer *l)
{
    if (!l)
        return;
    if (l->ops && l->ops->destroy)
        l->ops->destroy(l);
    else
        free(l->state);
    free(l);
}

layer_slot *layer_slot_find(layer *l, const char *name)
{
    for (int i = 0; i < l->n_slots; i++)
        if (!strcmp(l->slots[i].name, name))
            return &l->slots[i];
    return NULL;
}

tensor *layer_slot_t(layer *l, const char *name)
{
    layer_slot *s = layer_slot_find(l, name);
    if (!s || !s->t.data)
        cnn_fatal("layer '%s' (%s): slot '%s' is %s", l->name, l->ops->type, name,
                  s ? "not bound to memory" : "not declared");
    return &s->t;
}

layer_slot *layer_declare(layer *l, const char *name, slot_kind kind, dtype dt, shape s)
{
    layer_slot *sl = layer_slot_find(l, name);
    if (!sl) {
        CNN_ASSERT(l->n_slots < LAYER_MAX_SLOTS);
        sl = &l->slots[l->n_slots++];
        memset(sl, 0, sizeof *sl);
        snprintf(sl->name, sizeof sl->name, "%s", name);
    }
    sl->kind = kind;
    sl->t = tensor_view(NULL, s, dt, DEVICE_CPU);
    sl->t.lay = s.nd == 4 ? l->lay : LAYOUT_NCHW;
    sl->grad = sl->t;
    return sl;
}

int layer_alloc_standalone(layer *l, backend *be, cnn_err *e)
{
    for (int i = 0; i < l->n_slots; i++) {
        layer_slot *s = &l->slots[i];
        CNN_TRY(e, backend_alloc_tensor(be, &s->t, e));
        be->ops->fill(be, &s->t, 0.0);
        if (s->kind == SLOT_PARAM) {
            CNN_TRY(e, backend_alloc_tensor(be, &s->grad, e));
            be->ops->fill(be, &s->grad, 0.0);
        }
    }
    return CNN_OK;
}

void layer_free_standalone(layer *l, backend *be)
{
    for (int i = 0; i < l->n_slots; i++) {
        backend_free_tensor(be, &l->slots[i].t);
        backend_free_tensor(be, &l->slots[i].grad);
    }
}

void layer_upload_f32(backend *be, tensor *t, const float *host)
{
    float *moved = NULL;
    void *rounded = NULL;
    if (tensor_is_nhwc(t)) {
        moved = cnn_xmalloc((size_t)tensor_numel(t) * sizeof *moved);
        layout_permute_host(moved, LAYOUT_NHWC, host, LAYOUT_NCHW, &t->s, sizeof *moved);
        host = moved;
    }
    if (t->dt != DTYPE_F32) {
        rounded = cnn_xmalloc(tensor_bytes(t));
        dtype_convert_host(t->dt, rounded, DTYPE_F32, host, tensor_numel(t));
    }
    backend_upload(be, t, rounded ? rounded : host);
    be->ops->sync(be); /* the copy may still read the host buffer */
    free(rounded);
    free(moved);
}

void layer_fill_uniform(backend *be, tensor *t, rng_key key, float lo, float hi)
{
    size_t n = (size_t)tensor_numel(t);
    float *h = cnn_xmalloc(n * sizeof *h);
    rng_fill_uniform(key, 0, h, n, lo, hi);
    layer_upload_f32(be, t, h);
    free(h);
}

int64_t layer_window_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d)
{
    int64_t span = d * (k - 1) + 1;
    int64_t num = in + 2 * p - span;
    if (num < 0)
        return 0;
    return num / s + 1;
}

int layer_expect_float(layer *l, int i, cnn_err *e)
{
    dtype dt = l->in_dt[i];
    if (!dtype_is_float(dt)) {
        if (l->ops->max_in == 1)
            return LAYER_ERR(l, e, "input must be f32, f16 or bf16, got %s", dtype_name(dt));
        return LAYER_ERR(l, e, "input %d must be f32, f16 or bf16, got %s", i, dtype_name(dt));
    }
    if (i > 0 && dt != l->in_dt[0])
        return LAYER_ERR(l, e, "input %d is %s but input 0 is %s; they must be equal", i,
                         dtype_name(dt), dtype_name(l->in_dt[0]));
    return CNN_OK;
}

int layer_expect_input(layer *l, int i, unsigned ranks, const char *layout, cnn_err *e)
{
    CNN_TRY(e, layer_expect_float(l, i, e));
    if (ranks & LAYER_RANK(l->in[i].nd))
        return CNN_OK;
    char b[96];
    if (l->ops->max_in == 1)
        return LAYER_ERR(l, e, "input must be %s, got %s", layout,
                         shape_str(&l->in[i], b, sizeof b));
    return LAYER_ERR(l, e, "input %d must be %s, got %s", i, layout,
                     shape_str(&l->in[i], b, sizeof b));
}

int layer_expect_nchw(layer *l, cnn_err *e)
{
    return layer_expect_input(l, 0, LAYER_RANK(4), "(N, C, H, W)", e);
}

const char *layer_pair_str(const int64_t v[2], char *b, size_t n)
{
    if (v[0] == v[1])
        snprintf(b, n, "%lld", (long long)v[0]);
    else
        snprintf(b, n, "[%lld, %lld]", (long long)v[0], (long long)v[1]);
    return b;
}
