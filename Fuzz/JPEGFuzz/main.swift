// libFuzzer entry for the JPEG decoder. Not part of the package build: scripts/fuzz-jpeg.sh
// compiles it together with Sources/TesseraVision/{Image,JPEG,FileIO}.swift, Fuzz/Common.swift
// and the CTesseraJPEG C file, with -sanitize=fuzzer,address.
//
// Properties checked on every input: reading the header and decoding either throw JPEGError
// or agree on the size; a decoded image is consistent; decoding it as every other pixel
// format gives the documented conversions of the file's own decode (RGBA = RGB + opaque
// alpha, gray+alpha = gray + opaque alpha, a gray file's RGB = its gray replicated).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJPEGDecoder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let limit = 1 << 20
    guard let image = decodedImage(failingWith: JPEGError.self, header: { try JPEG.header(input) },
                                   image: { try JPEG.decode(input, maxPixels: limit) }) else { return 0 }
    for format in PixelFormat.allCases where format != image.format {
        let other: Image
        do {
            other = try JPEG.decode(input, as: format, maxPixels: limit)
        } catch {
            fatalError("decoding as \(format) failed where the file's own format decoded: \(error)")
        }
        let expected: Image
        switch (image.format, format) {
        case (.rgb, .gray): continue  // the luma plane, not a conversion of the decoded RGB
        case (.rgb, .grayAlpha):
            guard let luma = try? JPEG.decode(input, as: .gray, maxPixels: limit) else { fatalError("gray decode failed") }
            expected = luma.converted(to: .grayAlpha)
        default:
            expected = image.converted(to: format)
        }
        precondition(other == expected, "decoding as \(format) differs from converting the \(image.format) decode")
    }
    return 0
}
