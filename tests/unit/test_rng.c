/* Philox4x32-10 against the known-answer vectors published with Random123 (kat_vectors),
 * and the properties the rest of the code relies on: determinism, key separation, range. */
#include "../../src/core/core.h"
#include "../check.h"

int main(void)
{
    static const struct {
        uint32_t ctr[4], key[2], want[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        rng_key k = {{kat[i].key[0], kat[i].key[1]}};
        uint32_t out[4];
        rng_philox(k, kat[i].ctr, out);
        for (int j = 0; j < 4; j++)
            CHECK_EQ(out[j], kat[i].want[j]);
    }
    rng_key a = rng_key_from_seed(42), b = rng_fold(a, 1), c = rng_fold(a, 2);
    CHECK(b.k[0] != c.k[0] || b.k[1] != c.k[1]);
    CHECK_EQ(rng_fold_str(a, "conv1").k[0], rng_fold_str(a, "conv1").k[0]);
    CHECK(rng_fold_str(a, "conv1").k[0] != rng_fold_str(a, "conv2").k[0]);
    double sum = 0, sq = 0;
    const int n = 100000;
    for (int i = 0; i < n; i++) {
        float u = rng_uniform(b, (uint64_t)i);
        CHECK(u >= 0.0f && u < 1.0f);
        sum += u;
        float z = rng_normal(b, (uint64_t)i);
        sq += (double)z * z;
    }
    /* Mean of 1e5 uniforms: sd 0.29/sqrt(1e5) = 9e-4; normal second moment sd ~ 4.5e-3. */
    CHECK_NEAR(sum / n, 0.5, 5e-3);
    CHECK_NEAR(sq / n, 1.0, 2.5e-2);
    printf("rng: ok\n");
    return 0;
}
