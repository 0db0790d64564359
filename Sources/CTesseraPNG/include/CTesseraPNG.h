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

/// A decoded 8-bit image: `height` rows of `width` pixels of `channels` interleaved
/// samples (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA). `pixels` is malloc'd; release it
/// with tpng_free.
typedef struct {
    int32_t width;
    int32_t height;
    int32_t channels;
    uint8_t *pixels;
} tpng_image;

/// Decodes a PNG held in memory into 8-bit samples: 16-bit samples keep their high
/// byte, gray of depth 1/2/4 is scaled to 0...255, palette becomes RGB (RGBA when the
/// file has tRNS), a tRNS colour key becomes an alpha channel, Adam7 is de-interlaced.
/// No gamma or colour-space conversion is done. Fails (without allocating) when the
/// decoded image would exceed `max_bytes` bytes.
int tpng_decode(const uint8_t *data, size_t size, size_t max_bytes,
                tpng_image *out, char *error, size_t error_capacity);

/// Encodes 8-bit interleaved samples (`channels` 1, 2, 3 or 4; rows of
/// width*channels bytes, no padding) as a non-interlaced 8-bit PNG in memory.
/// On success *out_data (malloc'd; release with tpng_free) holds *out_size bytes.
int tpng_encode(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels,
                int compression_level, uint8_t **out_data, size_t *out_size,
                char *error, size_t error_capacity);

/// Releases memory returned by tpng_decode or tpng_encode.
void tpng_free(void *pointer);

/// The libpng version this target runs against, e.g. "1.6.39".
const char *tpng_libpng_version(void);

#ifdef __cplusplus
}
#endif

#endif
