// PNG decode/encode over the CTesseraPNG C target (which owns libpng's setjmp).
import CTesseraPNG

/// Tags `PNGError`.
public enum PNGCodec: ImageCodecTag {
    /// "PNG", as messages name it.
    public static let name = "PNG"
}

/// A PNG could not be read, decoded, encoded or written. `message` is libpng's own
/// message where libpng reported the failure (e.g. "IHDR: CRC error"), otherwise ours.
public typealias PNGError = ImageCodecError<PNGCodec>

/// Reading and writing PNG files through libpng.
///
/// Decoding accepts every PNG kind — gray, gray+alpha, RGB, RGBA and palette images, bit
/// depths 1, 2, 4, 8 and 16, interlaced (Adam7) or not — and produces an 8-bit `Image`:
/// - 16-bit samples keep their high byte (`v >> 8`);
/// - gray of depth 1, 2 or 4 is scaled to 0...255 (0/255, ×85, ×17);
/// - palette images become RGB, or RGBA when the file has a `tRNS` chunk;
/// - a `tRNS` colour key on a gray or RGB image becomes an alpha channel (0 where the pixel
///   equals the key at full bit depth, 255 elsewhere);
/// - no gamma or colour-space conversion is applied (`gAMA`, `sRGB`, `iCCP` are ignored).
/// A corrupt, truncated or non-PNG input throws `PNGError`; it never crashes.
public enum PNG {
    /// The default cap on a decoded image's size in bytes (1 GiB), so that a tiny corrupt
    /// header cannot make the decoder allocate without bound.
    public static let defaultMaxDecodedBytes = 1 << 30

    /// The version of libpng in use.
    public static var libpngVersion: String { String(cString: tpng_libpng_version()) }

    /// Decodes PNG bytes held in memory.
    ///
    /// The header is read first: an image of more than `maxPixels` pixels, or whose decoded
    /// samples would take more than `maxDecodedBytes`, throws before anything of its size is
    /// allocated. Decoding then costs the output image plus one row: rows are converted to
    /// `format` as they arrive, and interlaced rows are placed pass by pass.
    /// - Parameters:
    ///   - bytes: the whole PNG file.
    ///   - format: convert to this pixel format; nil keeps the file's own layout.
    ///   - maxPixels: refuse images with more pixels (width × height) than this
    ///     (`Image.defaultMaxPixels`, 89,478,485, by default).
    ///   - maxDecodedBytes: refuse images whose decoded samples would take more bytes than this.
    public static func decode(_ bytes: UnsafeRawBufferPointer, as format: PixelFormat? = nil,
                              maxPixels: Int = Image.defaultMaxPixels,
                              maxDecodedBytes: Int = defaultMaxDecodedBytes) throws -> Image {
        try decodeMeasuring(bytes, as: format, maxPixels: maxPixels, maxDecodedBytes: maxDecodedBytes, path: nil).image
    }

    /// Decodes PNG bytes held in memory (see `decode(_:as:maxPixels:maxDecodedBytes:)`).
    public static func decode(_ bytes: [UInt8], as format: PixelFormat? = nil,
                              maxPixels: Int = Image.defaultMaxPixels,
                              maxDecodedBytes: Int = defaultMaxDecodedBytes) throws -> Image {
        try bytes.withUnsafeBytes {
            try decodeMeasuring($0, as: format, maxPixels: maxPixels, maxDecodedBytes: maxDecodedBytes, path: nil).image
        }
    }

    /// Reads and decodes the PNG file at `path` (see `decode(_:as:maxPixels:maxDecodedBytes:)`);
    /// a missing or unreadable file throws `PNGError` naming the path, as does every decoding error.
    public static func read(contentsOf path: String, as format: PixelFormat? = nil,
                            maxPixels: Int = Image.defaultMaxPixels,
                            maxDecodedBytes: Int = defaultMaxDecodedBytes) throws -> Image {
        let bytes = try PNGError.readFile(path)
        return try bytes.withUnsafeBytes {
            try decodeMeasuring($0, as: format, maxPixels: maxPixels, maxDecodedBytes: maxDecodedBytes, path: path).image
        }
    }

    /// The size and layout of the PNG file at `path`, without decoding its pixels.
    public static func readHeader(contentsOf path: String) throws -> ImageHeader {
        try PNGError.readFile(path).withUnsafeBytes { try header($0, path: path) }
    }


    /// The size and layout of a PNG held in memory, from the chunks before its image data
    /// (nothing is decoded); `path` is only named in errors.
    public static func header(_ bytes: UnsafeRawBufferPointer, path: String? = nil) throws -> ImageHeader {
        let reader = try Reader(bytes, path: path)
        defer { tpng_close(reader.handle) }
        return reader.header
    }

    /// What a decode allocated: the output, the row buffer and libpng's own peak.
    struct Footprint {
        /// Bytes of the decoded image.
        var outputBytes = 0
        /// Bytes of the row buffer rows arrive in.
        var rowBytes = 0
        /// The most bytes libpng held at once.
        var libraryPeakBytes = 0
    }

    /// One open libpng reader; `tpng_close` it when done.
    private struct Reader {
        let handle: OpaquePointer
        let header: ImageHeader
        /// Whether rows come as the seven Adam7 passes.
        let interlaced: Bool
        let path: String?

