import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// The fully connected op (Ops/Linear.swift): PyTorch fixtures and finite-difference gradients.
final class LinearTests: XCTestCase {
    func testLinearMatchesPyTorch() throws {
        for c in try fixtureCases("matmul", op: "linear") {
            FixtureRunner.run(c, fixture: "matmul") { t in t["input"]!.linear(weight: t["weight"]!, bias: t["bias"]) }
        }
    }

    func testLinearGradientWithAndWithoutBias() {
        GradCheck.check("linear [3,4] weight [5,4] bias", [randn([3, 4], 117), randn([5, 4], 118), randn([5], 119)]) {
            $0[0].linear(weight: $0[1], bias: $0[2])
        }
        GradCheck.check("linear of a transposed input and a transposed weight", [randn([4, 3], 141), randn([4, 5], 142)]) {
            $0[0].T.linear(weight: $0[1].T)
        }
        GradCheck.check("linear [2,3,4] weight [2,4]", [randn([2, 3, 4], 120), randn([2, 4], 121)]) { $0[0].linear(weight: $0[1]) }
    }
}
