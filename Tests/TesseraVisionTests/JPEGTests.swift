import Foundation
import Tessera
import XCTest
import TesseraTestSupport
@testable import TesseraVision

private struct JPEGManifest: Decodable {
    struct Entry: Decodable {
        let file: String
        let width: Int
        let height: Int
        let mode: String
        let channels: Int?
        let pixels: [UInt8]?
        let gray: [UInt8]?
        let refused: Bool?
        let exif_orientation: Int?
    }
    let versions: [String: String]
    let tolerance: Int
    let fixtures: [Entry]
}

final class JPEGTests: XCTestCase {
    private func manifest() throws -> JPEGManifest {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("jpeg/expected.json", in: .module)))
        return try JSONDecoder().decode(JPEGManifest.self, from: data)
    }

    private func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("jpeg/" + name, in: .module))))
    }

    /// The largest per-sample difference between two byte arrays of the same length.
    private func maxDifference(_ a: [UInt8], _ b: [UInt8]) -> Int {
        zip(a, b).reduce(0) { max($0, abs(Int($1.0) - Int($1.1))) }
    }

    func testDecodingMatchesPillowWithinTwoLevelsForEveryKind() throws {
        let m = try manifest()
        XCTAssertEqual(m.tolerance, 2)
        var worst = 0, checked = 0
        for entry in m.fixtures where entry.refused != true {
            let path = TestPaths.fixture("jpeg/" + entry.file, in: .module)
            let image = try JPEG.read(contentsOf: path)
            XCTAssertEqual(image.width, entry.width, entry.file)
            XCTAssertEqual(image.height, entry.height, entry.file)
            XCTAssertEqual(image.channels, entry.channels, entry.file)
            let expected = try XCTUnwrap(entry.pixels)
            XCTAssertEqual(image.pixels.count, expected.count, entry.file)
            let d = maxDifference(image.pixels, expected)
            XCTAssertLessThanOrEqual(d, m.tolerance, "\(entry.file): off by \(d) from Pillow \(m.versions)")
            worst = max(worst, d)
            if let gray = entry.gray {
                let luma = try JPEG.read(contentsOf: path, as: .gray)
                let dg = maxDifference(luma.pixels, gray)
                XCTAssertLessThanOrEqual(dg, m.tolerance, "\(entry.file) as gray: off by \(dg)")
                worst = max(worst, dg)
            }
            XCTAssertEqual(try JPEG.readHeader(contentsOf: path),
                           ImageHeader(width: entry.width, height: entry.height, format: entry.channels == 1 ? .gray : .rgb))
            checked += 1
        }
        XCTAssertEqual(checked, 9)
        print("JPEG fixtures: largest difference from Pillow \(m.versions["pillow"] ?? "?") (libjpeg-turbo \(m.versions["pillow_libjpeg_turbo"] ?? "?")): \(worst)")
    }

    func testCMYKJPEGIsRefusedWithAClearError() throws {
        let path = TestPaths.fixture("jpeg/cmyk.jpg", in: .module)
        for attempt in [{ _ = try JPEG.read(contentsOf: path) }, { _ = try JPEG.readHeader(contentsOf: path) },
                        { _ = try ImageFile.read(contentsOf: path, as: .rgb) }] {
            XCTAssertThrowsError(try attempt()) { error in
                XCTAssertEqual((error as? JPEGError)?.path, path)
                XCTAssertTrue("\(error)".contains("CMYK JPEG: not supported"), "\(error)")
            }
        }
    }

    func testEXIFOrientationIsIgnoredAsPillowsOpenIgnoresIt() throws {
        let m = try manifest()
        let entry = try XCTUnwrap(m.fixtures.first { $0.file == "exif_orientation6.jpg" })
        XCTAssertEqual(entry.exif_orientation, 6, "the file says: rotate 90 degrees clockwise to display")
        let image = try JPEG.read(contentsOf: TestPaths.fixture("jpeg/" + entry.file, in: .module))
        XCTAssertEqual([image.width, image.height], [20, 12], "pixels as stored, not rotated")
    }

    func testConversionsReplicateGrayAndAddOpaqueAlpha() throws {
        let gray = try fixture("gray_q90.jpg")
        let own = try JPEG.decode(gray)
        XCTAssertEqual(own.format, .gray)
        for format in PixelFormat.allCases {
            XCTAssertEqual(try JPEG.decode(gray, as: format), own.converted(to: format), "gray as \(format)")
        }
        let color = try fixture("rgb420_q75.jpg")
        let rgb = try JPEG.decode(color)
        XCTAssertEqual(try JPEG.decode(color, as: .rgba), rgb.converted(to: .rgba))
        // Gray from colour is the decoded luma plane: a few levels from converting the decoded RGB
        // (5 in this file, where upsampled chroma gets clipped around a saturated red disc).
        let luma = try JPEG.decode(color, as: .gray)
        XCTAssertLessThanOrEqual(maxDifference(luma.pixels, rgb.converted(to: .gray).pixels), 6)
        XCTAssertEqual(try JPEG.decode(color, as: .grayAlpha), luma.converted(to: .grayAlpha))
    }

    func testCorruptTruncatedAndNonJPEGInputsThrowWithLibjpegMessages() throws {
        XCTAssertThrowsError(try JPEG.decode([])) { XCTAssertTrue("\($0)".contains("not a JPEG"), "\($0)") }
        XCTAssertThrowsError(try JPEG.decode(Array("hello, not a jpeg".utf8))) { XCTAssertTrue("\($0)".contains("signature"), "\($0)") }
        XCTAssertThrowsError(try JPEG.decode([0xFF, 0xD8, 0xFF])) { XCTAssertNotNil($0 as? JPEGError) }
        let good = try fixture("rgb444_q95.jpg")
        // Cut inside the scan: libjpeg's "premature end" warning is an error here, not a gray patch.
        XCTAssertThrowsError(try JPEG.decode(Array(good.prefix(good.count - 100)))) { error in
            XCTAssertTrue("\(error)".contains("Premature end of JPEG file"), "\(error)")
        }
        // Cut inside the headers.
        XCTAssertThrowsError(try JPEG.decode(Array(good.prefix(40)))) { XCTAssertNotNil($0 as? JPEGError) }
        XCTAssertThrowsError(try JPEG.read(contentsOf: "/nonexistent/dir/x.jpg")) { error in
            XCTAssertEqual((error as? JPEGError)?.path, "/nonexistent/dir/x.jpg")
        }
        // Bytes after the end-of-image marker are ignored, as by every JPEG reader.
        XCTAssertEqual(try JPEG.decode(good + [1, 2, 3, 4]), try JPEG.decode(good))
    }

    func testHundredsOfTruncatedAndBitFlippedVariantsDecodeOrThrow() throws {
        let m = try manifest()
        var g = SeededGenerator(seed: 2025)
        var decoded = 0, thrown = 0
        for entry in m.fixtures {
            let source = try fixture(entry.file)
            let variants = damagedVariants(of: source, truncations: 12, flips: [1, 1, 1, 2, 2, 4, 4, 8, 16, 32], generator: &g)
            for format in [nil, PixelFormat.gray, .grayAlpha] {
                let outcome = decodeOutcomes(variants, failingWith: JPEGError.self) { try JPEG.decode($0, as: format, maxPixels: 1 << 20) }
                decoded += outcome.decoded
                thrown += outcome.thrown
            }
        }
        XCTAssertGreaterThanOrEqual(decoded + thrown, 600)
        XCTAssertGreaterThan(thrown, 0)
        XCTAssertGreaterThan(decoded, 0)
    }

    func testJPEGOverThePixelLimitIsRefusedBeforeDecoding() throws {
        let bomb = Bombs.jpegDeclaring(width: 60000, height: 60000)
        XCTAssertLessThan(bomb.count, 200)
        let path = try TestPaths.temporaryDirectory(self).path + "/bomb.jpg"
        try Data(bomb).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try JPEG.readHeader(contentsOf: path), ImageHeader(width: 60000, height: 60000, format: .gray))
        let rise = try PeakMemory.rise {
            XCTAssertThrowsError(try JPEG.read(contentsOf: path, as: .rgb)) { error in
                XCTAssertEqual((error as? JPEGError)?.path, path)
                for fragment in ["60000 x 60000 = 3600000000 pixels", "89478485", path] {
                    XCTAssertTrue("\(error)".contains(fragment), "'\(error)' should mention '\(fragment)'")
                }
            }
        }
        if let rise { XCTAssertLessThan(rise, 16 << 20) }
        // Under a raised limit the same kind of file fails on its missing data, after allocating its image only.
        XCTAssertThrowsError(try JPEG.decode(Bombs.jpegDeclaring(width: 3000, height: 2000), maxPixels: 6_000_000)) { error in
            XCTAssertTrue("\(error)".lowercased().contains("premature end"), "\(error)")
        }
    }

    func testALargeBaselineJPEGDecodesInAboutOneImageOfMemory() throws {
        for components in [1, 3] {
            let bytes = Bombs.jpeg(width: 4000, height: 3000, components: components)
            XCTAssertLessThan(bytes.count, 150_000)
            var image: Image?
            let rise = try PeakMemory.rise { image = try JPEG.decode(bytes, as: .rgb) }
            XCTAssertEqual(image?.width, 4000)
            XCTAssertEqual(Set(stride(from: 0, to: 36_000_000, by: 9973).map { image?.pixels[$0] }), [128])
            if let rise { XCTAssertLessThan(rise, 36_000_000 + (8 << 20), "\(components) components: one 36 MB RGB image") }
            image = nil
        }
    }

    func testMislabelledFilesAreDecodedByTheirContent() throws {
        let dir = try TestPaths.temporaryDirectory(self).path
        let png = try PNG.encode(Image(width: 3, height: 2, format: .rgb, repeating: 40))
        let jpeg = try fixture("rgb420_q75.jpg")
        try Data(png).write(to: URL(fileURLWithPath: dir + "/really_png.JPG"))
        try Data(jpeg).write(to: URL(fileURLWithPath: dir + "/really_jpeg.png"))
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir + "/garbage.jpeg"))
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir + "/garbage.png"))
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir + "/garbage.bmp"))
        XCTAssertEqual(try ImageFile.read(contentsOf: dir + "/really_png.JPG"), try PNG.decode(png))
        XCTAssertEqual(try ImageFile.read(contentsOf: dir + "/really_jpeg.png"), try JPEG.decode(jpeg))
        XCTAssertEqual(try ImageFile.readHeader(contentsOf: dir + "/really_jpeg.png"), ImageHeader(width: 33, height: 21, format: .rgb))
        XCTAssertThrowsError(try ImageFile.read(contentsOf: dir + "/garbage.jpeg")) { error in
            XCTAssertEqual((error as? JPEGError)?.message, "not a JPEG file (bad signature)")
        }
        XCTAssertThrowsError(try ImageFile.read(contentsOf: dir + "/garbage.png")) { error in
            XCTAssertEqual((error as? PNGError)?.message, "not a PNG file (bad signature)")
        }
        XCTAssertThrowsError(try ImageFile.read(contentsOf: dir + "/garbage.bmp")) { error in
            XCTAssertEqual((error as? ImageFileError)?.path, dir + "/garbage.bmp")
            XCTAssertTrue("\(error)".contains("not a PNG or JPEG file"), "\(error)")
        }
        XCTAssertThrowsError(try ImageFile.read(contentsOf: dir + "/missing.png")) { error in
            XCTAssertEqual((error as? ImageFileError)?.path, dir + "/missing.png")
        }
    }

    func testImageFolderListsJPEGFilesCaseInsensitivelyBesidePNG() throws {
        let root = try TestPaths.temporaryDirectory(self).path
        for name in ["cat", "dog"] {
            try FileManager.default.createDirectory(atPath: root + "/" + name, withIntermediateDirectories: true)
        }
        let jpeg = try fixture("rgb444_q95.jpg")  // 32 x 24
        try Data(jpeg).write(to: URL(fileURLWithPath: root + "/cat/a.JPG"))
        try Data(jpeg).write(to: URL(fileURLWithPath: root + "/cat/b.jpeg"))
        try PNG.write(Image(width: 32, height: 24, format: .rgb, repeating: 9), to: root + "/dog/c.png")
        try Data(try fixture("gray_q90.jpg")).write(to: URL(fileURLWithPath: root + "/dog/d.Jpeg"))
        try Data("notes".utf8).write(to: URL(fileURLWithPath: root + "/dog/e.txt"))
        let folder = try ImageFolder(root: root)
        XCTAssertEqual(folder.files.map { ($0 as NSString).lastPathComponent }, ["a.JPG", "b.jpeg", "c.png", "d.Jpeg"])
        XCTAssertEqual(folder.labels, [0, 0, 1, 1])
        XCTAssertEqual(folder.sampleShape, SampleShape(channels: 3, height: 24, width: 32))
        XCTAssertEqual(try folder.image(at: 0), try JPEG.decode(jpeg))
        // The gray 24 x 17 JPEG is replicated to RGB and resized to the folder's size.
        XCTAssertEqual(try folder.sample(at: 3).image.shape, [3, 24, 32])
        let lazy = try ImageFolder(root: root, preload: false)
        XCTAssertEqual(try lazy.sample(at: 1).image.scalars, try folder.sample(at: 1).image.scalars)
        // A truncated JPEG is reported with its path and libjpeg's reason.
        try Data(jpeg.prefix(jpeg.count / 2)).write(to: URL(fileURLWithPath: root + "/dog/f.jpg"))
        XCTAssertThrowsError(try ImageFolder(root: root)) { error in
            guard case DatasetError.unreadableImages(let files)? = error as? DatasetError else { return XCTFail("\(error)") }
            XCTAssertEqual(files.map(\.path), [root + "/dog/f.jpg"])
            XCTAssertTrue(files[0].reason.contains("Premature end"), files[0].reason)
        }
    }
}
