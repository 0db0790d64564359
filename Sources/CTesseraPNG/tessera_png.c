// CTesseraPNG: PNG decode/encode through libpng's full API.
//
// Error discipline: libpng reports errors by calling our error function, which
// records the message and longjmps back to the setjmp in decode_body/encode_body.
// Those functions only return a status; everything that must be released lives in
// a tpng_ctx owned by the calling (non-setjmp) function, which frees it on every path.
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
    uint8_t *pixels;
    png_bytep *rows;
    // Writing.
    uint8_t *output;
    size_t output_size;
    size_t output_capacity;
    // The largest single allocation libpng may make while decoding (see capped_malloc).
    size_t allocation_limit;
} tpng_ctx;

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
static png_voidp capped_malloc(png_structp png, png_alloc_size_t size) {
    tpng_ctx *ctx = (tpng_ctx *)png_get_mem_ptr(png);
    if (ctx != NULL && size > ctx->allocation_limit) return NULL;
    return malloc(size);
}

static void capped_free(png_structp png, png_voidp pointer) {
    (void)png;
    free(pointer);
}

static void read_bytes(png_structp png, png_bytep destination, size_t count) {
    tpng_ctx *ctx = (tpng_ctx *)png_get_io_ptr(png);
    if (count > ctx->size - ctx->position) {
        png_error(png, "unexpected end of data (truncated PNG)");
    }
    memcpy(destination, ctx->data + ctx->position, count);
    ctx->position += count;
}

static int decode_body(png_structp png, png_infop info, tpng_ctx *ctx, size_t max_bytes, tpng_image *out) {
    if (setjmp(png_jmpbuf(png))) return -1;

    png_set_read_fn(png, ctx, read_bytes);
#ifdef TESSERA_FUZZING
    // Only in the libFuzzer build (scripts/fuzz-png.sh): ignore CRCs so that mutations reach
    // the chunk parsers instead of stopping at the checksum, as libpng's own fuzz harness does.
    png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
#endif
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &depth, &color_type, &interlace, NULL, NULL);

    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_strip_16(png);  // keeps the high byte: v >> 8
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    if (channels < 1 || channels > 4 || png_get_bit_depth(png, info) != 8 ||
        row_bytes != (size_t)width * (size_t)channels) {
        png_error(png, "unsupported PNG layout after transformations");
    }
    if (height != 0 && row_bytes > max_bytes / height) {
        png_error(png, "image too large to decode (exceeds the decoder's size limit)");
    }
    ctx->pixels = (uint8_t *)malloc(row_bytes * height);
    ctx->rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
    if (ctx->pixels == NULL || ctx->rows == NULL) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++) ctx->rows[y] = ctx->pixels + (size_t)y * row_bytes;

    png_read_image(png, ctx->rows);
    png_read_end(png, NULL);

    out->width = (int32_t)width;
    out->height = (int32_t)height;
    out->channels = channels;
    out->pixels = ctx->pixels;
    return 0;
}

int tpng_decode(const uint8_t *data, size_t size, size_t max_bytes,
                tpng_image *out, char *error, size_t error_capacity) {
    set_error(error, error_capacity, "");
    if (out == NULL) {
        set_error(error, error_capacity, "no output image");
        return -1;
    }
    memset(out, 0, sizeof(*out));
    if (data == NULL || size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        set_error(error, error_capacity, "not a PNG file (bad signature)");
        return -1;
    }
    tpng_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.error = error;
    ctx.error_capacity = error_capacity;
    ctx.data = data;
    ctx.size = size;
    ctx.allocation_limit = ((size_t)16 << 20) + size;

    png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning,
                                               &ctx, capped_malloc, capped_free);
    if (png == NULL) {
        set_error(error, error_capacity, "could not create libpng read struct");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_error(error, error_capacity, "could not create libpng info struct");
        return -1;
    }
    int status = decode_body(png, info, &ctx, max_bytes, out);
    png_destroy_read_struct(&png, &info, NULL);
    free(ctx.rows);
    if (status != 0) {
        free(ctx.pixels);
        memset(out, 0, sizeof(*out));
        if (error != NULL && error_capacity > 0 && error[0] == '\0') {
            set_error(error, error_capacity, "libpng error");
        }
        return -1;
    }
    return 0;
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
