/* Interoperability: tests/fixtures/dataset/ was written with h5py from docs/data.md alone
 * (tools/fixtures/make_dataset.py), not by our writer. The reader must accept it, with blob
 * checksums, and serve the script's samples: byte k of sample i is (7*(20*i+k)+3) % 256,
 * label i % 2, two classes, the second one non-ASCII. */
#include <string.h>

#include "../../src/data/data.h"
#include "../check.h"

int main(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    CHECK(slash);
    snprintf(slash, sizeof path - (size_t)(slash - path), "/../fixtures/dataset/py.h5");
    cnn_err e = {0};
    dataset *ds = NULL;
    int rc = dataset_open(path, true, &ds, &e);
    if (rc < 0)
        fprintf(stderr, "%s\n(regenerate: /usr/bin/python3 tools/fixtures/make_dataset.py)\n",
                e.msg);
    CHECK_EQ(rc, CNN_OK);
    const dataset_info *in = dataset_get_info(ds);
    CHECK_EQ(in->n, 7);
    CHECK_EQ(in->n_shards, 2);
    CHECK_EQ(in->mode, DATA_RAW);
    CHECK_EQ(in->raw_h * 100 + in->raw_w * 10 + in->raw_c, 451);
    CHECK_EQ(in->n_classes, 2);
    CHECK(strcmp(in->classes[1], "ungerade-\xc3\xa4") == 0);
    CHECK_NEAR(in->std[1], 0.25, 0);
    for (int i = 0; i < 7; i++) {
        sample_ref r;
        dataset_ref(ds, i, &r);
        CHECK_EQ(r.label, i % 2);
        CHECK_EQ(r.len, 20);
        uint8_t img[20];
        CHECK_EQ(dataset_read(ds, i, img, NULL, &e), CNN_OK);
        for (int k = 0; k < 20; k++)
            CHECK_EQ(img[k], (7 * (20 * i + k) + 3) % 256);
    }
    dataset_close(ds);
    printf("  h5py-written dataset: 7 samples in 2 shards read as the script wrote them\n");
    return 0;
}
