import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// Softmax and log-softmax (Ops/Softmax.swift): PyTorch fixtures and finite-difference gradients.
final class SoftmaxTests: XCTestCase {
    func testSoftmaxAndLogSoftmaxMatchPyTorchAlongAnyAxisIncludingLargeLogits() throws {
        let f = try FixtureFile.load("activations", from: .module)
        let selected = f.cases.filter { $0.op == "softmax" || $0.op == "log_softmax" }
        XCTAssertTrue(selected.contains { $0.op == "log_softmax" } && selected.contains { $0.op == "softmax" })
        for c in selected {
            FixtureRunner.run(c, fixture: "activations") { t in
                c.op == "softmax" ? t["input"]!.softmax(axis: c.int("dim")) : t["input"]!.logSoftmax(axis: c.int("dim"))
            }
        }
    }

    func testSoftmaxAndLogSoftmaxGradientAlongEachAxis() {
        let x = randn([2, 3, 4], 84, std: 2)
        GradCheck.check("softmax axis -1", [x]) { $0[0].softmax() }
        GradCheck.check("softmax axis 1", [x]) { $0[0].softmax(axis: 1) }
        GradCheck.check("softmax axis 0 of permuted view", [x]) { $0[0].permuted([1, 2, 0]).softmax(axis: 0) }
        GradCheck.check("logSoftmax axis -1", [x]) { $0[0].logSoftmax() }
        GradCheck.check("logSoftmax axis 1", [x]) { $0[0].logSoftmax(axis: 1) }
        GradCheck.check("logSoftmax of transposed view", [x]) { $0[0].transposed(1, 2).logSoftmax(axis: -1) }
    }
}
