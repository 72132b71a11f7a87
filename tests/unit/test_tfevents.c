/* TensorBoard event files (src/io/tfevents.c) read back by a reader of our own in this file:
 * every record's length and both masked CRCs (checked with a bit-at-a-time CRC32C, not the
 * writer's table), every protobuf field decoded by hand against the values written; CRC32C's
 * published check value; a disk-full write, an unwritable location and bad arguments are
 * errors naming the file. `test_tfevents --write DIR` writes the same events into DIR and
 * prints the file's path, for tests/unit/tfevents_check.py (protoc + python3-protobuf). */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/io/io.h"
#include "../check.h"

/* ---- the events written; tfevents_check.py holds the same list ---- */

typedef struct ev {
    const char *tag; /* NULL: the long tag */
    int64_t step;
    double wall_time;
    float value;
    int image; /* 0: scalar; else png_len bytes, height, width, channels */
    size_t png_len;
    int height, width, channels;
} ev;

#define LONG_TAG_LEN 300

/* Zero step and wall time are proto3 defaults that the encoder leaves out; -1 takes a
 * ten-byte varint; the 300-byte tag and 70000-byte PNG take multi-byte lengths. */
static const ev events[] = {
    {"loss/train", 0, 1700000000.5, 0.25f, 0, 0, 0, 0, 0},
    {"loss/train", 1, 1700000001.25, -3.5f, 0, 0, 0, 0, 0},
    {"acc/val", 2, 1700000002.0, NAN, 0, 0, 0, 0, 0},
    {"big", 1000000000000LL, 1700000003.0, 1e30f, 0, 0, 0, 0, 0},
    {NULL, -1, 0.0, 0.0f, 0, 0, 0, 0, 0},
    {"utf8/\xce\xbb", 5, 1700000005.75, 1.0f, 0, 0, 0, 0, 0},
    {"images/gray", 3, 1700000006.0, 0, 1, 300, 10, 30, 1},
    {"images/rgba", 4, 1700000007.0, 0, 1, 70000, 150, 100, 4},
};
#define N_EVENTS ((int)(sizeof events / sizeof events[0]))

static const char *ev_tag(const ev *x)
{
    static char long_tag[LONG_TAG_LEN + 1];
    if (x->tag)
        return x->tag;
    memcpy(long_tag, "long/", 5);
    for (int i = 5; i < LONG_TAG_LEN; i++)
        long_tag[i] = (char)('a' + i % 26);
    long_tag[LONG_TAG_LEN] = '\0';
    return long_tag;
}

/* Not a real image (nothing here decodes it): the PNG signature, then a pattern. */
static uint8_t *fake_png(size_t n, int seed)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t *p = malloc(n);
    CHECK(p);
    for (size_t i = 0; i < n; i++)
        p[i] = i < 8 ? sig[i] : (uint8_t)((i * 31 + (size_t)seed) & 0xFF);
    return p;
}

static void write_event(tb_writer *w, int i)
{
    const ev *x = &events[i];
    cnn_err e = {0};
    int rc;
    if (x->image) {
        uint8_t *png = fake_png(x->png_len, i);
        rc = tb_image(w, ev_tag(x), x->step, x->wall_time, png, x->png_len, x->height,
                      x->width, x->channels, &e);
        free(png);
    } else {
        rc = tb_scalar(w, ev_tag(x), x->step, x->wall_time, x->value, &e);
    }
    if (rc < 0)
        fprintf(stderr, "event %d: %s\n", i, e.msg);
    CHECK_EQ(rc, 0);
}

/* ---- a reader of our own ---- */

/* Bit at a time, independent of the writer's table. */
static uint32_t crc32c_bits(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    }
    return ~c;
}

