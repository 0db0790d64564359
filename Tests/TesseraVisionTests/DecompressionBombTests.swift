import Foundation
import Tessera
import XCTest
import TesseraTestSupport
@testable import TesseraVision

/// Small files declaring huge images: refused from the header, or decoded and resized for
/// about one decoded image of memory.
final class DecompressionBombTests: XCTestCase {
    private func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = try TestPaths.temporaryDirectory(self).path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func assertNamesBothNumbers(_ error: Error, path: String?, pixels: String, file: StaticString = #filePath, line: UInt = #line) {
        let text = "\(error)"
        for fragment in [pixels, "89478485", "refused before decoding"] + (path.map { [$0] } ?? []) {
            XCTAssertTrue(text.contains(fragment), "'\(text)' should mention '\(fragment)'", file: file, line: line)
        }
    }

    func testPeakMemoryProbeSeesAnAllocationItIsToldAbout() throws {
        // Another thread (a previous test's loader) freeing memory meanwhile can hide part of a
        // rise; the other tests' bounds are upper bounds, which that cannot break, but this one
        // is a lower bound, so the probe gets three tries.
        var rises: [Int] = []
        for _ in 0..<3 {
            let rise = PeakMemory.rise {
                let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 64 << 20)
                buffer.initialize(repeating: 1, count: 64 << 20)
                buffer.deallocate()
            }
            guard let rise else { throw XCTSkip("the resident high-water mark cannot be reset on this system") }
            rises.append(rise)
            if rise > 60 << 20 { break }
        }
        XCTAssertGreaterThan(rises.max() ?? 0, 60 << 20, "\(rises)")
    }

    func testPNGOverThePixelLimitIsRefusedBeforeDecoding() throws {
        let bomb = Bombs.gray30000
        XCTAssertLessThan(bomb.count, 900_000, "an 875 KB file")
        let path = try write(bomb, "bomb.png")
        XCTAssertEqual(try PNG.readHeader(contentsOf: path), ImageHeader(width: 30000, height: 30000, format: .gray))
        let rise = try PeakMemory.rise {
            XCTAssertThrowsError(try PNG.read(contentsOf: path)) { error in
                XCTAssertEqual((error as? PNGError)?.path, path)
                assertNamesBothNumbers(error, path: path, pixels: "30000 x 30000 = 900000000 pixels")
            }
            XCTAssertThrowsError(try ImageFile.read(contentsOf: path, as: .rgb)) { error in
                assertNamesBothNumbers(error, path: path, pixels: "900000000")
            }
        }
        // Before the limit, this file made the process allocate 23.4 GB.
        if let rise { XCTAssertLessThan(rise, 32 << 20, "refusing a bomb must cost about its file size") }
    }

    func testTheLimitIsCheckedFromTheHeaderNotFromTheImageData() throws {
        // Same header, image data replaced by garbage: still the limit's error, not zlib's.
        var bomb = Bombs.png(width: 10000, height: 10000, colorType: 0)
        let idat = 8 + 25 + 8
        for i in idat..<(bomb.count - 12 - 4) { bomb[i] = 0x55 }
        XCTAssertThrowsError(try PNG.decode(bomb)) { error in
            XCTAssertTrue("\(error)".contains("100000000 pixels"), "\(error)")
        }
        // Under a raised limit the same file fails on its data instead.
        XCTAssertThrowsError(try PNG.decode(bomb, maxPixels: 100_000_000)) { error in
            XCTAssertFalse("\(error)".contains("pixels"), "\(error)")
        }
    }

    func testThePixelLimitIsAParameterAndTheByteCapStillApplies() throws {
        let image = Image(width: 30, height: 20, format: .rgb, repeating: 9)
        let bytes = try PNG.encode(image)
        XCTAssertEqual(try PNG.decode(bytes, maxPixels: 600), image)
        XCTAssertThrowsError(try PNG.decode(bytes, maxPixels: 599)) { error in
            XCTAssertTrue("\(error)".contains("30 x 20 = 600 pixels, more than the limit of 599"), "\(error)")
        }
        XCTAssertThrowsError(try PNG.decode(bytes, as: .rgba, maxDecodedBytes: 2399)) { error in
            XCTAssertTrue("\(error)".contains("2400 bytes"), "\(error)")
        }
        XCTAssertEqual(Image.defaultMaxPixels, 89_478_485)
    }

    func testDecodingToAnotherFormatCostsTheOutputImageAndOneRow() throws {
        // 2000 x 2000 RGBA, interlaced and not, decoded as gray: 4 MB out of 16 MB of samples.
        for interlaced in [false, true] {
            let bytes = Bombs.png(width: 2000, height: 2000, colorType: 6, interlaced: interlaced, value: 200)
            let (image, footprint) = try bytes.withUnsafeBytes {
                try PNG.decodeMeasuring($0, as: .gray, maxPixels: Image.defaultMaxPixels,
                                        maxDecodedBytes: PNG.defaultMaxDecodedBytes, path: nil)
            }
            XCTAssertEqual(image.format, .gray)
            XCTAssertEqual(image[1999, 1999, 0], 200)
            XCTAssertEqual(footprint.outputBytes, 2000 * 2000)
            XCTAssertEqual(footprint.rowBytes, 2000 * 4)
            XCTAssertLessThan(footprint.libraryPeakBytes, 1 << 20, "libpng keeps rows, not images (interlaced: \(interlaced))")
            if let rise = try PeakMemory.rise({ _ = try PNG.decode(bytes, as: .gray) }) {
                XCTAssertLessThan(rise, 4_000_000 + (6 << 20), "interlaced: \(interlaced)")
            }
        }
    }

    func testEveryPNGKindDecodedToEachFormatEqualsDecodingThenConverting() throws {
        let dir = TestPaths.fixture("png", in: .module)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".png") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 30)
        for name in files {
            let own = try PNG.read(contentsOf: dir + "/" + name)
            for format in PixelFormat.allCases {
                XCTAssertEqual(try PNG.read(contentsOf: dir + "/" + name, as: format), own.converted(to: format), "\(name) as \(format)")
            }
        }
        // Odd sizes through every Adam7 pass, with a converting target.
        for (w, h) in [(1, 1), (3, 2), (9, 7), (17, 33)] {
            var image = Image(width: w, height: h, format: .rgba)
            image.withUnsafeMutableBufferPointer { px in for i in px.indices { px[i] = UInt8(truncatingIfNeeded: i &* 37 &+ 11) } }
            let bytes = try PNG.encode(image)
            for format in PixelFormat.allCases {
                XCTAssertEqual(try PNG.decode(bytes, as: format), image.converted(to: format), "\(w)x\(h) as \(format)")
            }
        }
    }

    func testImageFolderRefusesAnOversizedImageNamingItAndBothNumbers() throws {
        let root = try TestPaths.temporaryDirectory(self).path
        try FileManager.default.createDirectory(atPath: root + "/a", withIntermediateDirectories: true)
        try PNG.write(Image(width: 4, height: 4, format: .rgb, repeating: 7), to: root + "/a/small.png")
        let bombPath = root + "/a/bomb.png"
        try Data(Bombs.gray30000).write(to: URL(fileURLWithPath: bombPath))
        let rise = try PeakMemory.rise {
            XCTAssertThrowsError(try ImageFolder(root: root)) { error in
                guard case DatasetError.unreadableImages(let files)? = error as? DatasetError else { return XCTFail("\(error)") }
                XCTAssertEqual(files.map(\.path), [bombPath])
                assertNamesBothNumbers(error, path: bombPath, pixels: "30000 x 30000 = 900000000 pixels")
            }
            let skipping = try ImageFolder(root: root, skipUnreadable: true)
            XCTAssertEqual(skipping.files, [root + "/a/small.png"])
            XCTAssertEqual(skipping.sampleShape, SampleShape(channels: 3, height: 4, width: 4))
            // Lazily: the size comes from the first header within the limit, the bomb throws when reached.
            let lazy = try ImageFolder(root: root, preload: false)
            XCTAssertEqual(lazy.sampleShape, SampleShape(channels: 3, height: 4, width: 4))
            XCTAssertThrowsError(try lazy.sample(at: 0)) { error in
                XCTAssertEqual((error as? PNGError)?.path, bombPath)
            }
            XCTAssertEqual(try lazy.sample(at: 1).image.scalars, [Float](repeating: 7 / 255, count: 48))
        }
        if let rise { XCTAssertLessThan(rise, 32 << 20) }
        // The limit is the folder's parameter.
        XCTAssertThrowsError(try ImageFolder(root: root + "/a/..", skipUnreadable: false, maxPixels: 15)) { error in
            XCTAssertTrue("\(error)".contains("4 x 4 = 16 pixels, more than the limit of 15"), "\(error)")
        }
    }

    func testResizedCenterCropEqualsResizeThenCenterCropBitForBit() {
        var g = SeededGenerator(seed: 7)
        let cases: [(h: Int, w: Int, rh: Int, rw: Int, ch: Int, cw: Int)] = [
            (5, 7, 10, 14, 4, 6), (40, 3, 427, 32, 32, 32), (8, 8, 8, 8, 8, 8), (3, 300, 32, 3200, 32, 32),
            (6, 4, 3, 2, 5, 5), (33, 50, 32, 48, 32, 32), (1, 1, 32, 32, 32, 32),
        ]
        for (h, w, rh, rw, ch, cw) in cases {
            for format in [PixelFormat.gray, .rgb] {
                var image = Image(width: w, height: h, format: format)
                image.withUnsafeMutableBufferPointer { px in for i in px.indices { px[i] = UInt8(truncatingIfNeeded: g.next()) } }
                let reference = Compose([Resize(height: rh, width: rw), CenterCrop(height: ch, width: cw)])(image.tensor(), generator: &g)
                let cropped = image.tensor(resizedTo: (rh, rw), centerCroppedTo: (ch, cw))
                XCTAssertEqual(cropped.shape, reference.shape)
                XCTAssertEqual(cropped.scalars.map(\.bitPattern), reference.scalars.map(\.bitPattern), "\(h)x\(w) -> \(rh)x\(rw) -> \(ch)x\(cw) \(format)")
            }
        }
        // Converting on the way matches converting first.
        let rgba = Image(width: 9, height: 5, format: .rgba, repeating: 77)
        XCTAssertEqual(rgba.tensor(resizedTo: (10, 18), centerCroppedTo: (4, 4), as: .gray).scalars,
                       rgba.converted(to: .gray).tensor(resizedTo: (10, 18), centerCroppedTo: (4, 4)).scalars)
    }

    func testLongStripIsCroppedInSourceCoordinatesBeforeResizing() throws {
        // The 952-byte 1 x 300000 strip: resizing its short side to 32 is a 32 x 9,600,000 image
        // (3.7 GB of floats, 7.2 GB in `tessera predict` before); only its central 32 x 32 is computed.
        let bytes = Bombs.png(width: 300_000, height: 1, colorType: 2, value: 128)
        XCTAssertLessThan(bytes.count, 1000)
        var tensor: Tensor?
        let rise = try PeakMemory.rise {
            let strip = try PNG.decode(bytes)
            tensor = strip.tensor(resizedTo: (32, 9_600_000), centerCroppedTo: (32, 32))
        }
        XCTAssertEqual(tensor?.shape, [3, 32, 32])
        XCTAssertEqual(Set(tensor?.scalars ?? []), [128 / 255])
        if let rise { XCTAssertLessThan(rise, 8 << 20, "the strip costs its 900 KB of pixels, not the resized image") }
    }
}
