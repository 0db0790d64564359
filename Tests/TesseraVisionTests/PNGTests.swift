import Foundation
import Tessera
import XCTest
import TesseraTestSupport
@testable import TesseraVision

private struct FixtureManifest: Decodable {
    struct Entry: Decodable {
        let file: String
        let width: Int
        let height: Int
        let channels: Int
        let encoder: String
        let pixels: [UInt8]
    }
    let pillow_version: String
    let fixtures: [Entry]
}

final class PNGTests: XCTestCase {
    private func manifest() throws -> FixtureManifest {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("png/expected.json", in: .module)))
        return try JSONDecoder().decode(FixtureManifest.self, from: data)
    }

    func testDecodingMatchesPillowGeneratedPixelsForEveryColorTypeBitDepthAndInterlace() throws {
        let m = try manifest()
        XCTAssertGreaterThanOrEqual(m.fixtures.count, 30)
        var seen = Set<String>()
        for entry in m.fixtures {
            let image = try PNG.read(contentsOf: TestPaths.fixture("png/" + entry.file, in: .module))
            XCTAssertEqual(image.width, entry.width, entry.file)
            XCTAssertEqual(image.height, entry.height, entry.file)
            XCTAssertEqual(image.channels, entry.channels, entry.file)
            XCTAssertEqual(image.pixels, entry.pixels, "pixels of \(entry.file)")
            seen.insert(entry.file)
        }
        // The kinds the issue lists are all present.
        for name in ["gray1", "gray2", "gray4", "gray8", "gray16", "grayalpha8", "grayalpha16", "rgb8", "rgb16",
                     "rgba8", "rgba16", "palette1", "palette2", "palette4", "palette8", "palette8_trns",
                     "interlaced_rgb8", "interlaced_gray1", "interlaced_rgba16", "pillow_rgb"] {
            XCTAssertTrue(seen.contains(name + ".png"), "missing fixture \(name)")
        }
    }

    func testDecodingFromMemoryEqualsDecodingFromFile() throws {
        for name in ["rgb16.png", "interlaced_palette4.png", "gray2_trns.png"] {
            let path = TestPaths.fixture("png/" + name, in: .module)
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            XCTAssertEqual(try PNG.decode(bytes), try PNG.read(contentsOf: path), name)
        }
    }

    func testSixteenBitSamplesKeepTheirHighByteAndTRNSKeyComparesAtFullDepth() throws {
        // gray16_trns has the key colour at (0,0) and the key with its low bit flipped at (0,1).
        let image = try PNG.read(contentsOf: TestPaths.fixture("png/gray16_trns.png", in: .module))
        XCTAssertEqual(image.format, .grayAlpha)
        XCTAssertEqual(image[0, 0, 1], 0)
        XCTAssertEqual(image[0, 1, 1], 255)
    }

    func testConversionOnRequestFollowsTheDocumentedRules() throws {
        let rgba = Image(width: 2, height: 1, format: .rgba, pixels: [10, 20, 30, 40, 255, 0, 0, 7])
        XCTAssertEqual(rgba.converted(to: .rgb).pixels, [10, 20, 30, 255, 0, 0])
        // (299*10 + 587*20 + 114*30 + 500) / 1000 = 18; (299*255 + 500) / 1000 = 76
        XCTAssertEqual(rgba.converted(to: .gray).pixels, [18, 76])
        XCTAssertEqual(rgba.converted(to: .grayAlpha).pixels, [18, 40, 76, 7])
        let gray = Image(width: 2, height: 1, format: .gray, pixels: [5, 200])
        XCTAssertEqual(gray.converted(to: .rgb).pixels, [5, 5, 5, 200, 200, 200])
        XCTAssertEqual(gray.converted(to: .rgba).pixels, [5, 5, 5, 255, 200, 200, 200, 255])
        XCTAssertEqual(gray.converted(to: .grayAlpha).pixels, [5, 255, 200, 255])
        // Decoding with `as:` is decode then convert.
        let path = TestPaths.fixture("png/palette8_trns.png", in: .module)
        XCTAssertEqual(try PNG.read(contentsOf: path, as: .gray), try PNG.read(contentsOf: path).converted(to: .gray))
    }

    func testTensorIsCHWScaledToUnitIntervalAndConvertsBackExactly() throws {
        let image = Image(width: 3, height: 2, format: .rgb, pixels: (0..<18).map { UInt8($0 * 15) })
        let t = image.tensor()
        XCTAssertEqual(t.shape, [3, 2, 3])
        XCTAssertEqual(t[0, 0, 0], 0)
        XCTAssertEqual(t[1, 0, 0], 15 / 255)
        XCTAssertEqual(t[2, 1, 2], Float(17 * 15) / 255)
        XCTAssertEqual(Image(tensor: t), image)
        XCTAssertEqual(try PNG.readTensor(contentsOf: TestPaths.fixture("png/gray8.png", in: .module), as: .rgb).shape, [3, 7, 9])
    }

    func testTensorEncodingClampsToUnitIntervalAndRoundsToNearestLevel() throws {
        let t = Tensor([-1, 0, 0.5, 1, 7, .nan, 1.0 / 255 * 0.49, 1.0 / 255 * 0.51], shape: [1, 2, 4])
        let image = Image(tensor: t)
        XCTAssertEqual(image.format, .gray)
        XCTAssertEqual(image.pixels, [0, 0, 128, 255, 255, 0, 0, 1])
    }

    func testEncodeDecodeRoundTripsExactlyForEveryFormatAndOddSizes() throws {
        var g = SeededGenerator(seed: 3)
        for format in PixelFormat.allCases {
            for (w, h) in [(1, 1), (37, 5), (4, 64)] {
                let pixels = (0..<(w * h * format.channels)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
                let image = Image(width: w, height: h, format: format, pixels: pixels)
                for level in [0, 9] {
                    XCTAssertEqual(try PNG.decode(try PNG.encode(image, compressionLevel: level)), image, "\(format) \(w)x\(h)")
                }
            }
        }
    }

    func testTensorWriteThenReadRoundTripsExactlyOnQuantizedValues() throws {
        let dir = try TestPaths.temporaryDirectory(self).path
        var g = SeededGenerator(seed: 9)
        let levels = (0..<(3 * 5 * 6)).map { _ in Float(g.next() % 256) / 255 }
        let t = Tensor(levels, shape: [3, 5, 6])
        let path = dir + "/t.png"
        try PNG.write(t, to: path)
        XCTAssertEqual(try PNG.readTensor(contentsOf: path).scalars, levels)
    }

    func testWriteIsAtomicReplacingTheFileAndLeavingNoTemporaryFiles() throws {
        let dir = try TestPaths.temporaryDirectory(self).path
        let path = dir + "/image.png"
        let a = Image(width: 2, height: 2, format: .gray, repeating: 10)
        let b = Image(width: 3, height: 1, format: .rgb, repeating: 200)
        try PNG.write(a, to: path)
        try PNG.write(b, to: path)
        XCTAssertEqual(try PNG.read(contentsOf: path), b)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["image.png"])
        // A write into a missing directory throws and creates nothing.
        XCTAssertThrowsError(try PNG.write(a, to: dir + "/missing/x.png")) { error in
            XCTAssertEqual((error as? PNGError)?.path, dir + "/missing/x.png")
        }
    }

    func testGridTilesABatchWithPaddingAsOnePNG() throws {
        // Batch of 3 gray 2x2 images with values 0.2, 0.4, 0.6; 2 columns, padding 1, pad value 1.
        let values: [Float] = [0.2, 0.4, 0.6].flatMap { Array(repeating: $0, count: 4) }
        let batch = Tensor(values, shape: [3, 1, 2, 2])
        let dir = try TestPaths.temporaryDirectory(self).path
        try PNG.writeGrid(batch, to: dir + "/grid.png", columns: 2, padding: 1, padValue: 1)
        let grid = try PNG.read(contentsOf: dir + "/grid.png")
        XCTAssertEqual(grid.width, 2 * 3 + 1)
        XCTAssertEqual(grid.height, 2 * 3 + 1)
        XCTAssertEqual(grid.format, .gray)
        XCTAssertEqual(grid[0, 0, 0], 255)        // padding
        XCTAssertEqual(grid[1, 1, 0], 51)         // image 0
        XCTAssertEqual(grid[2, 5, 0], 102)        // image 1
        XCTAssertEqual(grid[4, 1, 0], 153)        // image 2
        XCTAssertEqual(grid[5, 5, 0], 255)        // empty cell
    }

    func testCorruptTruncatedAndNonPNGInputsThrowWithLibpngMessages() throws {
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("png/rgb8.png", in: .module))))
        XCTAssertThrowsError(try PNG.decode([])) { XCTAssertTrue("\($0)".contains("not a PNG"), "\($0)") }
        XCTAssertThrowsError(try PNG.decode(Array("hello, not a png".utf8))) {
            XCTAssertTrue("\($0)".contains("signature"), "\($0)")
        }
        // A flipped bit inside IHDR breaks its CRC; libpng says so.
        var badCRC = good
        badCRC[20] ^= 0x01
        XCTAssertThrowsError(try PNG.decode(badCRC)) { error in
            XCTAssertTrue((error as? PNGError)?.message.contains("CRC") == true, "\(error)")
        }
        XCTAssertThrowsError(try PNG.decode(Array(good.prefix(good.count - 20)))) { error in
            XCTAssertNotNil(error as? PNGError)
        }
        XCTAssertThrowsError(try PNG.read(contentsOf: "/nonexistent/dir/x.png")) { error in
            XCTAssertEqual((error as? PNGError)?.path, "/nonexistent/dir/x.png")
        }
        // A size cap turns an oversized image into an error instead of an allocation.
        XCTAssertThrowsError(try PNG.decode(good, maxDecodedBytes: 10)) { XCTAssertTrue("\($0)".contains("too large"), "\($0)") }
    }

    /// A PNG chunk (length, type, data, CRC-32) built by hand.
    private func chunk(_ type: String, _ data: [UInt8], declaredLength: UInt32? = nil) -> [UInt8] {
        func crc32(_ bytes: [UInt8]) -> UInt32 {
            var c: UInt32 = 0xFFFF_FFFF
            for b in bytes {
                c ^= UInt32(b)
                for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
            }
            return ~c
        }
        func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
        let body = Array(type.utf8) + data
        return be(declaredLength ?? UInt32(data.count)) + body + be(crc32(body))
    }

    private func maxResidentBytes() -> Int {
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024  // kilobytes on Linux
        #else
        getrusage(RUSAGE_SELF, &usage)
        return Int(usage.ru_maxrss)  // bytes on Darwin
        #endif
    }

    /// Regression for a fuzzer finding: libpng allocates and zero-fills a text chunk's declared
    /// length before reading it, so a tiny file declaring a 1.3 GB tEXt chunk used to make the
    /// decoder touch 1.3 GB. The allocation cap in CTesseraPNG refuses it; decoding just fails.
    func testTinyFileDeclaringAHugeChunkThrowsWithoutAllocatingIt() throws {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        let ihdr = chunk("IHDR", [0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0])
        let before = maxResidentBytes()
        for type in ["tEXt", "zTXt", "iTXt", "iCCP", "eXIf", "sPLT"] {
            let file = signature + ihdr + chunk(type, Array("key\0value".utf8), declaredLength: 1_300_000_000)
            XCTAssertThrowsError(try PNG.decode(file), type) { XCTAssertNotNil($0 as? PNGError) }
        }
        XCTAssertLessThan(maxResidentBytes() - before, 256 << 20, "decoding must not allocate the declared chunk size")
    }

    /// Real PNGs (generated fixtures and, when present, the CIFAR-10 sample): every truncation
    /// and random bit flip either decodes to a consistent image or throws PNGError.
    func testHundredsOfTruncatedAndBitFlippedVariantsDecodeOrThrow() throws {
        var sources: [[UInt8]] = []
        for entry in try manifest().fixtures {
            sources.append([UInt8](try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("png/" + entry.file, in: .module)))))
        }
        if let root = TestPaths.dataRoot {
            let sample = (root as NSString).appendingPathComponent("cifar10-png-sample/test")
            for cls in ["airplane", "cat", "truck"] {
                for k in 0..<4 {
                    if let d = FileManager.default.contents(atPath: "\(sample)/\(cls)/\(k).png") { sources.append([UInt8](d)) }
                }
            }
        }
        var g = SeededGenerator(seed: 2024)
        var decoded = 0, thrown = 0
        for source in sources {
            var variants = damagedVariants(of: source, truncations: 6, flips: [1, 1, 2, 4, 8, 16], generator: &g)
            var tail = source
            tail.append(contentsOf: [0, 1, 2, 3])  // trailing garbage after IEND
            variants.append(tail)
            let outcome = decodeOutcomes(variants, failingWith: PNGError.self) { try PNG.decode($0, maxDecodedBytes: 1 << 24) }
            decoded += outcome.decoded
            thrown += outcome.thrown
        }
        XCTAssertGreaterThanOrEqual(decoded + thrown, 500)
        XCTAssertGreaterThan(thrown, 0)
        XCTAssertGreaterThan(decoded, 0)
    }
}