        init(_ bytes: UnsafeRawBufferPointer, path: String?) throws {
            var raw = tpng_header()
            var opened: OpaquePointer?
            try PNGError.check(path: path) {
                tpng_open(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, &raw, &opened, $0, $1)
            }
            guard let handle = opened else { throw PNGError("libpng returned no reader", path: path) }
            guard let format = PixelFormat(channels: Int(raw.channels)) else {
                tpng_close(handle)
                throw PNGError("decoder reported \(raw.channels) channels", path: path)
            }
            self.handle = handle
            self.path = path
            interlaced = raw.interlaced != 0
            header = ImageHeader(width: Int(raw.width), height: Int(raw.height), format: format)
        }

        /// Runs one reader call, turning its failure into a `PNGError` with libpng's message.
        func call(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws {
            try PNGError.check(path: path, body)
        }
    }

    /// The Adam7 passes as (first row, row step, first column, column step).
    private static let adam7: [(y0: Int, dy: Int, x0: Int, dx: Int)] = [
        (0, 8, 0, 8), (0, 8, 4, 8), (4, 8, 0, 4), (0, 4, 2, 4), (2, 4, 0, 2), (0, 2, 1, 2), (1, 2, 0, 1),
    ]

    static func decodeMeasuring(_ bytes: UnsafeRawBufferPointer, as format: PixelFormat?, maxPixels: Int,
                                maxDecodedBytes: Int, path: String?) throws -> (image: Image, footprint: Footprint) {
        let reader = try Reader(bytes, path: path)
        defer { tpng_close(reader.handle) }
        let width = reader.header.width, height = reader.header.height
        let source = reader.header.format, target = format ?? source
        // Limits from the header, before any allocation of the image's size.
        guard width * height <= maxPixels else {
            throw PNGError(Image.pixelLimitMessage(width: width, height: height, maxPixels: maxPixels), path: path)
        }
        let outRow = width * target.channels
        guard height == 0 || outRow <= max(0, maxDecodedBytes) / height else {
            throw PNGError("image too large to decode: \(width) x \(height) \(target) needs \(outRow * height) bytes, "
                           + "more than the decoder's size limit of \(maxDecodedBytes) (maxDecodedBytes)", path: path)
        }
        try reader.call { tpng_start(reader.handle, $0, $1) }
        let rowCapacity = width * source.channels
        let row = UnsafeMutablePointer<UInt8>.allocate(capacity: max(rowCapacity, 1))
        defer { row.deallocate() }
        let pixels = try [UInt8](unsafeUninitializedCapacity: outRow * height) { out, initialized in
            initialized = 0
            guard let base = out.baseAddress else { return }
            let passes = reader.interlaced ? adam7 : [(y0: 0, dy: 1, x0: 0, dx: 1)]
            for pass in passes where pass.y0 < height && pass.x0 < width {
                let passWidth = (width - pass.x0 + pass.dx - 1) / pass.dx
                var y = pass.y0
                while y < height {
                    try reader.call { tpng_read_row(reader.handle, row, rowCapacity, $0, $1) }
                    Image.convertPixels(row, from: source, to: base + y * outRow + pass.x0 * target.channels, target,
                                        count: passWidth, stride: pass.dx * target.channels)
                    y += pass.dy
                }
            }
            try reader.call { tpng_finish(reader.handle, $0, $1) }
            initialized = outRow * height
        }
        let footprint = Footprint(outputBytes: pixels.count, rowBytes: rowCapacity,
                                  libraryPeakBytes: tpng_reader_peak_bytes(reader.handle))
        return (Image(width: width, height: height, format: target, pixels: pixels), footprint)
    }

    /// Encodes an image as an 8-bit PNG (gray, gray+alpha, RGB or RGBA by its format).
    /// - Parameters:
    ///   - image: the pixels.
    ///   - compressionLevel: zlib level 0 (none) ... 9 (smallest); 6 by default.
    public static func encode(_ image: Image, compressionLevel: Int = 6) throws -> [UInt8] {
        guard image.width > 0, image.height > 0 else {
            throw PNGError("cannot encode an empty image (\(image.width)x\(image.height))")
        }
        var encoded: UnsafeMutablePointer<UInt8>?
        var size = 0
        try image.withUnsafeBufferPointer { px in
            try PNGError.check(path: nil) {
                tpng_encode(px.baseAddress, Int32(clamping: image.width), Int32(clamping: image.height), Int32(image.channels),
                            Int32(clamping: compressionLevel), &encoded, &size, $0, $1)
            }
        }
        guard let data = encoded else { throw PNGError("libpng returned no data") }
        defer { tpng_free(data) }
        return [UInt8](UnsafeBufferPointer(start: data, count: size))
    }

    /// Encodes `image` and writes it to `path` atomically (a temporary file in the same
    /// directory, then a rename), so an interrupted write never leaves a partial PNG.
    public static func write(_ image: Image, to path: String, compressionLevel: Int = 6) throws {
        let bytes: [UInt8]
        do {
            bytes = try encode(image, compressionLevel: compressionLevel)
        } catch let error as PNGError {
            throw PNGError(error.message, path: path)
        }
        do {
            try bytes.withUnsafeBytes { try FileIO.writeAtomically($0, to: path) }
        } catch let error as FileIOError {
            throw PNGError(error.reason, path: path)
        }
    }
}
