/* The drawing calls of a build without cairo (CMake compiles this file instead of the
 * cairo ones): each says pictures are off, so a run goes on without them. */
#include "viz.h"

static const char reason[] = "pictures are off: this build has no cairo (install "
                             "libcairo2-dev, e.g. with tools/install-deps.sh, and rebuild)";

bool viz_available(void) { return false; }

const char *viz_unavailable_reason(void) { return reason; }

static int off(const char *path, cnn_err *e)
{
    return CNN_ERR(e, CNN_EINVAL, "%s not drawn: %s", path, reason);
}

int viz_curves(const char *path, const viz_panel *panels, int n_panels, const double *marks,
               int n_marks, cnn_err *e)
{
    (void)panels, (void)n_panels, (void)marks, (void)n_marks;
    return off(path, e);
}

int viz_filters(const char *path, const float *w, int K, int C, int R, int S, cnn_err *e)
{
    (void)w, (void)K, (void)C, (void)R, (void)S;
    return off(path, e);
}

int viz_grid(const char *path, const viz_tile *tiles, int rows, int cols, int tile,
             const char *title, const char *const *keys, int n_keys, cnn_err *e)
{
    (void)tiles, (void)rows, (void)cols, (void)tile, (void)title, (void)keys, (void)n_keys;
    return off(path, e);
}

int viz_confusion(const char *path, const double *cm, int C, char *const *names,
                  const char *title, cnn_err *e)
{
    (void)cm, (void)C, (void)names, (void)title;
    return off(path, e);
}
