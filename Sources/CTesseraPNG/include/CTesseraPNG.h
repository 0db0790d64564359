// CTesseraPNG: the only code in Tessera that calls libpng's full read/write API.
// libpng reports errors with longjmp; every setjmp lives in this C target, so a
// longjmp never crosses a Swift frame. Each function returns 0 on success, or -1
// with a NUL-terminated message in `error` (at most `error_capacity` bytes).
#ifndef TESSERA_CTESSERAPNG_H
#define TESSERA_CTESSERAPNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// What a PNG's header says, before any image data is read. `channels` is the sample count
/// the reader's 8-bit rows will have (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA): palette images
/// become RGB (RGBA with tRNS), a tRNS colour key on gray or RGB adds an alpha channel.
typedef struct {
    uint32_t width;
    uint32_t height;
    int32_t channels;
    int32_t bit_depth;   // as stored: 1, 2, 4, 8 or 16
    int32_t interlaced;  // 1 for Adam7
} tpng_header;

/// A PNG being read row by row (opaque). Every libpng allocation it makes is capped per call
/// (16 MiB plus the input size) and counted (see tpng_reader_peak_bytes).
typedef struct tpng_reader tpng_reader;

/// Starts reading a PNG held in memory (which must stay valid until tpng_close): checks the
/// signature and reads every chunk before the image data, then fills `header`. Nothing
/// proportional to the image is allocated yet, so a caller can refuse an oversized image
/// here. On failure *out_reader is NULL and the reader needs no closing.
int tpng_open(const uint8_t *data, size_t size, tpng_header *header, tpng_reader **out_reader,
              char *error, size_t error_capacity);

/// Sets up 8-bit rows of header.channels samples (16-bit samples keep their high byte, gray
/// of depth 1/2/4 is scaled to 0...255, no gamma or colour-space conversion). Rows are then
/// delivered by tpng_read_row. For an interlaced image, rows come pass by pass (Adam7 passes
/// 1...7, empty passes skipped), each only as wide as its pass (the caller places them); no
/// de-interlacing buffer is kept.
int tpng_start(tpng_reader *reader, char *error, size_t error_capacity);

/// Reads the next row into `row`, which must hold width * channels bytes (also for the
/// narrower rows of an interlaced pass).
int tpng_read_row(tpng_reader *reader, uint8_t *row, size_t row_capacity,
                  char *error, size_t error_capacity);

/// Reads the chunks after the image data (call after the last row).
int tpng_finish(tpng_reader *reader, char *error, size_t error_capacity);

/// The most bytes libpng held at once for this reader so far.
size_t tpng_reader_peak_bytes(const tpng_reader *reader);

/// Releases the reader and everything libpng allocated for it; NULL is allowed.
void tpng_close(tpng_reader *reader);

/// Encodes 8-bit interleaved samples (`channels` 1, 2, 3 or 4; rows of
/// width*channels bytes, no padding) as a non-interlaced 8-bit PNG in memory.
/// On success *out_data (malloc'd; release with tpng_free) holds *out_size bytes.
int tpng_encode(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels,
                int compression_level, uint8_t **out_data, size_t *out_size,
                char *error, size_t error_capacity);

/// Releases memory returned by tpng_encode.
void tpng_free(void *pointer);

/// The libpng version this target runs against, e.g. "1.6.39".
const char *tpng_libpng_version(void);

#ifdef __cplusplus
}
#endif

#endif
