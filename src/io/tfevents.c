/* TensorBoard event files written by our own encoder, so `tensorboard --logdir runs` shows a
 * run as it shows PyTorch's SummaryWriter's. A file is a sequence of TFRecords (uint64 LE
 * length, masked CRC32C of those 8 bytes, data, masked CRC32C of the data; TensorFlow's
 * "TFRecords format details"), each holding one serialized tensorboard.Event. Field numbers
 * are those of tensorboard/compat/proto/event.proto (Event: wall_time 1, step 2, file_version
 * 3, summary 5) and summary.proto (Summary: value 1; Value: tag 1, simple_value 2, image 4;
 * Image: height 1, width 2, colorspace 3, encoded_image_string 4). We emit protobuf's
 * canonical encoding (fields in number order, proto3 defaults left out), which the test
 * checks byte for byte against python3-protobuf's own serialization. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

/* Pending records are written out once this many bytes wait, or at tb_flush. */
#define TB_FLUSH_AT ((size_t)1 << 18)

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

struct tb_writer {
    int fd;
    char *path;
    off_t written; /* bytes of complete records in the file */
    unsigned char *buf; /* records not yet written */
    size_t len, cap;
    int pending; /* events in buf */
};

/* ---- CRC32C (Castagnoli, reflected polynomial 0x82F63B78), one table lookup a byte ---- */

/* crc_table[i]: CRC of the byte i alone, i.e. i shifted out through eight rounds of the
 * polynomial. Generated once by that loop; the test checks the result against CRC32C's
 * published check value and against a bit-at-a-time CRC. */
