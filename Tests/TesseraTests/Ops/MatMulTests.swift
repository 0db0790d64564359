import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// Matrix products (Ops/MatMul.swift): PyTorch fixtures and finite-difference gradients.
final class MatMulTests: XCTestCase {
    func testBatchedMatmulWithBroadcastBatchAndTransposedOperandsMatchesPyTorch() throws {
        let all = try fixtureCases("matmul", op: "matmul")
        XCTAssertTrue(all.contains { $0.bool("transpose_a") } && all.contains { $0.bool("transpose_b") })
        for c in all {
            FixtureRunner.run(c, fixture: "matmul") { t in
                let a = c.bool("transpose_a") ? t["a"]!.transposed(-2, -1) : t["a"]!
                let b = c.bool("transpose_b") ? t["b"]!.transposed(-2, -1) : t["b"]!
                return a.matmul(b)
            }
        }
    }

    func testMatmulGradient2DBatchedAndBroadcast() {
        GradCheck.check("matmul [3,4]@[4,5]", [randn([3, 4], 60), randn([4, 5], 61)]) { $0[0].matmul($0[1]) }
        GradCheck.check("matmul [2,3,4]@[2,4,5]", [randn([2, 3, 4], 62), randn([2, 4, 5], 63)]) { $0[0].matmul($0[1]) }
        GradCheck.check("matmul broadcast [2,1,3,4]@[3,4,2]", [randn([2, 1, 3, 4], 64), randn([3, 4, 2], 65)]) { $0[0].matmul($0[1]) }
        GradCheck.check("matmul [3,4]@[2,4,2] (matrix broadcast over batch)", [randn([3, 4], 66), randn([2, 4, 2], 67)]) { $0[0].matmul($0[1]) }
        GradCheck.check("matmul vector [4]@[4,3]", [randn([4], 68), randn([4, 3], 69)]) { $0[0].matmul($0[1]) }
        GradCheck.check("matmul [3,4]@vector [4]", [randn([3, 4], 70), randn([4], 71)]) { $0[0].matmul($0[1]) }
    }

    func testMatmulGradientWithTransposedAndExpandedOperands() {
        GradCheck.check("matmul [4,3]ᵀ@[4,5]", [randn([4, 3], 72), randn([4, 5], 73)]) { $0[0].T.matmul($0[1]) }
        GradCheck.check("matmul [3,4]@[5,4]ᵀ", [randn([3, 4], 74), randn([5, 4], 75)]) { $0[0].matmul($0[1].T) }
        GradCheck.check("matmul batched transposed both", [randn([2, 4, 3], 76), randn([2, 5, 4], 77)]) {
            $0[0].transposed(-1, -2).matmul($0[1].transposed(-1, -2))
        }
        GradCheck.check("matmul expanded [1,3,4]→[2,3,4] @ [2,4,2]", [randn([1, 3, 4], 78), randn([2, 4, 2], 79)]) {
            $0[0].expanded(to: [2, 3, 4]).matmul($0[1])
        }
        GradCheck.check("matmul sliced columns [3,8][:, ::2] @ [4,2]", [randn([3, 8], 80), randn([4, 2], 81)]) {
            $0[0].slice(axis: 1, 0, 8, step: 2).matmul($0[1])
        }
    }
}