static uint32_t masked(const uint8_t *p, size_t n)
{
    uint32_t c = crc32c_bits(p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static uint64_t le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

typedef struct rd {
    const uint8_t *p, *end;
} rd;

static uint64_t rd_varint(rd *r)
{
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
        CHECK(r->p < r->end && shift < 64);
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return v;
    }
}

/* The next field's number and wire type; fields must come in increasing number order, as
 * protobuf's own serializers write them. */
static int rd_key(rd *r, int *last, int *wire)
{
    uint64_t k = rd_varint(r);
    int field = (int)(k >> 3);
    *wire = (int)(k & 7);
    CHECK(field > *last);
    *last = field;
    return field;
}

static rd rd_len(rd *r)
{
    uint64_t n = rd_varint(r);
    CHECK(n <= (uint64_t)(r->end - r->p));
    rd sub = {r->p, r->p + n};
    r->p += n;
    return sub;
}

static uint64_t rd_fixed(rd *r, int bytes)
{
    CHECK(r->end - r->p >= bytes);
    uint64_t v = le(r->p, bytes);
    r->p += bytes;
    return v;
}

typedef struct got {
    double wall_time;
    int64_t step;
    rd file_version, tag, png; /* p == NULL: absent */
    int has_value;
    float value;
    int64_t height, width, colorspace;
} got;

static void decode_image(rd im, got *g)
{
    int last = 0, wire;
    while (im.p < im.end) {
        int f = rd_key(&im, &last, &wire);
        CHECK((f >= 1 && f <= 3 && wire == 0) || (f == 4 && wire == 2));
        if (f == 4)
            g->png = rd_len(&im);
        else
            *(f == 1 ? &g->height : f == 2 ? &g->width : &g->colorspace) = (int64_t)rd_varint(&im);
    }
}

static void decode_summary(rd s, got *g)
{
    int last = 0, wire;
    CHECK_EQ(rd_key(&s, &last, &wire), 1); /* exactly one Summary.value */
    CHECK_EQ(wire, 2);
    rd v = rd_len(&s);
    CHECK(s.p == s.end);
    last = 0;
    while (v.p < v.end) {
        int f = rd_key(&v, &last, &wire);
        if (f == 1 && wire == 2) {
            g->tag = rd_len(&v);
        } else if (f == 2 && wire == 5) {
            uint32_t bits = (uint32_t)rd_fixed(&v, 4);
            memcpy(&g->value, &bits, 4);
            g->has_value = 1;
        } else {
            CHECK(f == 4 && wire == 2);
            decode_image(rd_len(&v), g);
        }
    }
}

static got decode_event(const uint8_t *p, size_t n)
{
    got g = {0};
    rd r = {p, p + n};
    int last = 0, wire, has_summary = 0;
    while (r.p < r.end) {
        int f = rd_key(&r, &last, &wire);
        if (f == 1 && wire == 1) {
            uint64_t bits = rd_fixed(&r, 8);
            memcpy(&g.wall_time, &bits, 8);
        } else if (f == 2 && wire == 0) {
            g.step = (int64_t)rd_varint(&r);
        } else if (f == 3 && wire == 2) {
            g.file_version = rd_len(&r);
        } else {
            CHECK(f == 5 && wire == 2);
            decode_summary(rd_len(&r), &g);
            has_summary = 1;
        }
    }
    CHECK(has_summary != (g.file_version.p != NULL)); /* Event.what: one of the two */
    return g;
}

static int same_bytes(rd got, const void *want, size_t n)
{
    return got.p && (size_t)(got.end - got.p) == n && memcmp(got.p, want, n) == 0;
}

static void check_event(const got *g, int i)
{
    const ev *x = &events[i];
    printf("  event %d: tag %.20s%s step %lld\n", i, ev_tag(x), x->tag ? "" : "...",
           (long long)x->step);
    CHECK(same_bytes(g->tag, ev_tag(x), strlen(ev_tag(x))));
    CHECK_EQ(g->step, x->step);
    CHECK(memcmp(&g->wall_time, &x->wall_time, 8) == 0); /* bit for bit */
    if (!x->image) {
        CHECK(g->has_value && !g->png.p);
        CHECK(memcmp(&g->value, &x->value, 4) == 0); /* NaN included */
        return;
    }
    CHECK(!g->has_value);
    CHECK_EQ(g->height, x->height);
    CHECK_EQ(g->width, x->width);
    CHECK_EQ(g->colorspace, x->channels);
    uint8_t *png = fake_png(x->png_len, i);
    CHECK(same_bytes(g->png, png, x->png_len));
    free(png);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    CHECK(f);
    CHECK(fseek(f, 0, SEEK_END) == 0);
    long size = ftell(f);
    CHECK(size >= 0);
    rewind(f);
    uint8_t *b = malloc((size_t)size + 1);
    CHECK(b && fread(b, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return b;
}

/* Checks the framing of every record of path and the file_version record; calls back with
 * each later event. Returns the number of records. */
static int read_file(const char *path, void (*each)(const got *g, int i))
{
    size_t n;
    uint8_t *b = slurp(path, &n);
    size_t at = 0;
    int count = 0;
    while (at < n) {
        CHECK(n - at >= 16);
        uint64_t len = le(b + at, 8);
        CHECK_EQ(le(b + at + 8, 4), masked(b + at, 8));
        CHECK(len <= n - at - 16);
        const uint8_t *data = b + at + 12;
        CHECK_EQ(le(data + len, 4), masked(data, (size_t)len));
        got g = decode_event(data, (size_t)len);
        if (count == 0) {
            CHECK(same_bytes(g.file_version, "brain.Event:2", 13));
            CHECK(g.wall_time > 1.6e9 && g.step == 0);
        } else {
            CHECK(!g.file_version.p);
            if (each)
                each(&g, count - 1);
        }
        at += 16 + (size_t)len;
        count++;
    }
    free(b);
    return count;
}

/* ---- cases ---- */

static void test_crc(void)
{
    CHECK_EQ(tb_crc32c("123456789", 9), 0xE3069283u); /* CRC-32C's published check value */
    CHECK_EQ(tb_crc32c("", 0), 0);
    uint8_t *p = fake_png(1000, 7);
    for (size_t n = 1; n <= 1000; n += 37)
        CHECK_EQ(tb_crc32c(p, n), crc32c_bits(p, n));
    free(p);
}

static char *write_all(const char *dir)
{
    cnn_err e = {0};
    tb_writer *w = NULL;
    if (tb_open(dir, &w, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        exit(1);
    }
    for (int i = 0; i < N_EVENTS; i++)
        write_event(w, i);
    char *path = strdup(tb_path(w));
    tb_close(w);
    return path;
}

static void test_round_trip(const char *tmp)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/runs/a/b", tmp); /* created by tb_open */
    char *path = write_all(dir);
    const char *base = strrchr(path, '/') + 1;
    CHECK(strncmp(path, dir, strlen(dir)) == 0 && base == path + strlen(dir) + 1);
    char want[300];
    snprintf(want, sizeof want, "events.out.tfevents.%lld.%s",
             (long long)strtoll(base + 20, NULL, 10), cnn_proc_host());
    CHECK(strncmp(base, want, strlen(want)) == 0 && strtoll(base + 20, NULL, 10) > 1600000000);
    CHECK_EQ(read_file(path, check_event), N_EVENTS + 1);

    /* A second writer in the same directory (likely the same second) never truncates the
     * first file. */
    char *again = write_all(dir);
    CHECK(strcmp(again, path) != 0);
    CHECK_EQ(read_file(path, check_event), N_EVENTS + 1);
    CHECK_EQ(read_file(again, check_event), N_EVENTS + 1);
    free(again);
    free(path);
}

/* Events flushed while the writer stays open are in the file, whole. */
static void test_flush(const char *tmp)
{
    cnn_err e = {0};
    tb_writer *w = NULL;
    CHECK_EQ(tb_open(tmp, &w, &e), 0);
    CHECK_EQ(read_file(tb_path(w), NULL), 1); /* the file_version record, at once */
    for (int i = 0; i < 4; i++)
        write_event(w, i);
    CHECK_EQ(tb_flush(w, &e), 0);
    CHECK_EQ(read_file(tb_path(w), check_event), 5);
    tb_close(w);
}

#define EXPECT_ERR(rc, e, what)                                                          \
    do {                                                                                 \
        CHECK((rc) < 0);                                                                 \
        printf("  expected error: %s\n", (e).msg);                                       \
        CHECK_STR_CONTAINS((e).msg, what);                                               \
    } while (0)

static void test_errors(const char *tmp)
{
    cnn_err e = {0};
    tb_writer *w = NULL;
    char path[512];

    /* An unwritable location: a regular file where the directory should be. */
    snprintf(path, sizeof path, "%s/plain", tmp);
    FILE *f = fopen(path, "w");
    CHECK(f && fclose(f) == 0);
    int rc = tb_open(path, &w, &e);
    EXPECT_ERR(rc, e, path);
    CHECK_STR_CONTAINS(e.msg, "/events.out.tfevents.");
    CHECK_STR_CONTAINS(e.msg, "Not a directory");
    CHECK(w == NULL);
    if (geteuid() != 0) { /* root writes into read-only directories */
        snprintf(path, sizeof path, "%s/ro", tmp);
        CHECK(mkdir(path, 0555) == 0);
        rc = tb_open(path, &w, &e);
        EXPECT_ERR(rc, e, "Permission denied");
        CHECK_STR_CONTAINS(e.msg, path);
    } else {
        printf("  (read-only directory case skipped: running as root)\n");
    }

    /* Bad arguments leave nothing in the file. */
    snprintf(path, sizeof path, "%s/args", tmp);
    CHECK_EQ(tb_open(path, &w, &e), 0);
    EXPECT_ERR(tb_scalar(w, "", 0, 1.0, 0, &e), e, "empty");
    EXPECT_ERR(tb_scalar(w, "bad\xff", 0, 1.0, 0, &e), e, "'bad...'");
    CHECK_STR_CONTAINS(e.msg, "UTF-8 at byte 3");
    EXPECT_ERR(tb_scalar(w, "\xed\xa0\x80", 0, 1.0, 0, &e), e, "UTF-8"); /* a surrogate */
    EXPECT_ERR(tb_image(w, "im", 0, 1.0, "x", 1, 4, 4, 5, &e), e, "5 channels");
    EXPECT_ERR(tb_image(w, "im", 0, 1.0, "x", 1, 0, 4, 3, &e), e, "height 0");
    CHECK_EQ(tb_flush(w, &e), 0);
    CHECK_EQ(read_file(tb_path(w), NULL), 1);
    tb_close(w);
}

/* Disk full: a file size limit below what the flush needs. The error names the file, the
 * partial record is cut off again, and the writer goes on once there is room. */
static void test_disk_full(const char *tmp)
{
    cnn_err e = {0};
    tb_writer *w = NULL;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/full", tmp);
    CHECK_EQ(tb_open(dir, &w, &e), 0);
    struct stat st;
    CHECK(stat(tb_path(w), &st) == 0);
    off_t start = st.st_size;

    struct rlimit old, lim;
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = (rlim_t)start + 1000;
    signal(SIGXFSZ, SIG_IGN); /* write() then fails with EFBIG instead of killing us */
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    write_event(w, 0);
    write_event(w, 6); /* 300 bytes of PNG */
    write_event(w, 7); /* 70000: past the limit */
    int rc = tb_flush(w, &e);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    EXPECT_ERR(rc, e, tb_path(w));
    CHECK_STR_CONTAINS(e.msg, "File too large");
    CHECK_STR_CONTAINS(e.msg, "3 events lost");
    CHECK(stat(tb_path(w), &st) == 0);
    CHECK_EQ(st.st_size, start);

    write_event(w, 0);
    CHECK_EQ(tb_flush(w, &e), 0);
    CHECK_EQ(read_file(tb_path(w), check_event), 2);
    tb_close(w);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0) {
        char *path = write_all(argv[2]);
        printf("%s\n", path);
        free(path);
        return 0;
    }
    CHECK(argc == 1);
    char tmp[] = "/tmp/test_tfevents.XXXXXX";
    CHECK(mkdtemp(tmp));
    test_crc();
    test_round_trip(tmp);
    test_flush(tmp);
    test_errors(tmp);
    test_disk_full(tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "chmod -R u+w '%s' && rm -rf '%s'", tmp, tmp);
    CHECK(system(cmd) == 0);
    printf("tfevents: all checks passed\n");
    return 0;
}
