/* predict's output per image and task. Classifier: the top K classes by softmax
 * probability (ties: lower index first). Segmenter: the argmax class of every pixel as an
 * 8-bit PNG of class ids, an overlay (the image blended half and half with a fixed palette,
 * PASCAL VOC's: class 0 black) and each present class's pixel fraction. Denoiser: the
 * output mapped back to 8-bit pixels (the normalization undone, clamped); with noise, the
 * noisy input too and the PSNR of both against the clean image, in [0, 1] pixel units.
 * Files are written under temporary names and renamed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../io/io.h"
#include "../viz/viz.h"
#include "infer_impl.h"

void text_open(text_buf *t)
{
    *t = (text_buf){0};
    t->f = open_memstream(&t->s, &t->len);
    if (!t->f)
        cnn_fatal("open_memstream: out of memory for predict's output");
}

void text_close(text_buf *t)
{
    if (t->f)
        fclose(t->f);
    t->f = NULL;
}

static void classify(const pmodel *m, const infer_args *a, const predict_item *it, FILE *out)
{
    int C = m->classes, k = a->top < C ? a->top : C;
    double mx = -INFINITY, z = 0;
    for (int c = 0; c < C; c++)
        mx = it->out[c] > mx ? it->out[c] : mx;
    for (int c = 0; c < C; c++)
        z += exp((double)it->out[c] - mx);
    int *top = cnn_xmalloc((size_t)k * sizeof *top);
    int n = 0;
    for (int c = 0; c < C; c++) { /* insertion into the sorted top k */
        if (n == k && !(it->out[c] > it->out[top[k - 1]]))
            continue;
        int i = n < k ? n++ : k - 1;
        for (; i > 0 && it->out[c] > it->out[top[i - 1]]; i--)
            top[i] = top[i - 1];
        top[i] = c;
    }
    fputs("{\"file\": ", out);
    json_write_str(out, it->file);
    fputs(", \"top\": [", out);
    for (int i = 0; i < n; i++) {
        fputs(i ? ", {\"class\": " : "{\"class\": ", out);
        json_write_str(out, m->names[top[i]]);
        fprintf(out, ", \"index\": %d, \"prob\": ", top[i]);
        json_write_num(out, exp((double)it->out[top[i]] - mx) / z, 6);
        fputc('}', out);
    }
    fputs("]}\n", out);
    free(top);
}

static int write_png(const char *dir, const char *stem, const char *what, const image *im,
                     char *path, size_t n, cnn_err *e)
{
    snprintf(path, n, "%s/%s_%s.png", dir, stem, what);
    uint8_t *png = NULL;
    size_t len = 0;
    CNN_TRY(e, image_encode_png(im, &png, &len, e));
    char *tmp = io_tmp_name(path, "");
    int rc = io_file_write(tmp, png, len, e);
    if (rc == CNN_OK)
        rc = io_file_commit(tmp, path, e);
    free(tmp);
    free(png);
    return rc;
}

static int segment(const pmodel *m, const infer_args *a, const predict_item *it, FILE *out,
                   cnn_err *e)
{
    int C = m->classes;
    size_t hw = (size_t)it->h * (size_t)it->w;
    image mask = {it->h, it->w, 1, cnn_xmalloc(hw)};
    image over = {it->h, it->w, 3, cnn_xmalloc(3 * hw)};
    double *count = cnn_xcalloc((size_t)C, sizeof *count);
    for (int y = 0; y < it->h; y++)
        for (int x = 0; x < it->w; x++) {
            const float *px = it->out + (size_t)y * (size_t)it->W + (size_t)x;
            size_t plane = (size_t)it->H * (size_t)it->W;
            int best = 0;
            for (int c = 1; c < C; c++)
                if (px[c * plane] > px[best * plane] || isnan(px[best * plane]))
                    best = c;
            size_t i = (size_t)y * (size_t)it->w + (size_t)x;
            mask.data[i] = (uint8_t)best;
            count[best] += 1;
            uint8_t col[3];
            viz_palette(best, col);
            for (int ch = 0; ch < 3; ch++) {
                int v = it->src->data[i * (size_t)it->src->c + (it->src->c == 3 ? ch : 0)];
                over.data[3 * i + ch] = (uint8_t)((v + col[ch] + 1) / 2);
            }
        }
    char mpath[4200], opath[4200];
    int rc = write_png(a->out_dir, it->stem, "mask", &mask, mpath, sizeof mpath, e);
    if (rc == CNN_OK)
        rc = write_png(a->out_dir, it->stem, "overlay", &over, opath, sizeof opath, e);
    if (rc == CNN_OK) {
        fputs("{\"file\": ", out);
        json_write_str(out, it->file);
        fputs(", \"mask\": ", out);
        json_write_str(out, mpath);
        fputs(", \"overlay\": ", out);
        json_write_str(out, opath);
        fprintf(out, ", \"height\": %d, \"width\": %d, \"classes\": [", it->h, it->w);
        for (int c = 0, first = 1; c < C; c++) {
            if (count[c] == 0)
                continue;
            fputs(first ? "{\"class\": " : ", {\"class\": ", out);
            json_write_str(out, m->names[c]);
            fprintf(out, ", \"index\": %d, \"fraction\": %.6g}", c, count[c] / (double)hw);
            first = 0;
        }
        fputs("]}\n", out);
    }
    free(count);
    image_free(&mask);
    image_free(&over);
    return rc;
}

