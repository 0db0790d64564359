// CTesseraPNG: PNG decode/encode through libpng's full API.
//
// Error discipline: libpng reports errors by calling our error function, which
// records the message and longjmps back to the setjmp in one of the *_body functions.
// Those functions only return a status; everything that must be released lives in a
// tpng_reader (reading) or a tpng_ctx (writing) owned by the calling (non-setjmp)
// function or by the caller of tpng_open, and is freed on every path.
#include "CTesseraPNG.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *error;
    size_t error_capacity;
    // Reading.
    const uint8_t *data;
    size_t size;
    size_t position;
    // Writing.
    uint8_t *output;
    size_t output_size;
    size_t output_capacity;
    // The largest single allocation libpng may make while decoding (see capped_malloc), and
    // the bytes it holds now and at most.
    size_t allocation_limit;
    size_t allocated;
    size_t peak_allocated;
} tpng_ctx;

struct tpng_reader {
    png_structp png;
    png_infop info;
    tpng_ctx ctx;
    tpng_header header;
    size_t row_bytes;
    int started;
    // After libpng longjmps its state is undefined: the reader only accepts tpng_close then.
    int failed;
};

static void set_error(char *error, size_t capacity, const char *message) {
    if (error == NULL || capacity == 0) return;
    size_t n = strlen(message);
    if (n >= capacity) n = capacity - 1;
    memcpy(error, message, n);
    error[n] = '\0';
}

static void on_error(png_structp png, png_const_charp message) {
    tpng_ctx *ctx = (tpng_ctx *)png_get_error_ptr(png);
    if (ctx != NULL) set_error(ctx->error, ctx->error_capacity, message ? message : "libpng error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message) {
    // Warnings (e.g. a bad CRC in an ancillary chunk, which libpng skips) are not errors.
    (void)png;
    (void)message;
}

// libpng 1.6.39 allocates (and zero-fills) a text chunk's declared length before reading
// it and only warns when that length exceeds its chunk limit, so a 44-byte file declaring
// a 1.3 GB tEXt chunk made it touch 1.3 GB (found by scripts/fuzz-png.sh). Every libpng
// allocation therefore goes through this cap; a refused allocation makes libpng skip the
// chunk (png_malloc_warn) or fail with "Out of Memory" (png_malloc). No legitimate
// allocation comes near it: the largest are rows (at most 8 MB for libpng's 1,000,000-pixel
// width limit) and decompressed ancillary chunks (limited to 8 MB by libpng).
// Each block carries its size in a 16-byte prefix so that frees can be counted.
#define TPNG_PREFIX 16

static png_voidp capped_malloc(png_structp png, png_alloc_size_t size) {
    tpng_ctx *ctx = (tpng_ctx *)png_get_mem_ptr(png);
    if (ctx != NULL && size > ctx->allocation_limit) return NULL;
    if (size > (png_alloc_size_t)-1 - TPNG_PREFIX) return NULL;
    uint8_t *block = (uint8_t *)malloc(size + TPNG_PREFIX);
    if (block == NULL) return NULL;
    memcpy(block, &size, sizeof(size));
    if (ctx != NULL) {
        ctx->allocated += size;
        if (ctx->allocated > ctx->peak_allocated) ctx->peak_allocated = ctx->allocated;
    }
    return block + TPNG_PREFIX;
}

static void capped_free(png_structp png, png_voidp pointer) {
    if (pointer == NULL) return;
    uint8_t *block = (uint8_t *)pointer - TPNG_PREFIX;
    png_alloc_size_t size;
    memcpy(&size, block, sizeof(size));
    tpng_ctx *ctx = (tpng_ctx *)png_get_mem_ptr(png);
    if (ctx != NULL) ctx->allocated -= size;
    free(block);
}

static void read_bytes(png_structp png, png_bytep destination, size_t count) {
    tpng_ctx *ctx = (tpng_ctx *)png_get_io_ptr(png);
    if (count > ctx->size - ctx->position) {
        png_error(png, "unexpected end of data (truncated PNG)");
    }
    memcpy(destination, ctx->data + ctx->position, count);
    ctx->position += count;
}

// Each *_body function owns one setjmp and only returns a status; the public functions
// around them own the reader and release it on every path.

static int open_body(tpng_reader *r) {
    png_structp png = r->png;
    png_infop info = r->info;
    if (setjmp(png_jmpbuf(png))) return -1;

    png_set_read_fn(png, &r->ctx, read_bytes);
#ifdef TESSERA_FUZZING
    // Only in the libFuzzer build (scripts/fuzz-png.sh): ignore CRCs so that mutations reach
    // the chunk parsers instead of stopping at the checksum, as libpng's own fuzz harness does.
    png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
#endif
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &depth, &color_type, &interlace, NULL, NULL);
    int trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    int channels;
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: channels = 1 + trns; break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: channels = 2; break;
    case PNG_COLOR_TYPE_PALETTE: case PNG_COLOR_TYPE_RGB: channels = 3 + trns; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: channels = 4; break;
    default: png_error(png, "unknown PNG colour type"); return -1;
    }
    r->header.width = width;
    r->header.height = height;
    r->header.channels = channels;
    r->header.bit_depth = depth;
    r->header.interlaced = interlace == PNG_INTERLACE_ADAM7;
    return 0;
}

