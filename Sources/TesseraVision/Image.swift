// 8-bit interleaved images. This file deliberately does not import Tessera, so the PNG and
// JPEG codecs (Image.swift, PNG.swift or JPEG.swift, FileIO.swift) also compile on their own
// for the fuzzers (scripts/fuzz-common.sh).

/// The sample layout of an 8-bit interleaved (HWC) image.
public enum PixelFormat: Int, Sendable, CaseIterable, CustomStringConvertible {
    /// One luminance sample per pixel.
    case gray = 1
    /// Luminance then alpha.
    case grayAlpha = 2
    /// Red, green, blue.
    case rgb = 3
    /// Red, green, blue, alpha.
    case rgba = 4

    /// Samples per pixel (1...4).
    public var channels: Int { rawValue }

    /// Whether the last sample of each pixel is alpha.
    public var hasAlpha: Bool { self == .grayAlpha || self == .rgba }

    /// The format with `channels` samples per pixel, or nil when `channels` is not 1...4.
    public init?(channels: Int) { self.init(rawValue: channels) }

    public var description: String {
        switch self {
        case .gray: return "gray"
        case .grayAlpha: return "gray+alpha"
        case .rgb: return "RGB"
        case .rgba: return "RGBA"
        }
    }
}

/// What an image file's header says, read without decoding the pixels.
public struct ImageHeader: Equatable, Sendable, CustomStringConvertible {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// The layout the file decodes to when no other format is asked for.
    public let format: PixelFormat

    /// A header record.
    public init(width: Int, height: Int, format: PixelFormat) {
        self.width = width
        self.height = height
        self.format = format
    }

    /// `width × height`.
    public var pixelCount: Int { width * height }

    public var description: String { "\(width)x\(height) \(format)" }
}

/// An image file could not be decoded: `PNGError`, `JPEGError` or `ImageFileError`. Each
/// carries the decoder's message and, when the bytes came from a file, its path.
public protocol ImageDecodingError: Error, CustomStringConvertible {
    /// What went wrong (the decoding library's own message where it reported the failure).
    var message: String { get }
    /// The file involved, when the image came from a file.
    var path: String? { get }
}

/// Names the codec behind an `ImageCodecError` (`PNGCodec`, `JPEGCodec`, `AnyImageCodec`).
public protocol ImageCodecTag: Sendable {
    /// How messages name the codec: "PNG", "JPEG", "image".
    static var name: String { get }
}

/// A failure of the codec `Codec`: the type behind `PNGError`, `JPEGError` and `ImageFileError`.
public struct ImageCodecError<Codec: ImageCodecTag>: ImageDecodingError, Equatable {
    /// What went wrong.
    public let message: String
    /// The file involved, when the image came from or was going to a file.
    public let path: String?

    /// An error with a message and, optionally, the file it concerns.
    public init(_ message: String, path: String? = nil) {
        self.message = message
        self.path = path
    }

    /// "PNG error in <path>: <message>" (or without the path).
    public var description: String {
        if let path { return "\(Codec.name) error in \(path): \(message)" }
        return "\(Codec.name) error: \(message)"
    }

    /// Runs a C call that reports failure as a nonzero status and a NUL-terminated message in
    /// the buffer it is given; a failure is thrown as this codec's error with that message.
    static func check(path: String?, _ call: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws {
        var message = [CChar](repeating: 0, count: 512)
        let status = message.withUnsafeMutableBufferPointer { call($0.baseAddress!, $0.count) }
        guard status == 0 else {
            let text = message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            throw Self(String(decoding: text, as: UTF8.self), path: path)
        }
    }

    /// The whole file at `path`; a missing or unreadable file is this codec's error naming it.
    static func readFile(_ path: String) throws -> [UInt8] {
        do {
            return try FileIO.readAll(path)
        } catch let error as FileIOError {
            throw Self(error.reason, path: path)
        }
    }
}

extension Image {
    /// The default limit on the pixels (width × height) of an image to decode: 89,478,485,
    /// the point where PIL (and so torchvision's image loading) starts warning about a
    /// decompression bomb — ⌊2³⁰ / 4 / 3⌋, a quarter GiB of 8-bit RGB. Tessera refuses above it
    /// (PIL refuses only at twice that). A decoded image at the limit holds 256 MiB as RGB and
    /// 341 MiB as RGBA, which an image folder's loader threads or `tessera predict` can afford
    /// on a small machine, while every camera photo up to 89 megapixels (a 48 MP phone, a
    /// 61 MP full-frame sensor) still decodes. Pass a larger `maxPixels` (the command line's
    /// `--max-pixels`) for bigger images.
    public static let defaultMaxPixels = 89_478_485

