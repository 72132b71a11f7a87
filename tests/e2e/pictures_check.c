/* Checks the pictures of a run (tests/e2e/pictures.sh), read back with libpng (image_decode):
 * each decodes, has the documented size (viz.h) and more than one colour; filters.png holds
 * the checkpoint's first convolution: every tile's grey levels reconstruct the filter's
 * values, scaled by its own max |w|, to within one grey level (viz_filters' mapping
 * 127.5 + 127.5 w / max|w|, read back from the PNG independently of the drawing code).
 * usage: pictures_check RUN_DIR CKPT TASK_COLS SAMPLE_ROWS [FILTERS_PNG] */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/data/data.h"
#include "../../src/train/train.h"
#include "../../src/viz/viz.h"
#include "../check.h"

static image load(const char *path)
{
    uint8_t *bytes;
    size_t len;
    image im = {0};
    cnn_err e = {0};
    if (data_read_file(path, &bytes, &len, &e) < 0 || image_decode(bytes, len, 3, 0, &im, &e) < 0) {
        fprintf(stderr, "%s: %s\n", path, e.msg);
        exit(1);
    }
    free(bytes);
    size_t n = (size_t)im.h * (size_t)im.w * 3;
    bool varied = false;
    for (size_t i = 3; i < n && !varied; i++)
        varied = im.data[i] != im.data[i % 3];
    if (!varied) {
        fprintf(stderr, "%s is a single colour\n", path);
        exit(1);
    }
    printf("%s: %dx%d, not a single colour\n", path, im.w, im.h);
    return im;
}

static void filters(const char *png, const char *ckpt)
{
    ckpt_entry *v;
    int n;
    cnn_err e = {0};
    CHECK_EQ(ckpt_list(ckpt, &v, &n, &e), CNN_OK);
    int k = -1;
    for (int i = 0; i < n && k < 0; i++)
        if (v[i].s.nd == 4 && (v[i].s.d[1] == 1 || v[i].s.d[1] == 3))
            k = i;
    CHECK(k >= 0);
    float *w;
    shape s;
    CHECK_EQ(ckpt_read_tensor(ckpt, v[k].name, &w, &s, &e), CNN_OK);
    int K = (int)s.d[0], C = (int)s.d[1], R = (int)s.d[2], S = (int)s.d[3];
    int z = viz_filter_zoom(R, S), cols = (int)ceil(sqrt((double)K)), rows = (K + cols - 1) / cols;
    image im = load(png);
    CHECK_EQ(im.w, VIZ_BORDER + cols * (S * z + VIZ_BORDER));
    CHECK_EQ(im.h, VIZ_BORDER + rows * (R * z + VIZ_BORDER));
    double worst = 0;
    for (int f = 0; f < K; f++) {
        const float *wf = w + (size_t)f * C * R * S;
        double m = 0;
        for (int i = 0; i < C * R * S; i++)
            m = fmax(m, fabs(wf[i]));
        int x0 = VIZ_BORDER + f % cols * (S * z + VIZ_BORDER);
        int y0 = VIZ_BORDER + f / cols * (R * z + VIZ_BORDER);
        for (int c = 0; c < C; c++)
            for (int r = 0; r < R; r++)
                for (int q = 0; q < S; q++) {
                    /* the centre pixel of the enlarged cell, channel c (grey: any) */
                    int px = x0 + q * z + z / 2, py = y0 + r * z + z / 2;
                    double g = im.data[((size_t)py * im.w + px) * 3 + (C == 3 ? c : 0)];
                    double back = (g - 127.5) / 127.5 * m; /* the value the PNG says */
                    double err = fabs(back - wf[(c * R + r) * S + q]) / (m / 127.5);
                    worst = fmax(worst, err);
                }
    }
    printf("%s: %d filters of %s (%d, %d, %d, %d) reconstructed within %.3f grey levels\n",
           png, K, v[k].name, K, C, R, S, worst);
    CHECK(worst <= 1.0);
    image_free(&im);
    free(w);
    ckpt_list_free(v, n);
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: pictures_check RUN_DIR CKPT TASK_COLS SAMPLE_ROWS [FILTERS_PNG]\n");
        return 2;
    }
    char p[4096];
    snprintf(p, sizeof p, "%s/curves.png", argv[1]);
    image im = load(p);
    CHECK(im.w == 3 * VIZ_PANEL_W && im.h == VIZ_PANEL_H);
    image_free(&im);
    snprintf(p, sizeof p, "%s/samples.png", argv[1]);
    im = load(p);
    int cols = atoi(argv[3]), rows = atoi(argv[4]);
    CHECK(im.w == VIZ_GRID_W(cols, 128) && im.h == VIZ_GRID_H(rows, 128)); /* 128: the tile */
    image_free(&im);
    snprintf(p, sizeof p, "%s/confusion.png", argv[1]);
    im = load(p);
    image_free(&im);
    snprintf(p, sizeof p, "%s/filters.png", argv[1]);
    filters(p, argv[2]);
    if (argc == 6)
        filters(argv[5], argv[2]);
    printf("pictures: ok\n");
    return 0;
}
