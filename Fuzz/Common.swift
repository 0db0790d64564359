// Shared by the fuzz targets: scripts/fuzz-common.sh compiles it into each of them.

/// The header and the image a decoder gives for one input, checked for consistency, or nil
/// when the decoder threw its own error type `E` (any other error is a bug).
func decodedImage<E: Error>(failingWith _: E.Type, header: () throws -> ImageHeader,
                            image: () throws -> Image) -> Image? {
    let h: ImageHeader
    let decoded: Image
    do {
        h = try header()
        decoded = try image()
    } catch is E {
        return nil
    } catch {
        fatalError("unexpected error type: \(error)")
    }
    precondition(decoded.width == h.width && decoded.height == h.height && decoded.format == h.format,
                 "header \(h) but decoded \(decoded.width)x\(decoded.height) \(decoded.format)")
    precondition(decoded.width > 0 && decoded.height > 0, "decoded an empty image")
    precondition(decoded.pixels.count == decoded.width * decoded.height * decoded.channels, "pixel count mismatch")
    return decoded
}
