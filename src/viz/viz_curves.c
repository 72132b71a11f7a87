/* Curves against the step (viz.h viz_curves): panels side by side, each with its axes,
 * ticks at 1, 2 or 5 times a power of ten (powers of ten on a log axis), labels, a title,
 * a legend and the epochs marked by light vertical lines; one x range for all panels. */
#include <math.h>
#include <stdio.h>

#include "viz_impl.h"

#define ML 78 /* margins of the plot area inside a panel */
#define MR 18
#define MT 34
#define MB 48

typedef struct axis {
    double lo, hi;
    bool log;
} axis;

static double tr(const axis *a, double v) { return a->log ? log10(v) : v; }

static bool usable(const axis *a, double v) { return isfinite(v) && (!a->log || v > 0); }

/* The data's range of x or y over every series, widened when it is a point. */
static void range(const viz_panel *p, bool y, axis *a)
{
    a->lo = INFINITY;
    a->hi = -INFINITY;
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            double v = y ? p->series[s].y[i] : p->series[s].x[i];
            if (!usable(a, v))
                continue;
            a->lo = fmin(a->lo, tr(a, v));
            a->hi = fmax(a->hi, tr(a, v));
        }
    if (!(a->lo <= a->hi))
        a->lo = 0, a->hi = 1;
    if (a->hi - a->lo < 1e-12 * fmax(1.0, fabs(a->hi))) {
        double d = a->log ? 0.5 : fmax(fabs(a->hi) * 0.1, 1e-6);
        a->lo -= d;
        a->hi += d;
    } else if (y) { /* room above the data for the legend, which sits top right */
        double d = a->hi - a->lo;
        a->lo -= 0.05 * d;
        a->hi += 0.3 * d;
    } else { /* the last point whole, not cut by the frame */
        a->hi += 0.01 * (a->hi - a->lo);
    }
}

/* A step of 1, 2 or 5 times a power of ten giving about n ticks over span. */
static double nice_step(double span, int n)
{
    double raw = span / n, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void tick_label(double v, bool log_axis, char *buf, size_t n)
{
    if (log_axis)
        snprintf(buf, n, "%g", pow(10, v));
    else
        snprintf(buf, n, "%g", fabs(v) < 1e-12 ? 0.0 : v);
}

static void draw_axes(cairo_t *cr, const viz_panel *p, const axis *ax, const axis *ay, double x0,
                      double y0, double pw, double ph)
{
    char b[32];
    cairo_set_line_width(cr, 1);
    const axis *as[2] = {ax, ay};
    for (int k = 0; k < 2; k++) {
        const axis *a = as[k];
        double step = a->log ? fmax(1, round(nice_step(a->hi - a->lo, 5))) : nice_step(a->hi - a->lo, k ? 5 : 6);
        for (double v = ceil(a->lo / step) * step; v <= a->hi + 1e-9 * step; v += step) {
            double t = (v - a->lo) / (a->hi - a->lo);
            double px = k ? x0 : x0 + t * pw, py = k ? y0 + ph - t * ph : y0 + ph;
            cairo_set_source_rgb(cr, 0.92, 0.92, 0.92); /* grid */
            cairo_move_to(cr, k ? x0 : px, k ? py : y0);
            cairo_line_to(cr, k ? x0 + pw : px, k ? py : y0 + ph);
            cairo_stroke(cr);
            cairo_set_source_rgb(cr, 0, 0, 0);
            cairo_move_to(cr, px, py);
            cairo_line_to(cr, k ? px - 5 : px, k ? py : py + 5);
            cairo_stroke(cr);
            tick_label(v, a->log, b, sizeof b);
            if (k)
                viz_text(cr, px - 8, py, 1, 0.5, 11, b);
            else
                viz_text(cr, px, py + 8, 0.5, 0, 11, b);
        }
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, x0, y0, pw, ph);
    cairo_stroke(cr);
    viz_text(cr, x0 + pw / 2, y0 - 24, 0.5, 0, 14, p->title);
    viz_text(cr, x0 + pw / 2, y0 + ph + 28, 0.5, 0, 12, p->xlabel);
    cairo_save(cr);
    cairo_translate(cr, x0 - 62, y0 + ph / 2);
    cairo_rotate(cr, -M_PI / 2);
    viz_text(cr, 0, 0, 0.5, 0.5, 12, p->ylabel);
    cairo_restore(cr);
}

static void draw_series(cairo_t *cr, const viz_series *s, const axis *ax, const axis *ay,
                        double x0, double y0, double pw, double ph)
{
    viz_rgb(cr, s->rgb);
    cairo_set_line_width(cr, s->dashed ? 1.2 : 1.6);
    double dash[2] = {6, 4};
    cairo_set_dash(cr, dash, s->dashed ? 2 : 0, 0);
    bool pen = false;
    for (int i = 0; i < s->n; i++) {
        if (!usable(ax, s->x[i]) || !usable(ay, s->y[i])) {
            pen = false;
            continue;
        }
        double px = x0 + (tr(ax, s->x[i]) - ax->lo) / (ax->hi - ax->lo) * pw;
        double py = y0 + ph - (tr(ay, s->y[i]) - ay->lo) / (ay->hi - ay->lo) * ph;
        if (pen)
            cairo_line_to(cr, px, py);
        else
            cairo_move_to(cr, px, py);
        pen = true;
        if (s->points) {
            cairo_stroke(cr);
            cairo_arc(cr, px, py, 3, 0, 2 * M_PI);
            cairo_fill(cr);
            cairo_move_to(cr, px, py);
        }
    }
    cairo_stroke(cr);
    cairo_set_dash(cr, dash, 0, 0);
}

static void draw_legend(cairo_t *cr, const viz_panel *p, double x1, double y0)
{
    double w = 0;
    for (int s = 0; s < p->n_series; s++)
        w = fmax(w, viz_text_width(cr, 11, p->series[s].name));
    double bw = w + 40, bh = 18.0 * p->n_series + 8, x = x1 - bw - 8, y = y0 + 8;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, x, y, bw, bh);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    for (int s = 0; s < p->n_series; s++) {
        const viz_series *v = &p->series[s];
        double ly = y + 13 + 18.0 * s;
        viz_rgb(cr, v->rgb);
        double dash[2] = {6, 4};
        cairo_set_dash(cr, dash, v->dashed ? 2 : 0, 0);
        cairo_set_line_width(cr, 2);
        cairo_move_to(cr, x + 6, ly);
        cairo_line_to(cr, x + 28, ly);
        cairo_stroke(cr);
        cairo_set_dash(cr, dash, 0, 0);
        cairo_set_source_rgb(cr, 0, 0, 0);
        viz_text(cr, x + 34, ly, 0, 0.5, 11, v->name);
    }
}

