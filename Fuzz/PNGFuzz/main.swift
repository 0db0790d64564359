// libFuzzer entry for the PNG decoder. Not part of the package build: scripts/fuzz-png.sh
// compiles it together with Sources/TesseraVision/{Image,PNG,FileIO}.swift and the
// CTesseraPNG C file, with -sanitize=fuzzer,address.
//
// Property checked on every input: decoding either throws PNGError or yields a consistent
// image; a decoded image converts to every format and survives an encode → decode round trip.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNGDecoder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let image: Image
    do {
        image = try PNG.decode(input, maxDecodedBytes: 1 << 20)
    } catch is PNGError {
        return 0
    } catch {
        fatalError("unexpected error type: \(error)")
    }
    precondition(image.width > 0 && image.height > 0, "decoded an empty image")
    precondition(image.pixels.count == image.width * image.height * image.channels, "pixel count mismatch")
    if image.width * image.height <= 1 << 16 {
        for format in PixelFormat.allCases {
            let converted = image.converted(to: format)
            precondition(converted.pixels.count == image.width * image.height * format.channels)
        }
        do {
            let again = try PNG.decode(try PNG.encode(image, compressionLevel: 1))
            precondition(again == image, "encode/decode round trip changed the image")
        } catch {
            fatalError("re-encoding a decoded image failed: \(error)")
        }
    }
    return 0
}
