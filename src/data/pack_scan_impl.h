/* Private to image_scan.c, pack_labels.c and cifar.c: sorted folder listings, paths in a
 * folder and list building. */
#ifndef CNN_DATA_PACK_SCAN_IMPL_H
#define CNN_DATA_PACK_SCAN_IMPL_H

#include "pack_images_impl.h"

typedef struct scan_names {
    char **v; /* (n) sorted */
    int64_t n, cap;
} scan_names;

bool scan_is_image(const char *name, bool png_only);
char *scan_join(const char *dir, const char *name);
/* Sorted sub-folder and file names of dir (either output may be NULL). */
int scan_dir(const char *dir, scan_names *dirs, scan_names *files, cnn_err *e);
void scan_names_free(scan_names *s);
void pack_list_push(pack_list *l, char *path, char *mask, int32_t label);

#endif
