// 8-bit interleaved images. This file deliberately does not import Tessera, so the
// PNG codec (Image.swift, PNG.swift, FileIO.swift) also compiles on its own for the fuzzer.

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
        let src = format, sc = format.channels, dc = target.channels
        let out = [UInt8](unsafeUninitializedCapacity: n * dc) { dst, initialized in
            pixels.withUnsafeBufferPointer { s in
                for i in 0..<n {
                    let p = i * sc, q = i * dc
                    let alpha: UInt8 = src.hasAlpha ? s[p + sc - 1] : 255
                    switch target {
                    case .gray, .grayAlpha:
                        dst[q] = src.channels >= 3 ? Image.luma(s[p], s[p + 1], s[p + 2]) : s[p]
                        if target == .grayAlpha { dst[q + 1] = alpha }
                    case .rgb, .rgba:
                        if src.channels >= 3 {
                            dst[q] = s[p]; dst[q + 1] = s[p + 1]; dst[q + 2] = s[p + 2]
                        } else {
                            dst[q] = s[p]; dst[q + 1] = s[p]; dst[q + 2] = s[p]
                        }
                        if target == .rgba { dst[q + 3] = alpha }
                    }
                }
            }
            initialized = n * dc
        }
        return Image(width: width, height: height, format: target, pixels: out)
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