static int start_body(tpng_reader *r) {
    png_structp png = r->png;
    png_infop info = r->info;
    if (setjmp(png_jmpbuf(png))) return -1;

    int color_type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_strip_16(png);  // keeps the high byte: v >> 8
    // No png_set_interlace_handling: interlaced rows arrive pass by pass, as narrow as their
    // pass, and the caller places them, so no full-size de-interlacing buffer is needed.
    png_read_update_info(png, info);

    size_t row_bytes = png_get_rowbytes(png, info);
    if (png_get_channels(png, info) != r->header.channels || png_get_bit_depth(png, info) != 8 ||
        row_bytes != (size_t)r->header.width * (size_t)r->header.channels) {
        png_error(png, "unsupported PNG layout after transformations");
    }
    r->row_bytes = row_bytes;
    return 0;
}

static int row_body(tpng_reader *r, uint8_t *row) {
    if (setjmp(png_jmpbuf(r->png))) return -1;
    png_read_row(r->png, row, NULL);
    return 0;
}

static int finish_body(tpng_reader *r) {
    if (setjmp(png_jmpbuf(r->png))) return -1;
    png_read_end(r->png, NULL);
    return 0;
}

// Points the reader's error text at the caller's buffer; refuses a reader that failed.
static int begin_call(tpng_reader *r, char *error, size_t error_capacity) {
    set_error(error, error_capacity, "");
    if (r == NULL) {
        set_error(error, error_capacity, "no PNG reader");
        return -1;
    }
    if (r->failed) {
        set_error(error, error_capacity, "PNG reader used after an error");
        return -1;
    }
    r->ctx.error = error;
    r->ctx.error_capacity = error_capacity;
    return 0;
}

static int end_call(tpng_reader *r, int status, char *error, size_t error_capacity) {
    r->ctx.error = NULL;
    r->ctx.error_capacity = 0;
    if (status != 0) {
        r->failed = 1;
        if (error != NULL && error_capacity > 0 && error[0] == '\0') set_error(error, error_capacity, "libpng error");
    }
    return status;
}

int tpng_open(const uint8_t *data, size_t size, tpng_header *header, tpng_reader **out_reader,
              char *error, size_t error_capacity) {
    set_error(error, error_capacity, "");
    if (out_reader == NULL || header == NULL) {
        set_error(error, error_capacity, "no output for the PNG reader");
        return -1;
    }
    *out_reader = NULL;
    memset(header, 0, sizeof(*header));
    if (data == NULL || size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        set_error(error, error_capacity, "not a PNG file (bad signature)");
        return -1;
    }
    tpng_reader *r = (tpng_reader *)calloc(1, sizeof(tpng_reader));
    if (r == NULL) {
        set_error(error, error_capacity, "out of memory");
        return -1;
    }
    r->ctx.data = data;
    r->ctx.size = size;
    r->ctx.allocation_limit = ((size_t)16 << 20) + size;
    r->png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &r->ctx, on_error, on_warning,
                                      &r->ctx, capped_malloc, capped_free);
    if (r->png == NULL) {
        free(r);
        set_error(error, error_capacity, "could not create libpng read struct");
        return -1;
    }
    r->info = png_create_info_struct(r->png);
    if (r->info == NULL) {
        tpng_close(r);
        set_error(error, error_capacity, "could not create libpng info struct");
        return -1;
    }
    if (begin_call(r, error, error_capacity) != 0 || end_call(r, open_body(r), error, error_capacity) != 0) {
        tpng_close(r);
        return -1;
    }
    *header = r->header;
    *out_reader = r;
    return 0;
}

