import Foundation
import XCTest
import Tessera

// Closeness of tensors, as torch.allclose, for every test target.

/// Elementwise closeness of tensors, as `torch.allclose`: |actual − expected| ≤ atol + rtol·|expected|.
public enum TensorCheck {
    /// Fails (without stopping the test) when the shapes differ or any element is outside tolerance;
    /// the message names `what`, the tolerance, the first bad index and both values.
    @discardableResult
    public static func close(_ actual: Tensor, _ expected: Tensor, rtol: Double = 1e-4, atol: Double = 1e-5,
                      _ what: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        guard actual.shape == expected.shape else {
            XCTFail("\(what()): shape \(actual.shape), expected \(expected.shape)", file: file, line: line)
            return false
        }
        return close(actual.scalars, expected.scalars, rtol: rtol, atol: atol, what(), file: file, line: line)
    }

    /// As ``close(_:_:rtol:atol:_:file:line:)`` on flat arrays.
    @discardableResult
    public static func close(_ actual: [Float], _ expected: [Float], rtol: Double = 1e-4, atol: Double = 1e-5,
                      _ what: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        guard actual.count == expected.count else {
            XCTFail("\(what()): \(actual.count) values, expected \(expected.count)", file: file, line: line)
            return false
        }
        var bad = 0, worst = -1, worstExcess = 0.0
        for i in 0..<actual.count {
            let a = Double(actual[i]), e = Double(expected[i])
            let err = Swift.abs(a - e), allowed = atol + rtol * Swift.abs(e)
            if !(err <= allowed) {          // also catches NaN
                bad += 1
                let excess = err.isNaN ? .infinity : err - allowed
                if worst < 0 || excess > worstExcess { worst = i; worstExcess = excess }
            }
        }
        if bad > 0 {
            XCTFail("\(what()): \(bad) of \(actual.count) values differ beyond rtol \(rtol), atol \(atol); worst at flat index \(worst): got \(actual[worst]), expected \(expected[worst])",
                    file: file, line: line)
            return false
        }
        return true
    }
}


extension TensorCheck {
    /// Bitwise equality of the elements (and equal shapes).
    public static func bitEqual(_ a: Tensor, _ b: Tensor) -> Bool {
        a.shape == b.shape && zip(a.scalars, b.scalars).allSatisfy { $0.bitPattern == $1.bitPattern }
    }
}
