/* Private to the cairo files of src/viz: surfaces checked as they are made, text, and
 * writing a surface as a PNG file under a temporary name, renamed into place. */
#ifndef CNN_VIZ_IMPL_H
#define CNN_VIZ_IMPL_H

#include <cairo.h>

#include "viz.h"

#define VIZ_FONT "DejaVu Sans"

/* An RGB image surface of w x h, white; NULL with e filled when cairo cannot make it. */
cairo_surface_t *viz_surface(int w, int h, const char *path, cnn_err *e);
/* Writes s to path (temporary name, then rename) and destroys s and cr. */
int viz_finish(cairo_surface_t *s, cairo_t *cr, const char *path, cnn_err *e);
void viz_rgb(cairo_t *cr, uint32_t rgb);
/* Text at (x, y) anchored by ax, ay in [0, 1] (0, 0: top left; 0.5, 0.5: centred). */
void viz_text(cairo_t *cr, double x, double y, double ax, double ay, double size,
              const char *s);
double viz_text_width(cairo_t *cr, double size, const char *s);
/* An 8-bit image (h, w, c) drawn into the box (x, y, bw, bh), scaled to fit and centred;
 * nearest neighbour when enlarged, smooth when shrunk. */
void viz_image(cairo_t *cr, const uint8_t *px, int h, int w, int c, double x, double y,
               double bw, double bh);

#endif
