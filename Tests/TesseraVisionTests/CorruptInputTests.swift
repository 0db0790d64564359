import Foundation
import Tessera
import XCTest
import TesseraTestSupport
@testable import TesseraVision

/// Exhaustive damage to the committed fixtures: every truncation, and every single-bit flip
/// of a few files. Counts are printed for docs/RELIABILITY.md.
final class CorruptInputTests: XCTestCase {
    private func fixtures(_ dir: String, _ ext: String) throws -> [(String, [UInt8])] {
        let path = TestPaths.fixture(dir, in: .module)
        return try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(ext) }.sorted().map {
            ($0, [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + "/" + $0))))
        }
    }

    /// Decodes `bytes` as every pixel format; true when it decoded (consistently), false when it
    /// threw the decoder's error. Anything else fails the test.
    private func decodes(_ bytes: [UInt8], jpeg: Bool, _ label: @autoclosure () -> String) -> Bool {
        var outcome: Bool?
        for format in [nil] + PixelFormat.allCases.map(Optional.some) {
            do {
                let image = jpeg ? try JPEG.decode(bytes, as: format, maxPixels: 1 << 22)
                                 : try PNG.decode(bytes, as: format, maxPixels: 1 << 22)
                XCTAssertEqual(image.pixels.count, image.width * image.height * image.channels, label())
                XCTAssertTrue(outcome != false, "\(label()): decodes as \(String(describing: format)) but not as another format")
                outcome = true
            } catch is JPEGError where jpeg {
                XCTAssertTrue(outcome != true, "\(label()): fails as \(String(describing: format)) but decodes as another format")
                outcome = false
            } catch is PNGError where !jpeg {
                XCTAssertTrue(outcome != true, "\(label()): fails as \(String(describing: format)) but decodes as another format")
                outcome = false
            } catch {
                XCTFail("\(label()): unexpected error \(error)")
            }
        }
        return outcome ?? false
    }

    func testEveryTruncationOfEveryFixtureThrows() throws {
        for (dir, ext, jpeg) in [("png", ".png", false), ("jpeg", ".jpg", true)] {
            var cuts = 0
            for (name, bytes) in try fixtures(dir, ext) where name != "cmyk.jpg" {
                for n in 0..<bytes.count {
                    XCTAssertFalse(decodes(Array(bytes.prefix(n)), jpeg: jpeg, "\(name) cut to \(n) bytes"), "\(name) cut to \(n) bytes decoded")
                    cuts += 1
                }
            }
            print("\(dir): \(cuts) truncated files, every one refused with an error")
        }
    }

    func testEverySingleBitFlipDecodesOrThrows() throws {
        let chosen = ["interlaced_rgb8.png", "palette4.png", "pillow_rgba.png", "progressive_420.jpg", "optimized_restart.jpg", "gray_q90.jpg"]
        for (dir, ext, jpeg) in [("png", ".png", false), ("jpeg", ".jpg", true)] {
            var decoded = 0, thrown = 0
            for (name, bytes) in try fixtures(dir, ext) where chosen.contains(name) {
                for bit in 0..<(bytes.count * 8) {
                    var v = bytes
                    v[bit / 8] ^= UInt8(1) << UInt8(bit % 8)
                    if decodes(v, jpeg: jpeg, "\(name) bit \(bit)") { decoded += 1 } else { thrown += 1 }
                }
            }
            XCTAssertGreaterThan(decoded + thrown, 4000)
            print("\(dir): \(decoded + thrown) single-bit flips: \(decoded) decoded, \(thrown) refused with an error")
        }
    }
}
