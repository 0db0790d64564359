// CTesseraJPEG: the only code in Tessera that calls libjpeg-turbo (through its TurboJPEG
// API, which keeps libjpeg's setjmp/longjmp inside the library). Each function returns 0
// on success, or -1 with a NUL-terminated message in `error` (at most `error_capacity`
// bytes). Nothing here keeps state between calls; any number of threads may decode at once.
#ifndef TESSERA_CTESSERAJPEG_H
#define TESSERA_CTESSERAJPEG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The colour spaces a JPEG can declare.
enum {
    TJPEG_GRAY = 1,   // one luminance component
    TJPEG_YCBCR = 2,  // the usual colour JPEG
    TJPEG_RGB = 3,    // colour stored as RGB (Adobe transform 0)
    TJPEG_CMYK = 4,   // print files: refused by tjpeg_decode
    TJPEG_YCCK = 5    // print files: refused by tjpeg_decode
};

/// What a JPEG's header says, before any image data is decoded.
typedef struct {
    int32_t width;
    int32_t height;
    int32_t colorspace;   // TJPEG_GRAY ... TJPEG_YCCK
    int32_t subsampling;  // TurboJPEG's TJSAMP_* value
} tjpeg_header;

/// Reads the markers up to the first scan of a JPEG held in memory. Allocates nothing
/// proportional to the image. Any libjpeg warning (e.g. corrupt marker data) is an error.
int tjpeg_read_header(const uint8_t *data, size_t size, tjpeg_header *header,
                      char *error, size_t error_capacity);

/// Decodes a JPEG into `pixels`: `height` rows, `pitch` bytes apart, of `channels` samples
/// per pixel — 1 (gray: the JPEG's luma; a gray JPEG's only component), 3 (RGB; a gray JPEG
/// replicated) or 4 (RGBA with alpha 255). `capacity` is the buffer's size, checked against
/// the image's own header. CMYK and YCCK JPEGs are refused. Every libjpeg warning stops the
/// decode as an error (a truncated or corrupt file is never patched up with gray), and
/// progressive files with more than 500 scans are refused.
int tjpeg_decode(const uint8_t *data, size_t size, int32_t channels, uint8_t *pixels,
                 size_t pitch, size_t capacity, char *error, size_t error_capacity);

#ifdef __cplusplus
}
#endif

#endif
