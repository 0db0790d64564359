// JPEG decoding over the CTesseraJPEG C target (libjpeg-turbo's TurboJPEG API). Like the PNG
// codec files, this file imports neither Tessera nor Foundation, so scripts/fuzz-jpeg.sh can
// compile it with Image.swift, FileIO.swift and the C file into a libFuzzer binary.
import CTesseraJPEG

/// Tags `JPEGError`.
public enum JPEGCodec: ImageCodecTag {
    /// "JPEG", as messages name it.
    public static let name = "JPEG"
}

/// A JPEG could not be read or decoded. `message` is libjpeg-turbo's own message where it
/// reported the failure (e.g. "Premature end of JPEG file"), otherwise ours.
public typealias JPEGError = ImageCodecError<JPEGCodec>

/// Reading JPEG files through libjpeg-turbo (its TurboJPEG API).
///
/// Baseline, extended and progressive JPEGs decode, Huffman- or arithmetic-coded, with or
/// without restart markers, in every chroma subsampling TurboJPEG recognizes (4:4:4, 4:2:2,
/// 4:2:0, 4:4:0, 4:1:1) and as gray. Samples come from libjpeg-turbo's accurate integer IDCT
/// with smooth ("fancy") chroma upsampling, PIL's settings; other decoders' IDCTs differ by ±1–2.
/// - A gray JPEG decodes as `.gray`, every other one as `.rgb`. Asked for gray, a colour JPEG
///   gives its decoded luma (Y) plane — the BT.601 luma of `Image`'s rule, computed by the
///   encoder before compression, as PIL's `draft("L")` gives it — which can differ by a few
///   levels from converting the decoded RGB (where upsampled chroma is clipped). A gray JPEG asked for colour is replicated; alpha is 255.
/// - CMYK and YCCK JPEGs (print files) are refused with `JPEGError`: without their ICC profile
///   there is no faithful conversion to RGB, and a naive one silently gives wrong colours.
/// - The EXIF orientation tag is ignored: pixels come as stored, as PIL's `Image.open` and so
///   torchvision's `ImageFolder` give them (PIL users call `ImageOps.exif_transpose` to rotate).
/// - Every libjpeg warning is an error: a truncated file, corrupt entropy data or extraneous
///   bytes throw instead of decoding to an image patched up with gray. Progressive files with
///   more than 500 scans are refused (a known CPU-exhaustion pattern).
/// - The header is read first: an image over `maxPixels` throws before anything of its size is
///   allocated. Decoding then costs the output image; progressive files also need libjpeg's
///   coefficient buffer (2 bytes per sample per component at its sampled size: for 4:2:0 as
///   much as the RGB output again, for 4:4:4 twice as much).
/// A corrupt, truncated or non-JPEG input throws `JPEGError`; it never crashes.
public enum JPEG {
    /// Decodes JPEG bytes held in memory.
    /// - Parameters:
    ///   - bytes: the whole JPEG file.
    ///   - format: convert to this pixel format; nil keeps the file's own (gray or RGB).
    ///   - maxPixels: refuse images with more pixels (width × height) than this
    ///     (`Image.defaultMaxPixels`, 89,478,485, by default).
    public static func decode(_ bytes: UnsafeRawBufferPointer, as format: PixelFormat? = nil,
                              maxPixels: Int = Image.defaultMaxPixels) throws -> Image {
        try decode(bytes, as: format, maxPixels: maxPixels, path: nil)
    }

    /// Decodes JPEG bytes held in memory (see `decode(_:as:maxPixels:)`).
    public static func decode(_ bytes: [UInt8], as format: PixelFormat? = nil,
                              maxPixels: Int = Image.defaultMaxPixels) throws -> Image {
        try bytes.withUnsafeBytes { try decode($0, as: format, maxPixels: maxPixels, path: nil) }
    }

    /// Reads and decodes the JPEG file at `path` (see `decode(_:as:maxPixels:)`); a missing or
    /// unreadable file throws `JPEGError` naming the path, as does every decoding error.
    public static func read(contentsOf path: String, as format: PixelFormat? = nil,
                            maxPixels: Int = Image.defaultMaxPixels) throws -> Image {
        try JPEGError.readFile(path).withUnsafeBytes { try decode($0, as: format, maxPixels: maxPixels, path: path) }
    }

    /// The size and layout of the JPEG file at `path`, without decoding its pixels.
    public static func readHeader(contentsOf path: String) throws -> ImageHeader {
        try JPEGError.readFile(path).withUnsafeBytes { try header($0, path: path) }
    }


    /// The size and layout of a JPEG held in memory, from its markers (nothing is decoded);
    /// `path` is only named in errors.
    public static func header(_ bytes: UnsafeRawBufferPointer, path: String? = nil) throws -> ImageHeader {
        var raw = tjpeg_header()
        try JPEGError.check(path: path) {
            tjpeg_read_header(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, &raw, $0, $1)
        }
        switch Int(raw.colorspace) {
        case Int(TJPEG_GRAY): return ImageHeader(width: Int(raw.width), height: Int(raw.height), format: .gray)
        case Int(TJPEG_YCBCR), Int(TJPEG_RGB): return ImageHeader(width: Int(raw.width), height: Int(raw.height), format: .rgb)
        default: throw JPEGError("CMYK JPEG: not supported (convert it to RGB first)", path: path)
        }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, as format: PixelFormat?, maxPixels: Int, path: String?) throws -> Image {
        let head = try header(bytes, path: path)
        let width = head.width, height = head.height, target = format ?? head.format
        guard width * height <= maxPixels else {
            throw JPEGError(Image.pixelLimitMessage(width: width, height: height, maxPixels: maxPixels), path: path)
        }
        // gray+alpha is decoded as gray into the first half of each row, then widened in place.
        let decodedChannels = target == .grayAlpha ? 1 : target.channels
        let pitch = width * target.channels
        let pixels = try [UInt8](unsafeUninitializedCapacity: pitch * height) { out, initialized in
            initialized = 0
            try JPEGError.check(path: path) {
                tjpeg_decode(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, Int32(decodedChannels),
                             out.baseAddress, pitch, out.count, $0, $1)
            }
            if target == .grayAlpha {
                for y in 0..<height {
                    let row = out.baseAddress! + y * pitch
                    Image.convertPixels(row, from: .gray, to: row, .grayAlpha, count: width, stride: 2)
                }
            }
            initialized = pitch * height
        }
        return Image(width: width, height: height, format: target, pixels: pixels)
    }
}
