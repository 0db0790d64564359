import Foundation
import XCTest
import TesseraTestSupport
import Tessera

// Inputs and fixture access shared by the core tests.

/// Normal samples of `shape` from `seed`.
func randn(_ shape: [Int], _ seed: UInt64, std: Float = 1) -> Tensor { TestData.randn(shape, seed: seed, std: std) }

/// Uniform samples in [0.5, 2): inputs for log, sqrt and division.
func positive(_ shape: [Int], _ seed: UInt64) -> Tensor { TestData.uniform(shape, seed: seed, 0.5, 2) }

/// 0, 1, 2, … in `shape`.
func iota(_ shape: [Int]) -> Tensor { Tensor.arange(0, Float(shape.reduce(1, *))).reshaped(shape) }

/// The cases of `Fixtures/<file>.json` for `op`, failing the test when there are none.
func fixtureCases(_ file: String, op: String, file callerFile: StaticString = #filePath, line: UInt = #line) throws -> [FixtureCase] {
    let fixture = try FixtureFile.load(file, from: .module)
    let selected = fixture.cases.filter { $0.op == op }
    XCTAssertFalse(selected.isEmpty, "\(file).json has no \(op) cases", file: callerFile, line: line)
    return selected
}
