// libFuzzer entry for the PNG decoder. Not part of the package build: scripts/fuzz-png.sh
// compiles it together with Sources/TesseraVision/{Image,PNG,FileIO}.swift, Fuzz/Common.swift
// and the CTesseraPNG C file, with -sanitize=fuzzer,address.
//
// Properties checked on every input: reading the header and decoding either throw PNGError or
// agree on the size; a decoded image is consistent; decoding straight to every other pixel
// format (rows converted as they arrive, interlaced passes placed one by one) equals
// converting the file's own decode; the image survives an encode → decode round trip.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNGDecoder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard let image = decodedImage(failingWith: PNGError.self, header: { try PNG.header(input) },
                                   image: { try PNG.decode(input, maxPixels: 1 << 18, maxDecodedBytes: 1 << 20) }) else { return 0 }
    if image.width * image.height <= 1 << 16 {
        for format in PixelFormat.allCases {
            let converted = image.converted(to: format)
            precondition(converted.pixels.count == image.width * image.height * format.channels)
            do {
                let direct = try PNG.decode(input, as: format, maxPixels: 1 << 18, maxDecodedBytes: 1 << 22)
                precondition(direct == converted, "decoding as \(format) differs from converting the decoded image")
            } catch {
                fatalError("decoding as \(format) failed where the file's own format decoded: \(error)")
            }
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
