/* The confusion matrix as a picture (viz.h viz_confusion): row = true class, column =
 * predicted; a cell's shade is its share of the row (white 0 to dark blue 1, so the
 * diagonal reads as per-class recall), its count written when the cells are large enough,
 * class names on both axes (the columns' turned upright). */
#include <math.h>
#include <stdio.h>

#include "viz_impl.h"

int viz_confusion(const char *path, const double *cm, int C, char *const *names,
                  const char *title, cnn_err *e)
{
    double cell = fmax(10, fmin(48, 720.0 / C));
    double name_w = 0;
    cairo_surface_t *probe = viz_surface(8, 8, path, e);
    if (!probe)
        return CNN_ENOMEM;
    cairo_t *pc = cairo_create(probe);
    double fs = fmin(12, cell * 0.8);
    for (int c = 0; c < C; c++)
        name_w = fmax(name_w, viz_text_width(pc, fs, names[c]));
    cairo_destroy(pc);
    cairo_surface_destroy(probe);
    double left = name_w + 50, top = 40, bottom = name_w + 50;
    int W = (int)(left + C * cell + 20), H = (int)(top + C * cell + bottom);
    cairo_surface_t *s = viz_surface(W, H, path, e);
    if (!s)
        return CNN_ENOMEM;
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 0, 0, 0);
    viz_text(cr, W / 2.0, 10, 0.5, 0, 14, title);
    char b[32];
    for (int r = 0; r < C; r++) {
        double row = 0;
        for (int c = 0; c < C; c++)
            row += cm[(size_t)r * C + c];
        for (int c = 0; c < C; c++) {
            double v = cm[(size_t)r * C + c], t = row > 0 ? v / row : 0;
            double x = left + c * cell, y = top + r * cell;
            cairo_set_source_rgb(cr, 1 - 0.92 * t, 1 - 0.75 * t, 1 - 0.35 * t);
            cairo_rectangle(cr, x, y, cell, cell);
            cairo_fill(cr);
            snprintf(b, sizeof b, "%.0f", v);
            double tsize = fmin(11, cell * 0.4);
            if (v > 0 && viz_text_width(cr, tsize, b) < cell - 2) {
                cairo_set_source_rgb(cr, t > 0.5 ? 1 : 0, t > 0.5 ? 1 : 0, t > 0.5 ? 1 : 0);
                viz_text(cr, x + cell / 2, y + cell / 2, 0.5, 0.5, tsize, b);
            }
        }
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, left, top, C * cell, C * cell);
    cairo_stroke(cr);
    for (int k = 0; k < C; k++) {
        viz_text(cr, left - 6, top + (k + 0.5) * cell, 1, 0.5, fs, names[k]);
        cairo_save(cr);
        cairo_translate(cr, left + (k + 0.5) * cell, top + C * cell + 6);
        cairo_rotate(cr, -M_PI / 2);
        viz_text(cr, 0, 0, 1, 0.5, fs, names[k]);
        cairo_restore(cr);
    }
    viz_text(cr, 12, top + C * cell / 2, 0, 0.5, 12, "true");
    viz_text(cr, left + C * cell / 2, H - 8, 0.5, 1, 12, "predicted");
    return viz_finish(s, cr, path, e);
}
