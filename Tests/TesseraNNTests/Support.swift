import Foundation
import XCTest
import Tessera
@testable import TesseraNN

// Helpers for the nn tests: fixture loading (files written by scripts/fixtures/nn.py) and
// float32-fair comparisons.

enum NNFixtures {
    /// The URL of a file in this test target's Fixtures directory.
    static func url(_ name: String) -> URL {
        guard let base = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            fatalError("TesseraNNTests: Fixtures directory missing from the test bundle")
        }
        return base.appendingPathComponent(name)
    }

    /// The top-level JSON object of a fixture file.
    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: url(name))
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw NSError(domain: "NNFixtures", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(name) is not a JSON object"])
        }
        return obj
    }

    /// `{"shape": [...], "data": [...]}` as a tensor.
    static func tensor(_ any: Any?) -> Tensor {
        guard let d = any as? [String: Any], let shape = d["shape"] as? [NSNumber], let data = d["data"] as? [NSNumber] else {
            fatalError("NNFixtures: not a tensor object: \(String(describing: any).prefix(200))")
        }
        return Tensor(data.map(\.floatValue), shape: shape.map(\.intValue))
    }

    /// A name → tensor map.
    static func tensors(_ any: Any?) -> [String: Tensor] {
        guard let d = any as? [String: Any] else { return [:] }
        return d.mapValues { tensor($0) }
    }
}

enum Compare {
    /// Fails when any |a − b| > rtol·max(|b|, tiny) + atol (NaN always fails). The float32-fair
    /// comparison used for the optimizer and schedule fixtures.
    @discardableResult
    static func close(_ actual: [Float], _ expected: [Float], rtol: Double, atol: Double,
                      _ what: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        guard actual.count == expected.count else {
            XCTFail("\(what()): \(actual.count) values, expected \(expected.count)", file: file, line: line)
            return false
        }
        for i in actual.indices {
            let a = Double(actual[i]), e = Double(expected[i])
            let allowed = rtol * Swift.max(Swift.abs(e), 1e-30) + atol
            if !(Swift.abs(a - e) <= allowed) {
                XCTFail("\(what()): index \(i) of \(actual.count): got \(actual[i]), expected \(expected[i]) (rtol \(rtol), atol \(atol))",
                        file: file, line: line)
                return false
            }
        }
        return true
    }

    /// Tensor version of ``close(_:_:rtol:atol:_:file:line:)`` that also checks the shape.
    @discardableResult
    static func close(_ actual: Tensor, _ expected: Tensor, rtol: Double, atol: Double,
                      _ what: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        guard actual.shape == expected.shape else {
            XCTFail("\(what()): shape \(actual.shape), expected \(expected.shape)", file: file, line: line)
            return false
        }
        return close(actual.scalars, expected.scalars, rtol: rtol, atol: atol, what(), file: file, line: line)
    }

    /// Bitwise equality of the elements.
    static func bitEqual(_ a: Tensor, _ b: Tensor) -> Bool {
        a.shape == b.shape && zip(a.scalars, b.scalars).allSatisfy { $0.bitPattern == $1.bitPattern }
    }
}

/// A fresh empty temporary directory, removed at the end of the test.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-nn-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}
