// CTesseraJPEG: JPEG decoding through libjpeg-turbo's TurboJPEG API.
//
// Error discipline: TurboJPEG owns libjpeg's setjmp/longjmp internally and reports every
// failure as a -1 return with a message, so no longjmp leaves the library. Each function
// here creates its own TurboJPEG handle and destroys it on every path before returning.
#include "CTesseraJPEG.h"

#include <stdio.h>
#include <string.h>
#include <turbojpeg.h>

static void set_error(char *error, size_t capacity, const char *message) {
    if (error != NULL && capacity > 0) snprintf(error, capacity, "%s", message);
}

// A TurboJPEG decompressor, or NULL with the reason in `error`.
static tjhandle new_decompressor(char *error, size_t error_capacity) {
    tjhandle handle = tjInitDecompress();
    if (handle == NULL) set_error(error, error_capacity, "could not create a TurboJPEG decompressor");
    return handle;
}

// TurboJPEG's message for the last failure on `handle`, without its "tjDecompress2(): "
// style function prefix where it has one.
static void set_library_error(char *error, size_t capacity, tjhandle handle) {
    const char *message = tjGetErrorStr2(handle);
    if (message == NULL || message[0] == '\0') message = "libjpeg-turbo error";
    const char *prefix_end = strstr(message, "(): ");
    set_error(error, capacity, prefix_end != NULL ? prefix_end + 4 : message);
}

static int colorspace_of(int tj) {
    switch (tj) {
    case TJCS_GRAY: return TJPEG_GRAY;
    case TJCS_YCbCr: return TJPEG_YCBCR;
    case TJCS_RGB: return TJPEG_RGB;
    case TJCS_CMYK: return TJPEG_CMYK;
    case TJCS_YCCK: return TJPEG_YCCK;
    default: return 0;
    }
}

static int read_header(tjhandle handle, const uint8_t *data, size_t size, tjpeg_header *header,
                       char *error, size_t error_capacity) {
    memset(header, 0, sizeof(*header));
    if (data == NULL || size < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) {
        set_error(error, error_capacity, "not a JPEG file (bad signature)");
        return -1;
    }
    if (size > (size_t)(unsigned long)-1) {
        set_error(error, error_capacity, "JPEG data too large");
        return -1;
    }
    int width = 0, height = 0, subsampling = 0, colorspace = 0;
    if (tjDecompressHeader3(handle, data, (unsigned long)size, &width, &height, &subsampling, &colorspace) != 0) {
        set_library_error(error, error_capacity, handle);
        return -1;
    }
    int cs = colorspace_of(colorspace);
    if (width < 1 || height < 1 || cs == 0) {
        set_error(error, error_capacity, "JPEG header declares no usable image");
        return -1;
    }
    header->width = width;
    header->height = height;
    header->colorspace = cs;
    header->subsampling = subsampling;
    return 0;
}

int tjpeg_read_header(const uint8_t *data, size_t size, tjpeg_header *header,
                      char *error, size_t error_capacity) {
    set_error(error, error_capacity, "");
    if (header == NULL) {
        set_error(error, error_capacity, "no output header");
        return -1;
    }
    tjhandle handle = new_decompressor(error, error_capacity);
    if (handle == NULL) return -1;
    int status = read_header(handle, data, size, header, error, error_capacity);
    tjDestroy(handle);
    return status;
}

int tjpeg_decode(const uint8_t *data, size_t size, int32_t channels, uint8_t *pixels,
                 size_t pitch, size_t capacity, char *error, size_t error_capacity) {
    set_error(error, error_capacity, "");
    int format;
    switch (channels) {
    case 1: format = TJPF_GRAY; break;
    case 3: format = TJPF_RGB; break;
    case 4: format = TJPF_RGBA; break;
    default:
        set_error(error, error_capacity, "JPEG output must have 1, 3 or 4 channels");
        return -1;
    }
    tjhandle handle = new_decompressor(error, error_capacity);
    if (handle == NULL) return -1;
    tjpeg_header header;
    int status = read_header(handle, data, size, &header, error, error_capacity);
    if (status == 0 && (header.colorspace == TJPEG_CMYK || header.colorspace == TJPEG_YCCK)) {
        set_error(error, error_capacity, "CMYK JPEG: not supported (convert it to RGB first)");
        status = -1;
    }
    if (status == 0) {
        size_t row = (size_t)header.width * (size_t)channels;
        if (pixels == NULL || pitch < row || pitch > (size_t)0x7FFFFFFF ||
            capacity / pitch < (size_t)header.height - 1 || capacity - pitch * ((size_t)header.height - 1) < row) {
            set_error(error, error_capacity, "JPEG output buffer too small for the image");
            status = -1;
        }
    }
    if (status == 0) {
        int flags = TJFLAG_STOPONWARNING;
#ifdef TJFLAG_LIMITSCANS
        flags |= TJFLAG_LIMITSCANS;
#endif
        if (tjDecompress2(handle, data, (unsigned long)size, pixels, header.width, (int)pitch, header.height,
                          format, flags) != 0) {
            set_library_error(error, error_capacity, handle);
            status = -1;
        }
    }
    tjDestroy(handle);
    return status;
}