static void draw_panel(cairo_t *cr, const viz_panel *p, const axis *xs, double ox,
                       const double *marks, int n_marks)
{
    axis ax = *xs, ay = {.log = p->log_y};
    range(p, true, &ay);
    double x0 = ox + ML, y0 = MT, pw = VIZ_PANEL_W - ML - MR, ph = VIZ_PANEL_H - MT - MB;
    cairo_set_source_rgb(cr, 0.75, 0.75, 0.85); /* epochs */
    cairo_set_line_width(cr, 1);
    for (int i = 0; i < n_marks; i++) {
        double t = (marks[i] - ax.lo) / (ax.hi - ax.lo);
        if (t <= 0 || t >= 1)
            continue;
        cairo_move_to(cr, x0 + t * pw, y0);
        cairo_line_to(cr, x0 + t * pw, y0 + ph);
        cairo_stroke(cr);
    }
    draw_axes(cr, p, &ax, &ay, x0, y0, pw, ph);
    cairo_save(cr);
    cairo_rectangle(cr, x0, y0, pw, ph);
    cairo_clip(cr);
    for (int s = 0; s < p->n_series; s++)
        draw_series(cr, &p->series[s], &ax, &ay, x0, y0, pw, ph);
    cairo_restore(cr);
    if (p->n_series)
        draw_legend(cr, p, x0 + pw, y0);
}

int viz_curves(const char *path, const viz_panel *panels, int n_panels, const double *marks,
               int n_marks, cnn_err *e)
{
    cairo_surface_t *s = viz_surface(VIZ_PANEL_W * n_panels, VIZ_PANEL_H, path, e);
    if (!s)
        return CNN_ENOMEM;
    cairo_t *cr = cairo_create(s);
    /* one x axis for every panel (all are against the step), so they line up */
    axis ax = {INFINITY, -INFINITY, false};
    for (int i = 0; i < n_panels; i++) {
        axis a = {0};
        range(&panels[i], false, &a);
        bool any = false;
        for (int k = 0; k < panels[i].n_series; k++)
            any |= panels[i].series[k].n > 0;
        if (any) {
            ax.lo = fmin(ax.lo, a.lo);
            ax.hi = fmax(ax.hi, a.hi);
        }
    }
    if (!(ax.lo < ax.hi))
        ax.lo = 0, ax.hi = 1;
    for (int i = 0; i < n_panels; i++)
        draw_panel(cr, &panels[i], &ax, (double)i * VIZ_PANEL_W, marks, n_marks);
    return viz_finish(s, cr, path, e);
}
