// Image files by content: PNG or JPEG, whatever the extension says.

/// The image file formats TesseraVision decodes.
public enum ImageFileFormat: String, Sendable, CaseIterable {
    /// Portable Network Graphics (libpng).
    case png
    /// JPEG (libjpeg-turbo).
    case jpeg

    /// The format whose signature `bytes` start with (PNG: 89 50 4E 47 0D 0A 1A 0A; JPEG:
    /// FF D8 FF), or nil.
    public init?(signature bytes: UnsafeRawBufferPointer) {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        if bytes.count >= png.count && zip(bytes, png).allSatisfy({ $0 == $1 }) {
            self = .png
        } else if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF {
            self = .jpeg
        } else {
            return nil
        }
    }

    /// The format a file name's extension names (`png`; `jpg` or `jpeg`), compared
    /// case-insensitively, or nil.
    public init?(pathExtensionOf path: String) {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return nil }
        switch path[path.index(after: dot)...].lowercased() {
        case "png": self = .png
        case "jpg", "jpeg": self = .jpeg
        default: return nil
        }
    }
}

/// Tags `ImageFileError`.
public enum AnyImageCodec: ImageCodecTag {
    /// "image", as messages name it.
    public static let name = "image"
}

/// A file that is neither a PNG nor a JPEG, or could not be read.
public typealias ImageFileError = ImageCodecError<AnyImageCodec>

/// Reading PNG and JPEG files by content.
///
/// The decoder is chosen by the file's signature, so a PNG named `.jpg` (or a JPEG named
/// `.png`) decodes as what it is. A file with neither signature gets the error of the decoder
/// its extension names (`PNGError` for `.png`, `JPEGError` for `.jpg`/`.jpeg`), otherwise an
/// `ImageFileError`; every error names the file. The pixel limit, conversions and guarantees are
/// those of `PNG` and `JPEG`.
public enum ImageFile {
    /// The extensions an image folder lists by default, as torchvision's `ImageFolder` matches
    /// them: case-insensitively.
    public static let extensions = ["png", "jpg", "jpeg"]

    /// Reads and decodes the PNG or JPEG file at `path`.
    /// - Parameters:
    ///   - path: the file.
    ///   - format: convert to this pixel format; nil keeps the file's own layout.
    ///   - maxPixels: refuse images with more pixels (width × height) than this, from the header,
    ///     before decoding (`Image.defaultMaxPixels`, 89,478,485, by default).
    public static func read(contentsOf path: String, as format: PixelFormat? = nil,
                            maxPixels: Int = Image.defaultMaxPixels) throws -> Image {
        try ImageFileError.readFile(path).withUnsafeBytes { bytes in
            switch try decoder(for: bytes, path: path) {
            case .png:
                return try PNG.decodeMeasuring(bytes, as: format, maxPixels: maxPixels,
                                               maxDecodedBytes: PNG.defaultMaxDecodedBytes, path: path).image
            case .jpeg:
                return try JPEG.decode(bytes, as: format, maxPixels: maxPixels, path: path)
            }
        }
    }

    /// The size and layout of the PNG or JPEG file at `path`, without decoding its pixels.
    public static func readHeader(contentsOf path: String) throws -> ImageHeader {
        try ImageFileError.readFile(path).withUnsafeBytes { bytes in
            switch try decoder(for: bytes, path: path) {
            case .png: return try PNG.header(bytes, path: path)
            case .jpeg: return try JPEG.header(bytes, path: path)
            }
        }
    }

    /// The decoder for `bytes`: by signature, else by `path`'s extension (that decoder then
    /// reports the bad signature).
    static func decoder(for bytes: UnsafeRawBufferPointer, path: String) throws -> ImageFileFormat {
        if let format = ImageFileFormat(signature: bytes) ?? ImageFileFormat(pathExtensionOf: path) { return format }
        throw ImageFileError("not a PNG or JPEG file (unrecognized signature)", path: path)
    }

}