    /// The message for an image over the pixel limit: both sizes, and how to raise the limit.
    static func pixelLimitMessage(width: Int, height: Int, maxPixels: Int) -> String {
        "image is \(width) x \(height) = \(width * height) pixels, more than the limit of \(maxPixels) pixels "
            + "(maxPixels, --max-pixels on the command line); refused before decoding"
    }
}

/// An 8-bit image stored row-major with interleaved samples (height × width × channels, "HWC").
///
/// Conversions between formats (see `converted(to:)`) are defined as:
/// - gray → color replicates the gray value into R, G and B;
/// - color → gray uses the ITU-R BT.601 luma, `(299 R + 587 G + 114 B + 500) / 1000` (integer);
/// - adding alpha makes the image opaque (255); dropping alpha discards it (no compositing).
public struct Image: Equatable, Sendable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// The sample layout.
    public let format: PixelFormat
    /// The samples, `pixels[(y * width + x) * channels + c]`.
    public private(set) var pixels: [UInt8]

    /// Samples per pixel.
    @inlinable public var channels: Int { format.channels }

    /// An image over the given samples; `pixels.count` must be `width * height * format.channels`.
    public init(width: Int, height: Int, format: PixelFormat, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0, "Image: negative size \(width)x\(height)")
        precondition(pixels.count == width * height * format.channels,
                     "Image: \(pixels.count) samples given for \(width)x\(height) \(format) (need \(width * height * format.channels))")
        self.width = width
        self.height = height
        self.format = format
        self.pixels = pixels
    }

    /// An image over the given samples with `channels` (1...4) samples per pixel.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        guard let format = PixelFormat(channels: channels) else {
            preconditionFailure("Image: channels must be 1...4, got \(channels)")
        }
        self.init(width: width, height: height, format: format, pixels: pixels)
    }

    /// An image with every sample set to `value`.
    public init(width: Int, height: Int, format: PixelFormat, repeating value: UInt8 = 0) {
        self.init(width: width, height: height, format: format,
                  pixels: [UInt8](repeating: value, count: max(0, width) * max(0, height) * format.channels))
    }

    /// The sample at row `y`, column `x`, channel `c`.
    public subscript(y: Int, x: Int, c: Int) -> UInt8 {
        get {
            precondition(y >= 0 && y < height && x >= 0 && x < width && c >= 0 && c < channels,
                         "Image subscript [\(y), \(x), \(c)] out of range for \(width)x\(height)x\(channels)")
            return pixels[(y * width + x) * channels + c]
        }
        set {
            precondition(y >= 0 && y < height && x >= 0 && x < width && c >= 0 && c < channels,
                         "Image subscript [\(y), \(x), \(c)] out of range for \(width)x\(height)x\(channels)")
            pixels[(y * width + x) * channels + c] = newValue
        }
    }

    /// Calls `body` with the samples for reading.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try pixels.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with the samples for in-place modification.
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (inout UnsafeMutableBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try pixels.withUnsafeMutableBufferPointer(body)
    }

    /// The BT.601 luma of one RGB pixel, as defined in the type's documentation.
    @inlinable static func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        UInt8(truncatingIfNeeded: (299 * Int(r) + 587 * Int(g) + 114 * Int(b) + 500) / 1000)
    }

    /// This image in another pixel format (see the type's documentation for the rules).
    public func converted(to target: PixelFormat) -> Image {
        if target == format { return self }
        let n = width * height
        let out = [UInt8](unsafeUninitializedCapacity: n * target.channels) { dst, initialized in
            pixels.withUnsafeBufferPointer { s in
                if n > 0 {
                    Image.convertPixels(s.baseAddress!, from: format, to: dst.baseAddress!, target, count: n,
                                        stride: target.channels)
                }
            }
            initialized = n * target.channels
        }
        return Image(width: width, height: height, format: target, pixels: out)
    }

    /// Converts `count` pixels laid out as `source` (packed) at `src` into `target` pixels at `dst`,
    /// `stride` bytes apart (`target.channels` for a packed row), by the rules in the type's
    /// documentation. The decoders convert each row as it arrives with it, and `converted(to:)`
    /// a whole image. Pixels are visited from the last when the target is wider than the source
    /// and from the first otherwise, so a packed conversion may also run in place (`dst == src`).
    static func convertPixels(_ src: UnsafePointer<UInt8>, from source: PixelFormat,
                              to dst: UnsafeMutablePointer<UInt8>, _ target: PixelFormat, count: Int, stride: Int) {
        let sc = source.channels, dc = target.channels
        if source == target && stride == dc {
            if UnsafePointer(dst) != src { dst.update(from: src, count: count * dc) }
            return
        }
        let color = sc >= 3, sourceAlpha = source.hasAlpha
        @inline(__always) func convert(_ i: Int) {
            let p = src + i * sc, q = dst + i * stride
            let r = p[0], g = color ? p[1] : r, b = color ? p[2] : r
            let alpha: UInt8 = sourceAlpha ? p[sc - 1] : 255
            switch target {
            case .gray, .grayAlpha:
                q[0] = color ? luma(r, g, b) : r
                if target == .grayAlpha { q[1] = alpha }
            case .rgb, .rgba:
                q[0] = r; q[1] = g; q[2] = b
                if target == .rgba { q[3] = alpha }
            }
        }
        if dc > sc {
            var i = count - 1
            while i >= 0 { convert(i); i -= 1 }
        } else {
            for i in 0..<count { convert(i) }
        }
    }

    /// Tiles equally sized images of one format into a grid, row by row, `columns` per row,
    /// with `padding` pixels of `background` around and between the tiles (as torchvision's
    /// `make_grid` lays them out).
    public static func grid(_ images: [Image], columns: Int = 8, padding: Int = 2, background: UInt8 = 0) -> Image {
        precondition(!images.isEmpty, "Image.grid: no images")
        precondition(columns > 0 && padding >= 0, "Image.grid: columns must be > 0 and padding >= 0 (got \(columns), \(padding))")
        let first = images[0]
        precondition(first.width > 0 && first.height > 0, "Image.grid: empty images (\(first.width)x\(first.height))")
        for (i, im) in images.enumerated() {
            precondition(im.width == first.width && im.height == first.height && im.format == first.format,
                         "Image.grid: image \(i) is \(im.width)x\(im.height) \(im.format), image 0 is \(first.width)x\(first.height) \(first.format)")
        }
        let cols = min(columns, images.count)
        let rows = (images.count + cols - 1) / cols
        let cw = first.width + padding, chh = first.height + padding
        var out = Image(width: cols * cw + padding, height: rows * chh + padding, format: first.format, repeating: background)
        let ch = first.channels
        let rowBytes = first.width * ch
        let outRowBytes = out.width * ch
        out.pixels.withUnsafeMutableBufferPointer { dst in
            for (k, im) in images.enumerated() {
                let x0 = padding + (k % cols) * cw, y0 = padding + (k / cols) * chh
                im.pixels.withUnsafeBufferPointer { src in
                    for y in 0..<im.height {
                        let d = dst.baseAddress! + (y0 + y) * outRowBytes + x0 * ch
                        d.update(from: src.baseAddress! + y * rowBytes, count: rowBytes)
                    }
                }
            }
        }
        return out
    }
}
