/* cifar_read (cnn-pack cifar) on files this test writes in the binary versions' exact
 * format: CIFAR-10 (five training batches and the test batch, 1 label byte + 3072 planar
 * pixel bytes a record, names in batches.meta.txt) and CIFAR-100 (train.bin/test.bin, coarse
 * and fine label bytes first, no name files: numbered classes). Pixels come back HWC,
 * labels and counts as written; a size that is not a whole number of records, a label
 * beyond the classes and a folder of neither kind are errors naming the file. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/data/data.h"
#include "../check.h"

static uint8_t pixel(int rec, int c, int k) { return (uint8_t)(rec * 7 + c * 50 + k * 3); }

/* n records starting at record number first; head label bytes (labels[j] for byte j). */
static void write_bin(const char *path, int first, int n, int head, int mod0, int mod1)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    for (int r = first; r < first + n; r++) {
        uint8_t lab[2] = {(uint8_t)(r % mod0), (uint8_t)(r % mod1)};
        CHECK(fwrite(lab, 1, (size_t)head, f) == (size_t)head);
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 1024; k++)
                CHECK(fputc(pixel(r, c, k), f) != EOF);
    }
    CHECK(fclose(f) == 0);
}

static void check_set(const cifar_set *s, int first, int n, int head_label_mod)
{
    CHECK_EQ(s->n, n);
    for (int i = 0; i < n; i++) {
        int r = first + i;
        CHECK_EQ(s->labels[i], r % head_label_mod);
        for (int k = 0; k < 1024; k += 97)
            for (int c = 0; c < 3; c++)
                CHECK_EQ(s->images[(size_t)i * 3072 + 3 * k + c], pixel(r, c, k));
    }
}

int main(void)
{
    char dir[] = "/tmp/cnn_cifar_XXXXXX", p[256];
    CHECK(mkdtemp(dir));
    cnn_err e = {0};
    cifar_set s;
    /* CIFAR-10: batches of 3 records, test of 4 */
    for (int b = 1; b <= 5; b++) {
        snprintf(p, sizeof p, "%s/data_batch_%d.bin", dir, b);
        write_bin(p, 3 * (b - 1), 3, 1, 10, 10);
    }
    snprintf(p, sizeof p, "%s/test_batch.bin", dir);
    write_bin(p, 100, 4, 1, 10, 10);
    snprintf(p, sizeof p, "%s/batches.meta.txt", dir);
    FILE *f = fopen(p, "w");
    fputs("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n", f);
    fclose(f);
    CHECK_EQ(cifar_read(dir, true, false, &s, &e), CNN_OK);
    check_set(&s, 0, 15, 10);
    CHECK(s.n_classes == 10 && !strcmp(s.classes[0], "airplane") && !strcmp(s.classes[9], "truck"));
    cifar_free(&s);
    CHECK_EQ(cifar_read(dir, false, false, &s, &e), CNN_OK);
    check_set(&s, 100, 4, 10);
    cifar_free(&s);
    CHECK(cifar_read(dir, true, true, &s, &e) < 0);
    CHECK_STR_CONTAINS(e.msg, "no coarse labels");
    /* a truncated batch: named, with its size */
    snprintf(p, sizeof p, "%s/data_batch_3.bin", dir);
    CHECK(truncate(p, 3073 * 2 + 100) == 0);
    CHECK(cifar_read(dir, true, false, &s, &e) < 0);
    CHECK_STR_CONTAINS(e.msg, "data_batch_3.bin is 6246 bytes, not a whole number of 3073");
    for (int b = 1; b <= 5; b++) {
        snprintf(p, sizeof p, "%s/data_batch_%d.bin", dir, b);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/test_batch.bin", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/batches.meta.txt", dir);
    unlink(p);
    /* CIFAR-100: coarse label r % 20, fine r % 100 */
    snprintf(p, sizeof p, "%s/train.bin", dir);
    write_bin(p, 0, 6, 2, 20, 100);
    snprintf(p, sizeof p, "%s/test.bin", dir);
    write_bin(p, 40, 2, 2, 20, 100);
    CHECK_EQ(cifar_read(dir, true, false, &s, &e), CNN_OK);
    check_set(&s, 0, 6, 100);
    CHECK(s.n_classes == 100 && !strcmp(s.classes[42], "42"));
    cifar_free(&s);
    CHECK_EQ(cifar_read(dir, false, true, &s, &e), CNN_OK);
    check_set(&s, 40, 2, 20);
    CHECK_EQ(s.n_classes, 20);
    cifar_free(&s);
    /* a label beyond CIFAR-100's coarse classes */
    snprintf(p, sizeof p, "%s/test.bin", dir);
    write_bin(p, 0, 1, 2, 256, 100); /* coarse label 0 for record 0 */
    f = fopen(p, "r+b");
    fputc(25, f); /* coarse label 25 >= 20 */
    fclose(f);
    CHECK(cifar_read(dir, false, true, &s, &e) < 0);
    CHECK_STR_CONTAINS(e.msg, "record 0 has label 25, beyond the 20 classes");
    unlink(p);
    snprintf(p, sizeof p, "%s/train.bin", dir);
    unlink(p);
    CHECK(cifar_read(dir, true, false, &s, &e) < 0);
    CHECK_STR_CONTAINS(e.msg, "neither CIFAR-10");
    rmdir(dir);
    printf("cifar: ok\n");
    return 0;
}
