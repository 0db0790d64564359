// PNG decode/encode over the CTesseraPNG C target (which owns libpng's setjmp).
import CTesseraPNG

/// A PNG could not be read, decoded, encoded or written. `message` is libpng's own
/// message where libpng reported the failure (e.g. "IHDR: CRC error"), otherwise ours.
public struct PNGError: Error, Equatable, CustomStringConvertible {
    /// What went wrong.
    public let message: String
    /// The file involved, when the PNG came from or was going to a file.
    public let path: String?

    /// An error with a message and, optionally, the file it concerns.
    public init(_ message: String, path: String? = nil) {
        self.message = message
        self.path = path
    }

    public var description: String {
        if let path { return "PNG error in \(path): \(message)" }
        return "PNG error: \(message)"
    }
}

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
    /// - Parameters:
    ///   - bytes: the whole PNG file.
    ///   - format: convert to this pixel format; nil keeps the file's own layout.
    ///   - maxDecodedBytes: fail rather than decode an image larger than this.
    public static func decode(_ bytes: UnsafeRawBufferPointer, as format: PixelFormat? = nil,
                              maxDecodedBytes: Int = defaultMaxDecodedBytes) throws -> Image {
        try decode(bytes, as: format, maxDecodedBytes: maxDecodedBytes, path: nil)
    }

    /// Decodes PNG bytes held in memory (see `decode(_:as:maxDecodedBytes:)`).
    public static func decode(_ bytes: [UInt8], as format: PixelFormat? = nil,
                              maxDecodedBytes: Int = defaultMaxDecodedBytes) throws -> Image {
        try bytes.withUnsafeBytes { try decode($0, as: format, maxDecodedBytes: maxDecodedBytes, path: nil) }
    }

    /// Reads and decodes the PNG file at `path`; a missing or unreadable file throws `PNGError`
    /// naming the path.
    public static func read(contentsOf path: String, as format: PixelFormat? = nil,
                            maxDecodedBytes: Int = defaultMaxDecodedBytes) throws -> Image {
        let bytes: [UInt8]
        do {
            bytes = try FileIO.readAll(path)
        } catch let error as FileIOError {
            throw PNGError(error.reason, path: path)
        }
        return try bytes.withUnsafeBytes { try decode($0, as: format, maxDecodedBytes: maxDecodedBytes, path: path) }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, as format: PixelFormat?, maxDecodedBytes: Int, path: String?) throws -> Image {
        var raw = tpng_image()
        var message = [CChar](repeating: 0, count: 512)
        let status = message.withUnsafeMutableBufferPointer { m in
            tpng_decode(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count,
                        max(0, maxDecodedBytes), &raw, m.baseAddress, m.count)
        }
        guard status == 0 else {
            throw PNGError(String(cString: message), path: path)
        }
        defer { tpng_free(raw.pixels) }
        let width = Int(raw.width), height = Int(raw.height), channels = Int(raw.channels)
        guard let own = PixelFormat(channels: channels) else {
            throw PNGError("decoder produced \(channels) channels", path: path)
        }
        let count = width * height * channels
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { buffer.baseAddress!.update(from: raw.pixels, count: count) }
            initialized = count
        }
        let image = Image(width: width, height: height, format: own, pixels: pixels)
        if let format, format != own { return image.converted(to: format) }
        return image
    }

    /// Encodes an image as an 8-bit PNG (gray, gray+alpha, RGB or RGBA by its format).
    /// - Parameter compressionLevel: zlib level 0 (none) ... 9 (smallest); 6 by default.
    public static func encode(_ image: Image, compressionLevel: Int = 6) throws -> [UInt8] {
        guard image.width > 0, image.height > 0 else {
            throw PNGError("cannot encode an empty image (\(image.width)x\(image.height))")
        }
        var message = [CChar](repeating: 0, count: 512)
        var data: UnsafeMutablePointer<UInt8>?
        var size = 0
        let status = image.withUnsafeBufferPointer { px in
            message.withUnsafeMutableBufferPointer { m in
                tpng_encode(px.baseAddress, Int32(clamping: image.width), Int32(clamping: image.height), Int32(image.channels),
                            Int32(clamping: compressionLevel), &data, &size, m.baseAddress, m.count)
            }
        }
        guard status == 0, let data else { throw PNGError(String(cString: message)) }
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
