/* What viz.h offers with or without cairo: the class palette, the filters' zoom. */
#include "viz.h"

void viz_palette(int k, uint8_t rgb[3])
{
    rgb[0] = rgb[1] = rgb[2] = 0;
    for (int j = 0; j < 8; j++, k >>= 3)
        for (int ch = 0; ch < 3; ch++)
            rgb[ch] |= (uint8_t)(((k >> ch) & 1) << (7 - j));
}

int viz_filter_zoom(int R, int S)
{
    int m = R > S ? R : S;
    return m >= 48 ? 1 : (48 + m - 1) / m; /* tiles of about 48 pixels */
}