static const uint32_t crc_table[256] = {
    0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c, 0x26a1e7e8, 0xd4ca64eb,
    0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b, 0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24,
    0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
    0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b,
    0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a, 0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35,
    0xaa64d611, 0x580f5512, 0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
    0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
    0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a, 0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595,
    0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
    0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f, 0xed03a29b, 0x1f682198,
    0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927, 0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38,
    0xdbfc821c, 0x2997011f, 0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
    0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789,
    0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859, 0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
    0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
    0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de, 0xdde0eb2a, 0x2f8b6829,
    0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c, 0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93,
    0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
    0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc,
    0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c, 0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033,
    0xa24bb5a6, 0x502036a5, 0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
    0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975, 0x0e330a81, 0xfc588982,
    0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d, 0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622,
    0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
    0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f,
    0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff, 0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0,
    0xd3d3e1ab, 0x21b862a8, 0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
    0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
    0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee, 0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1,
    0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
    0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69, 0xd5cf889d, 0x27a40b9e,
    0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e, 0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

uint32_t tb_crc32c(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint32_t c = 0xFFFFFFFFu;
    while (n--)
        c = crc_table[(c ^ *b++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* TFRecord masks its CRCs: a CRC of data that itself holds CRCs is weak otherwise. */
static uint32_t masked_crc(const void *p, size_t n)
{
    uint32_t c = tb_crc32c(p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* ---- protobuf wire format into w->buf (space reserved beforehand by reserve) ---- */

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Bytes of a LEN field of n payload bytes with a one-byte key (all our field numbers < 16). */
static size_t len_field_size(size_t n) { return 1 + varint_size(n) + n; }

static void put_byte(tb_writer *w, unsigned char c) { w->buf[w->len++] = c; }

static void put_varint(tb_writer *w, uint64_t v)
{
    while (v >= 0x80) {
        put_byte(w, (unsigned char)(v | 0x80));
        v >>= 7;
    }
    put_byte(w, (unsigned char)v);
}

static void put_key(tb_writer *w, int field, int wire)
{
    put_byte(w, (unsigned char)(field << 3 | wire));
}

static void put_le(tb_writer *w, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        put_byte(w, (unsigned char)(v >> (8 * i)));
}

static void put_len_field(tb_writer *w, int field, const void *p, size_t n)
{
    put_key(w, field, WIRE_LEN);
    put_varint(w, n);
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static int reserve(tb_writer *w, size_t more, cnn_err *e)
{
    if (more > SIZE_MAX / 2 - w->len)
        return CNN_ERR(e, CNN_EINVAL, "event of %zu bytes for %s is too large", more, w->path);
    if (w->len + more <= w->cap)
        return CNN_OK;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->len + more)
        cap *= 2;
    unsigned char *b = realloc(w->buf, cap);
    if (!b)
        return CNN_ERR(e, CNN_ENOMEM, "no memory for a %zu-byte event buffer for %s", cap, w->path);
    w->buf = b;
    w->cap = cap;
    return CNN_OK;
}

/* ---- records ---- */

/* One event's fields as they go on the wire; sizes are computed before anything is written
 * because each nested message is preceded by its length. */
typedef struct ev_fields {
    double wall_time;
    int64_t step;
    const char *file_version; /* or a summary with one value: */
    const char *tag;
    int is_image;
    float value;
    const void *png;
    size_t png_len;
    int height, width, colorspace;
} ev_fields;

static size_t image_size(const ev_fields *f)
{
    return 1 + varint_size((uint64_t)f->height) + 1 + varint_size((uint64_t)f->width) + 1 +
           varint_size((uint64_t)f->colorspace) + len_field_size(f->png_len);
}

static size_t value_size(const ev_fields *f)
{
    return len_field_size(strlen(f->tag)) + (f->is_image ? len_field_size(image_size(f)) : 5);
}

/* proto3 leaves out scalars equal to their default; +0.0 only, -0.0 has a sign bit set. */
static int wall_time_set(double t)
{
    uint64_t bits;
    memcpy(&bits, &t, sizeof bits);
    return bits != 0;
}

static size_t event_size(const ev_fields *f)
{
    size_t n = (wall_time_set(f->wall_time) ? 9 : 0) +
               (f->step ? 1 + varint_size((uint64_t)f->step) : 0);
    if (f->file_version)
        return n + len_field_size(strlen(f->file_version));
    return n + len_field_size(len_field_size(value_size(f))); /* summary { value { ... } } */
}

static void put_event(tb_writer *w, const ev_fields *f)
{
    if (wall_time_set(f->wall_time)) {
        uint64_t bits;
        memcpy(&bits, &f->wall_time, sizeof bits);
        put_key(w, 1, WIRE_I64);
        put_le(w, bits, 8);
    }
    if (f->step) {
        put_key(w, 2, WIRE_VARINT);
        put_varint(w, (uint64_t)f->step); /* negative int64: ten bytes, two's complement */
    }
    if (f->file_version) {
        put_len_field(w, 3, f->file_version, strlen(f->file_version));
        return;
    }
    size_t vsize = value_size(f);
    put_key(w, 5, WIRE_LEN);
    put_varint(w, len_field_size(vsize));
    put_key(w, 1, WIRE_LEN); /* Summary.value */
    put_varint(w, vsize);
    put_len_field(w, 1, f->tag, strlen(f->tag));
    if (!f->is_image) {
        uint32_t bits;
        memcpy(&bits, &f->value, sizeof bits);
        put_key(w, 2, WIRE_I32);
        put_le(w, bits, 4);
        return;
    }
    put_key(w, 4, WIRE_LEN);
    put_varint(w, image_size(f));
    put_key(w, 1, WIRE_VARINT);
    put_varint(w, (uint64_t)f->height);
    put_key(w, 2, WIRE_VARINT);
    put_varint(w, (uint64_t)f->width);
    put_key(w, 3, WIRE_VARINT);
    put_varint(w, (uint64_t)f->colorspace);
    put_len_field(w, 4, f->png, f->png_len);
}

/* Appends one TFRecord holding the event; writes pending records out when enough wait. */
static int put_record(tb_writer *w, const ev_fields *f, cnn_err *e)
{
    size_t n = event_size(f);
    CNN_TRY(e, reserve(w, n + 16, e));
    size_t head = w->len;
    put_le(w, (uint64_t)n, 8);
    put_le(w, masked_crc(w->buf + head, 8), 4);
    put_event(w, f);
    CNN_ASSERT(w->len == head + 12 + n);
    put_le(w, masked_crc(w->buf + head + 12, n), 4);
    w->pending++;
    if (w->len >= TB_FLUSH_AT)
        CNN_TRY(e, tb_flush(w, e));
    return CNN_OK;
}

int tb_flush(tb_writer *w, cnn_err *e)
{
    if (w->len == 0)
        return CNN_OK;
    if (io_pwrite_all(w->fd, w->buf, w->len, w->written) == 0) {
        w->written += (off_t)w->len;
        w->len = 0;
        w->pending = 0;
        return CNN_OK;
    }
    /* Disk full or similar: cut the partial record off again, so the file stays a valid
     * sequence of records and later events (after space is freed) can still be read. */
    int err = errno;
    int lost = w->pending;
    w->len = 0;
    w->pending = 0;
    if (ftruncate(w->fd, w->written) != 0)
        return CNN_ERR(e, CNN_EIO,
                       "writing %s failed: %s (%d events lost), and cutting it back to %lld "
                       "bytes failed too: %s; free space there or log elsewhere",
                       w->path, strerror(err), lost, (long long)w->written, strerror(errno));
    return CNN_ERR(e, CNN_EIO,
                   "writing %s failed: %s (%d events lost); free space there or log elsewhere",
                   w->path, strerror(err), lost);
}

/* ---- arguments ---- */

/* Tags are proto3 strings: protobuf's parsers (python3-protobuf, TensorBoard's) reject a
 * record whose string is not valid UTF-8, so we refuse it here instead. Returns the offset
 * of the first byte that starts no valid sequence, or -1 when all is valid. */
static long utf8_invalid_at(const unsigned char *s0)
{
    for (const unsigned char *s = s0; *s;) {
        const unsigned char *start = s;
        unsigned c = *s++;
        int more;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the first continuation byte */
        if (c < 0x80)
            continue;
        else if (c >= 0xC2 && c <= 0xDF)
            more = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
            hi = c == 0xED ? 0x9F : 0xBF; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing above U+10FFFF */
        } else
            return (long)(start - s0);
        for (int i = 0; i < more; i++, s++) {
            if (*s < (i ? 0x80 : lo) || *s > (i ? 0xBF : hi))
                return (long)(start - s0);
        }
    }
    return -1;
}

static int check_tag(const tb_writer *w, const char *tag, cnn_err *e)
{
    if (!tag || !tag[0])
        return CNN_ERR(e, CNN_EINVAL, "TensorBoard tag for %s is empty; name the value", w->path);
    long bad = utf8_invalid_at((const unsigned char *)tag);
    if (bad >= 0)
        return CNN_ERR(e, CNN_EINVAL,
                       "TensorBoard tag '%.*s...' for %s is not valid UTF-8 at byte %ld; "
                       "tags must be UTF-8 text",
                       (int)bad, tag, w->path, bad);
    return CNN_OK;
}

int tb_scalar(tb_writer *w, const char *tag, int64_t step, double wall_time, float value,
              cnn_err *e)
{
    CNN_TRY(e, check_tag(w, tag, e));
    ev_fields f = {.wall_time = wall_time, .step = step, .tag = tag, .value = value};
    return put_record(w, &f, e);
}

int tb_image(tb_writer *w, const char *tag, int64_t step, double wall_time, const void *png,
             size_t len, int height, int width, int channels, cnn_err *e)
{
    CNN_TRY(e, check_tag(w, tag, e));
    if (height <= 0 || width <= 0 || channels < 1 || channels > 4)
        return CNN_ERR(e, CNN_EINVAL,
                       "image '%s' for %s has height %d, width %d, %d channels; TensorBoard "
                       "takes positive sizes and 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) "
                       "channels", tag, w->path, height, width, channels);
    if (!png && len)
        return CNN_ERR(e, CNN_EINVAL, "image '%s' for %s has no bytes", tag, w->path);
    /* Summary.Image.colorspace counts channels: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
    ev_fields f = {.wall_time = wall_time, .step = step, .tag = tag, .is_image = 1,
                   .png = png ? png : "", .png_len = len, .height = height, .width = width,
                   .colorspace = channels};
    return put_record(w, &f, e);
}

/* ---- files ---- */

/* PyTorch's name: events.out.tfevents.<unix seconds>.<hostname>. Two writers started in one
 * second on one host would share it, so an existing file is never truncated: the next free
 * name with ".1", ".2", ... appended is taken (TensorBoard reads every *tfevents* file). */
static int create_file(tb_writer *w, const char *dir, cnn_err *e)
{
    size_t n = strlen(dir) + 320;
    w->path = cnn_xmalloc(n);
    long now = (long)time(NULL);
    const char *host = cnn_proc_host();
    for (int k = 0; k < 100; k++) {
        int m = snprintf(w->path, n, "%s/events.out.tfevents.%ld.%s", dir, now, host);
        if (k)
            snprintf(w->path + m, n - (size_t)m, ".%d", k);
        w->fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (w->fd >= 0)
            return CNN_OK;
        if (errno != EEXIST)
            break;
    }
    return CNN_ERR(e, CNN_EIO,
                   "cannot create the TensorBoard event file %s: %s; check the log directory",
                   w->path, strerror(errno));
}

static double now_seconds(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

int tb_open(const char *dir, tb_writer **out, cnn_err *e)
{
    *out = NULL;
    tb_writer *w = cnn_xcalloc(1, sizeof *w);
    w->fd = -1;
    char *slashed = cnn_xmalloc(strlen(dir) + 2);
    sprintf(slashed, "%s/", dir);
    int rc = io_mkdir_parents(slashed, e); /* the log directory itself, as SummaryWriter does */
    free(slashed);
    if (rc == CNN_OK)
        rc = create_file(w, dir, e);
    if (rc == CNN_OK) {
        /* The first record names the format; flushed at once so an unwritable location
         * shows here, not at the first scalar. */
        ev_fields f = {.wall_time = now_seconds(), .file_version = "brain.Event:2"};
        rc = put_record(w, &f, e);
        if (rc == CNN_OK)
            rc = tb_flush(w, e);
    }
    if (rc < 0) {
        if (w->fd >= 0) {
            close(w->fd);
            unlink(w->path);
        }
        free(w->path);
        free(w->buf);
        free(w);
        cnn_err_trace(e, __FILE__, __LINE__);
        return rc;
    }
    *out = w;
    return CNN_OK;
}

const char *tb_path(const tb_writer *w) { return w->path; }

void tb_close(tb_writer *w)
{
    if (!w)
        return;
    cnn_err e = {0};
    if (tb_flush(w, &e) < 0)
        fprintf(stderr, "cnn-dist: warning: %s\n", e.msg);
    close(w->fd);
    free(w->path);
    free(w->buf);
    free(w);
}
