/* Private to the decoders (decode.c, decode_jpeg.c, decode_png.c, exif.c): per-format
 * entry points that return the file's own channel count (1 or 3), and the EXIF orientation
 * helpers, and the encoders cnn-pack uses (encode.c). image_decode (data.h) dispatches on
 * the magic bytes and converts channels. */
#ifndef CNN_DATA_DECODE_IMPL_H
#define CNN_DATA_DECODE_IMPL_H

#include "data.h"

/* Decompression-bomb guard: 2^28 pixels (16k x 16k) is far above any training image and
 * keeps one decode below 1 GiB of RGB. */
#define DECODE_MAX_PIXELS ((int64_t)1 << 28)
/* A JPEG's header can claim that size in a few hundred bytes: libjpeg fills what the data
 * lacks and warns only, so a 749-byte file decoded to 786 MB (found by fuzz-image). Huffman
 * coding needs at least 1 bit per 8x8 block (512 pixels per byte); a JPEG may declare at most
 * DECODE_JPEG_PIXELS_PER_BYTE pixels per byte of file (8x that bound) beyond a free
 * allowance of DECODE_JPEG_FREE_PIXELS (2048 x 2048) that any file gets. */
#define DECODE_JPEG_FREE_PIXELS ((int64_t)1 << 22)
#define DECODE_JPEG_PIXELS_PER_BYTE 4096

/* image_decode, also giving the full size (h, w) after EXIF orientation when a JPEG was
 * decoded scaled (full_hw may be NULL): cnn-pack validates with a cheap scaled decode but
 * records the size the loader will see. */
int decode_image(const uint8_t *bytes, size_t len, int want_c, int min_side, image *out,
                 int full_hw[2], cnn_err *e);
int decode_jpeg(const uint8_t *bytes, size_t len, int min_side, image *out, int full_hw[2],
                cnn_err *e);
int decode_png(const uint8_t *bytes, size_t len, image *out, cnn_err *e);
/* A segmentation mask: 8-bit class ids, one channel (palette indices kept, not colors). */
int decode_png_ids(const uint8_t *bytes, size_t len, image *out, cnn_err *e);

/* Encoder (encode.c) into a malloc'ed buffer the caller frees: baseline JPEG (4:2:0 for
 * RGB) of 1 or 3 channels (PNG: image_encode_png in data.h). */
int encode_jpeg(const image *im, int quality, uint8_t **out, size_t *len, cnn_err *e);
/* Checks w x h against DECODE_MAX_PIXELS and allocates out->data (h, w, c). */
int decode_alloc(image *out, int64_t h, int64_t w, int c, const char *fmt, cnn_err *e);

/* EXIF tag 0x0112 from an APP1 payload ("Exif\0\0" + TIFF); 1 when absent or malformed. */
int exif_orientation(const uint8_t *app1, size_t len);
/* Applies orientation o (1..8) in place as PIL's ImageOps.exif_transpose does. */
int exif_apply(image *im, int o, cnn_err *e);

#endif