/* Normalized planes (C, H, W) back to 8-bit interleaved pixels, and their [0, 1] values
 * (for the PSNR) when v is not NULL. */
static void to_pixels(const pmodel *m, const predict_item *it, const float *x, image *im,
                      double *v)
{
    int C = m->C;
    *im = (image){it->h, it->w, C, cnn_xmalloc((size_t)it->h * (size_t)it->w * (size_t)C)};
    for (int c = 0; c < C; c++)
        for (int y = 0; y < it->h; y++)
            for (int xx = 0; xx < it->w; xx++) {
                size_t src = ((size_t)c * (size_t)it->H + (size_t)y) * (size_t)it->W + (size_t)xx;
                size_t dst = ((size_t)y * (size_t)it->w + (size_t)xx) * (size_t)C + (size_t)c;
                double p = (double)x[src] * m->aug.std[c] + m->aug.mean[c];
                if (v)
                    v[dst] = p;
                double q = rint(p * 255.0);
                im->data[dst] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
            }
}

static double psnr(const double *a, const double *b, size_t n)
{
    double se = 0;
    for (size_t i = 0; i < n; i++)
        se += (a[i] - b[i]) * (a[i] - b[i]);
    double mse = se / (double)n;
    return mse > 0 ? 10.0 * log10(1.0 / mse) : INFINITY;
}

static int denoise(const pmodel *m, const infer_args *a, const predict_item *it, FILE *out,
                   cnn_err *e)
{
    size_t n = (size_t)it->h * (size_t)it->w * (size_t)m->C;
    double *vo = cnn_xmalloc(n * sizeof *vo), *vc = NULL, *vn = NULL;
    image den, noisy = {0};
    to_pixels(m, it, it->out, &den, vo);
    char dpath[4200], npath[4200];
    int rc = write_png(a->out_dir, it->stem, "denoised", &den, dpath, sizeof dpath, e);
    if (rc == CNN_OK && it->noisy) {
        image clean;
        vc = cnn_xmalloc(n * sizeof *vc);
        vn = cnn_xmalloc(n * sizeof *vn);
        to_pixels(m, it, it->clean, &clean, vc);
        image_free(&clean);
        to_pixels(m, it, it->noisy, &noisy, vn);
        rc = write_png(a->out_dir, it->stem, "noisy", &noisy, npath, sizeof npath, e);
    }
    if (rc == CNN_OK) {
        fputs("{\"file\": ", out);
        json_write_str(out, it->file);
        fputs(", \"denoised\": ", out);
        json_write_str(out, dpath);
        if (vn) {
            fputs(", \"noisy\": ", out);
            json_write_str(out, npath);
            fprintf(out, ", \"noise_std\": %g, \"psnr_noisy\": ", a->noise_std);
            json_write_num(out, psnr(vn, vc, n), 6);
            fputs(", \"psnr\": ", out);
            json_write_num(out, psnr(vo, vc, n), 6);
        }
        fputs("}\n", out);
    }
    image_free(&den);
    image_free(&noisy);
    free(vo);
    free(vc);
    free(vn);
    return rc;
}

int output_item(const pmodel *m, const infer_args *a, const predict_item *it, FILE *out,
                cnn_err *e)
{
    switch (m->task) {
    case TASK_CLASSIFY:
        classify(m, a, it, out);
        return CNN_OK;
    case TASK_SEGMENT:
        return segment(m, a, it, out, e);
    case TASK_DENOISE:
        return denoise(m, a, it, out, e);
    }
    return CNN_OK;
}
