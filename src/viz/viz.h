/* Pictures of what a run learned, as PNG files drawn with cairo (rank 0 calls these from
 * what the trainer already computes): curves against the step, the filters of a
 * convolution, captioned tiles of sample images and predictions, and the confusion matrix.
 * Knows nothing of nets or training: it takes arrays. Built with cairo when the build finds
 * it (libcairo2-dev); without it viz_available() is false and every drawing call returns
 * CNN_EINVAL saying so, so a run goes on without pictures. */
#ifndef CNN_VIZ_H
#define CNN_VIZ_H

#include "../core/core.h"

/* cairo was found at build time. */
bool viz_available(void);
/* Why pictures are off when they are ("built without cairo: ..."), for a one-time note. */
const char *viz_unavailable_reason(void);

/* PASCAL VOC's palette (class 0 black, 1 dark red, 2 dark green, ...; bits of the class id
 * spread over the channels' high bits): the colour of class k for masks and overlays. */
void viz_palette(int k, uint8_t rgb[3]);

/* ---- curves (viz_curves.c) ---- */
typedef struct viz_series {
    const char *name;  /* in the legend */
    const double *x, *y; /* (n) points; a NaN y breaks the line */
    int n;
    uint32_t rgb;      /* 0xRRGGBB */
    bool dashed, points; /* dashed line; a dot at every point (few points: evaluations) */
} viz_series;
typedef struct viz_panel {
    const char *title, *xlabel, *ylabel;
    const viz_series *series;
    int n_series;
    bool log_y; /* a logarithmic y axis (positive values only) */
} viz_panel;
/* n_panels panels side by side, each VIZ_PANEL_W x VIZ_PANEL_H pixels: axes with ticks and
 * labels, a title, a legend, and vertical lines at the x values in marks (epochs). */
#define VIZ_PANEL_W 560
#define VIZ_PANEL_H 420
int viz_curves(const char *path, const viz_panel *panels, int n_panels, const double *marks,
               int n_marks, cnn_err *e);

/* ---- images (viz_images.c) ---- */
/* The filters of a convolution, w (K, C, R, S) f32. Each filter k is scaled to the full
 * range around zero: grey level round(127.5 + 127.5 * v / m_k), m_k = max |v| over the
 * whole filter (all its channels; 0 when m_k is 0). C 3: one colour tile per filter (RGB =
 * channels 0, 1, 2); C 1: one grey tile; other C: a row of C grey tiles per filter (at most
 * VIZ_FILTER_MAX_C). Tiles are enlarged z = viz_filter_zoom(R, S) times by nearest
 * neighbour and laid out in a grid of VIZ_BORDER-pixel white lines: C 1 or 3 in
 * ceil(sqrt(K)) columns, row by row; other C one filter a row. */
#define VIZ_BORDER 1
#define VIZ_FILTER_MAX_C 64
int viz_filter_zoom(int R, int S);
int viz_filters(const char *path, const float *w, int K, int C, int R, int S, cnn_err *e);

/* One tile of a grid: an 8-bit image (h, w, c interleaved, c 1 or 3) drawn in a square of
 * the grid's tile size (scaled to fit, nearest neighbour when enlarged), with up to two
 * caption lines under it; alert draws a red frame and red captions (a mistake). */
typedef struct viz_tile {
    const uint8_t *px;
    int h, w, c;
    const char *caption, *caption2;
    bool alert;
} viz_tile;
/* rows x cols tiles (row-major; px NULL leaves a cell empty) under a title line, and with
 * n_keys > 0 a colour key under them: keys[k] next to a square of viz_palette(k), one key
 * a column, row by row (what the colours of masks mean):
 * VIZ_GRID_W(cols, tile) x VIZ_GRID_H(rows, tile) + VIZ_GRID_KEY_H(n_keys, cols) pixels. */
#define VIZ_GRID_GAP 8
#define VIZ_GRID_CAPTION 16 /* per caption line */
#define VIZ_GRID_TITLE 30
#define VIZ_GRID_W(cols, tile) ((cols) * ((tile) + VIZ_GRID_GAP) + VIZ_GRID_GAP)
#define VIZ_GRID_H(rows, tile) (VIZ_GRID_TITLE + (rows) * ((tile) + 2 * VIZ_GRID_CAPTION + VIZ_GRID_GAP))
#define VIZ_GRID_KEY_H(n_keys, cols) \
    ((n_keys) > 0 ? ((n_keys) + (cols)-1) / (cols) * VIZ_GRID_CAPTION + VIZ_GRID_GAP : 0)
int viz_grid(const char *path, const viz_tile *tiles, int rows, int cols, int tile,
             const char *title, const char *const *keys, int n_keys, cnn_err *e);

/* ---- the confusion matrix (viz_confusion.c) ---- */
/* cm (C, C), row = true class: cells shaded by the row's share (recall), counts written
 * when they fit, class names on both axes. */
int viz_confusion(const char *path, const double *cm, int C, char *const *names,
                  const char *title, cnn_err *e);

#endif