int tpng_start(tpng_reader *r, char *error, size_t error_capacity) {
    if (begin_call(r, error, error_capacity) != 0) return -1;
    if (r->started) {
        set_error(error, error_capacity, "PNG reader already started");
        return -1;
    }
    int status = end_call(r, start_body(r), error, error_capacity);
    if (status == 0) r->started = 1;
    return status;
}

int tpng_read_row(tpng_reader *r, uint8_t *row, size_t row_capacity, char *error, size_t error_capacity) {
    if (begin_call(r, error, error_capacity) != 0) return -1;
    if (!r->started || row == NULL || row_capacity < r->row_bytes) {
        set_error(error, error_capacity, "PNG row read before tpng_start or into a short buffer");
        return -1;
    }
    return end_call(r, row_body(r, row), error, error_capacity);
}

int tpng_finish(tpng_reader *r, char *error, size_t error_capacity) {
    if (begin_call(r, error, error_capacity) != 0) return -1;
    if (!r->started) {
        set_error(error, error_capacity, "PNG reader finished before tpng_start");
        return -1;
    }
    return end_call(r, finish_body(r), error, error_capacity);
}

size_t tpng_reader_peak_bytes(const tpng_reader *r) { return r != NULL ? r->ctx.peak_allocated : 0; }

void tpng_close(tpng_reader *r) {
    if (r == NULL) return;
    if (r->png != NULL) png_destroy_read_struct(&r->png, r->info != NULL ? &r->info : NULL, NULL);
    free(r);
}

static void write_bytes(png_structp png, png_bytep source, size_t count) {
    tpng_ctx *ctx = (tpng_ctx *)png_get_io_ptr(png);
    if (count > ctx->output_capacity - ctx->output_size) {
        size_t capacity = ctx->output_capacity ? ctx->output_capacity : 4096;
        while (capacity - ctx->output_size < count) {
            if (capacity > ((size_t)-1) / 2) png_error(png, "encoded PNG too large");
            capacity *= 2;
        }
        uint8_t *grown = (uint8_t *)realloc(ctx->output, capacity);
        if (grown == NULL) png_error(png, "out of memory");
        ctx->output = grown;
        ctx->output_capacity = capacity;
    }
    memcpy(ctx->output + ctx->output_size, source, count);
    ctx->output_size += count;
}

static void flush_bytes(png_structp png) { (void)png; }

static int encode_body(png_structp png, png_infop info, tpng_ctx *ctx, const uint8_t *pixels,
                       int32_t width, int32_t height, int32_t channels, int level) {
    if (setjmp(png_jmpbuf(png))) return -1;
    static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                       PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    png_set_write_fn(png, ctx, write_bytes, flush_bytes);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, color_types[channels],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, level);
    png_write_info(png, info);
    size_t row_bytes = (size_t)width * (size_t)channels;
    for (int32_t y = 0; y < height; y++) {
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * row_bytes));
    }
    png_write_end(png, NULL);
    return 0;
}

int tpng_encode(const uint8_t *pixels, int32_t width, int32_t height, int32_t channels,
                int compression_level, uint8_t **out_data, size_t *out_size,
                char *error, size_t error_capacity) {
    set_error(error, error_capacity, "");
    if (out_data == NULL || out_size == NULL) {
        set_error(error, error_capacity, "no output buffer");
        return -1;
    }
    *out_data = NULL;
    *out_size = 0;
    if (pixels == NULL || width <= 0 || height <= 0 || channels < 1 || channels > 4) {
        set_error(error, error_capacity, "invalid image for PNG encoding (need width, height > 0 and 1...4 channels)");
        return -1;
    }
    if (compression_level < 0 || compression_level > 9) compression_level = 6;
    tpng_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.error = error;
    ctx.error_capacity = error_capacity;

    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    if (png == NULL) {
        set_error(error, error_capacity, "could not create libpng write struct");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        set_error(error, error_capacity, "could not create libpng info struct");
        return -1;
    }
    int status = encode_body(png, info, &ctx, pixels, width, height, channels, compression_level);
    png_destroy_write_struct(&png, &info);
    if (status != 0) {
        free(ctx.output);
        if (error != NULL && error_capacity > 0 && error[0] == '\0') {
            set_error(error, error_capacity, "libpng error");
        }
        return -1;
    }
    *out_data = ctx.output;
    *out_size = ctx.output_size;
    return 0;
}

void tpng_free(void *pointer) { free(pointer); }

const char *tpng_libpng_version(void) { return png_get_libpng_ver(NULL); }
