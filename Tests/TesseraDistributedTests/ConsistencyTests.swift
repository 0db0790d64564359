import XCTest
@testable import TesseraDistributed

final class ConsistencyTests: XCTestCase {
    private struct Config: Codable {
        var model: String
        var batchSize: Int
        var widths: [Int]
        var optimizer: [String: Double]
        var note: String?
    }

    func testDigestIsFNV1a() {
        XCTAssertEqual(ConfigurationDigest.fnv1a([]), 0xCBF2_9CE4_8422_2325)
        XCTAssertEqual(ConfigurationDigest.fnv1a(Array("a".utf8)), 0xAF63_DC4C_8601_EC8C)
        XCTAssertEqual(ConfigurationDigest.fnv1a(Array("foobar".utf8)), 0x8594_4171_F739_67E8)
    }

    func testCanonicalTextFlattensSortedPaths() throws {
        let text = try ConfigurationDigest.canonicalText(Config(model: "mlp", batchSize: 64, widths: [784, 10],
                                                                optimizer: ["momentum": 0.9, "lr": 0.1], note: nil))
        XCTAssertEqual(text, """
            batchSize = 64
            model = "mlp"
            optimizer.lr = 0.1
            optimizer.momentum = 0.9
            widths.0 = 784
            widths.1 = 10
            """)
    }

    func testDifferencesNameKeysValuesAndRanks() throws {
        let a = try ConfigurationDigest.canonicalText(Config(model: "resnet20", batchSize: 64, widths: [], optimizer: ["lr": 0.1], note: nil))
        let b = try ConfigurationDigest.canonicalText(Config(model: "resnet20", batchSize: 32, widths: [], optimizer: ["lr": 0.1], note: "x"))
        XCTAssertEqual(ConfigurationDigest.differences([a, a, b]),
                       #"batchSize: 64 (ranks 0, 1) vs 32 (rank 2); note: (absent) (ranks 0, 1) vs "x" (rank 2)"#)
    }

    func testPlainTextsAreComparedLineByLine() {
        XCTAssertEqual(ConfigurationDigest.differences(["resnet20\nbatch 64", "resnet20\nbatch 32", "resnet20"]),
                       "line 2: 'batch 64' (rank 0) vs 'batch 32' (rank 1) vs (no line) (rank 2)")
    }

    func testManyDifferencesAreCut() {
        let a = (0..<20).map { "k\($0) = 1" }.joined(separator: "\n")
        let b = (0..<20).map { "k\($0) = 2" }.joined(separator: "\n")
        XCTAssertTrue(ConfigurationDigest.differences([a, b]).hasSuffix("; and 8 more"))
    }
}
