import CZlib
import Foundation
import Tessera
import TesseraVision
import XCTest
import TesseraTestSupport

/// How far the process's resident memory peaks while something runs.
enum PeakMemory {
    /// Runs `body` and returns how many bytes the resident set's high-water mark rose above the
    /// resident size at the start, or nil where the mark cannot be reset (Linux resets it through
    /// /proc/self/clear_refs; elsewhere `body` just runs).
    static func rise(_ body: () throws -> Void) rethrows -> Int? {
        guard let before = status("VmRSS"), resetHighWaterMark() else {
            try body()
            return nil
        }
        try body()
        guard let peak = status("VmHWM") else { return nil }
        return max(0, peak - before)
    }

    private static func resetHighWaterMark() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        do { try handle.write(contentsOf: Data("5".utf8)) } catch { return false }
        return true
    }

    /// A "kB" line of /proc/self/status, in bytes.
    private static func status(_ key: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            let digits = line.dropFirst(key.count + 1).filter(\.isNumber)
            return Int(digits).map { $0 * 1024 }
        }
        return nil
    }
}

/// Decompression bombs: small files that declare huge images.
enum Bombs {
    /// A valid 8-bit PNG of `width` × `height` pixels of colour type `colorType` (0 gray, 2 RGB,
    /// 4 gray+alpha, 6 RGBA), every sample `value`, Adam7-interlaced or not, written row by
    /// row through zlib at level 9: a 30000 × 30000 gray image is 875 KB. Nothing of the
    /// image's size is held in memory.
    static func png(width: Int, height: Int, colorType: UInt8, interlaced: Bool = false, value: UInt8 = 0) -> [UInt8] {
        let channels = [0: 1, 2: 3, 4: 2, 6: 4][Int(colorType)]!
        var stream = z_stream()
        precondition(deflateInit_(&stream, 9, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK)
        defer { deflateEnd(&stream) }
        var idat: [UInt8] = []
        var out = [UInt8](repeating: 0, count: 1 << 16)
        func feed(_ input: [UInt8], flush: Int32) {
            var input = input
            input.withUnsafeMutableBufferPointer { inBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = UInt32(inBuf.count)
                var status = Z_OK
                repeat {
                    let produced: Int = out.withUnsafeMutableBufferPointer { o in
                        stream.next_out = o.baseAddress
                        stream.avail_out = UInt32(o.count)
                        status = deflate(&stream, flush)
                        precondition(status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR)
                        return o.count - Int(stream.avail_out)
                    }
                    idat += out[0..<produced]
                } while flush == Z_FINISH ? status != Z_STREAM_END : stream.avail_out == 0
            }
        }
        let passes = interlaced ? [(0, 8, 0, 8), (0, 8, 4, 8), (4, 8, 0, 4), (0, 4, 2, 4), (2, 4, 0, 2), (0, 2, 1, 2), (1, 2, 0, 1)]
                                : [(0, 1, 0, 1)]
        for (y0, dy, x0, dx) in passes where y0 < height && x0 < width {
            let row = [0] + [UInt8](repeating: value, count: (width - x0 + dx - 1) / dx * channels)
            for _ in stride(from: y0, to: height, by: dy) { feed(row, flush: Z_NO_FLUSH) }
        }
        feed([], flush: Z_FINISH)
        func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            let crc = body.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
            return be(UInt32(data.count)) + body + be(crc)
        }
        let ihdr = be(UInt32(width)) + be(UInt32(height)) + [8, colorType, 0, 0, interlaced ? 1 : 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + chunk("IDAT", idat) + chunk("IEND", [])
    }

    /// The 875 KB PNG of 30000 × 30000 gray pixels from the issue, made once per test run.
    static let gray30000: [UInt8] = png(width: 30000, height: 30000, colorType: 0)
}

extension Bombs {
    /// A valid baseline JPEG of `width` × `height` pixels (1 component: gray; 3: YCbCr 4:4:4),
    /// every sample 128, built by hand: one-code Huffman tables make each 8 × 8 block two zero
    /// bits (DC difference 0, end of block), so the data is 1 byte per 256 pixels per component.
    static func jpeg(width: Int, height: Int, components: Int = 1) -> [UInt8] {
        func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
        var out: [UInt8] = [0xFF, 0xD8]
        out += [0xFF, 0xDB] + be16(67) + [0x00] + [UInt8](repeating: 1, count: 64)  // quantization table 0: all 1
        out += [0xFF, 0xC0] + be16(8 + 3 * components) + [8] + be16(height) + be16(width) + [UInt8(components)]
        for c in 0..<components { out += [UInt8(c + 1), 0x11, 0] }
        let oneCode = [UInt8(1)] + [UInt8](repeating: 0, count: 15) + [0x00]  // a single 1-bit code for symbol 0
        out += [0xFF, 0xC4] + be16(2 + 2 * 17 + 2) + [0x00] + oneCode + [0x10] + oneCode
        out += [0xFF, 0xDA] + be16(6 + 2 * components) + [UInt8(components)]
        for c in 0..<components { out += [UInt8(c + 1), 0x00] }
        out += [0, 63, 0]
        let blocks = ((width + 7) / 8) * ((height + 7) / 8) * components
        out += [UInt8](repeating: 0, count: (2 * blocks + 7) / 8)
        return out + [0xFF, 0xD9]
    }

    /// `jpeg` with its frame header claiming `width` × `height` instead: a file of a few bytes
    /// declaring a huge image.
    static func jpegDeclaring(width: Int, height: Int) -> [UInt8] {
        var bytes = jpeg(width: 8, height: 8)
        let sof = bytes.firstIndex(of: 0xC0)! + 4  // FF C0, length, precision, then height and width
        bytes[sof] = UInt8(height >> 8); bytes[sof + 1] = UInt8(height & 0xFF)
        bytes[sof + 2] = UInt8(width >> 8); bytes[sof + 3] = UInt8(width & 0xFF)
        return bytes
    }
}

/// Damaged copies of `source`: `truncations` random prefixes, then, for each entry of
/// `flips`, a copy with that many random bit flips.
func damagedVariants(of source: [UInt8], truncations: Int, flips: [Int], generator g: inout SeededGenerator) -> [[UInt8]] {
    var variants: [[UInt8]] = []
    for _ in 0..<truncations { variants.append(Array(source.prefix(Int(g.next() % UInt64(source.count))))) }
    for n in flips {
        var v = source
        for _ in 0..<n {
            let i = Int(g.next() % UInt64(v.count))
            v[i] ^= UInt8(1) << UInt8(g.next() % 8)
        }
        variants.append(v)
    }
    return variants
}

/// How many of `variants` decode (to an image whose pixel count fits its size) and how many
/// throw the decoder's own error `E`; any other error fails the test.
func decodeOutcomes<E: Error>(_ variants: [[UInt8]], failingWith _: E.Type, decode: ([UInt8]) throws -> Image,
                              file: StaticString = #filePath, line: UInt = #line) -> (decoded: Int, thrown: Int) {
    var decoded = 0, thrown = 0
    for v in variants {
        do {
            let image = try decode(v)
            XCTAssertEqual(image.pixels.count, image.width * image.height * image.channels, file: file, line: line)
            decoded += 1
        } catch is E {
            thrown += 1
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }
    return (decoded, thrown)
}
