/* Reading a fuzz input as a stream of small numbers for the structure-aware targets
 * (fuzz_dataset.c, fuzz_ckpt.c): past the end every read gives 0, so any input is valid
 * and a short input means "the defaults". */
#ifndef CNN_FUZZ_BYTES_H
#define CNN_FUZZ_BYTES_H

#include <stddef.h>
#include <stdint.h>

typedef struct fuzz_bytes {
    const uint8_t *p;
    size_t n, pos;
} fuzz_bytes;

static inline uint8_t fb_u8(fuzz_bytes *b) { return b->pos < b->n ? b->p[b->pos++] : 0; }

static inline uint64_t fb_u64(fuzz_bytes *b, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)fb_u8(b) << (8 * i);
    return v;
}

/* A value that is usually small but may be anything: one byte picks how many follow
 * (0, 1, 2, 4 or 8) and whether it is negated. */
static inline int64_t fb_int(fuzz_bytes *b)
{
    uint8_t k = fb_u8(b);
    static const int widths[8] = {0, 1, 1, 2, 2, 4, 8, 1};
    int64_t v = (int64_t)fb_u64(b, widths[k & 7]);
    if (!(k & 7))
        v = k >> 4; /* 0..15 in the selector byte itself */
    return k & 8 ? (int64_t)(0 - (uint64_t)v) : v; /* wraps for INT64_MIN, no overflow */
}

static inline size_t fb_left(const fuzz_bytes *b) { return b->n - b->pos; }

#endif
