import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// Losses (Ops/Losses.swift): PyTorch fixtures and finite-difference gradients.
final class LossTests: XCTestCase {
    func testCrossEntropyWithLabelSmoothingMatchesPyTorchForEveryReduction() throws {
        let all = try fixtureCases("losses", op: "cross_entropy")
        XCTAssertEqual(Set(all.map { "\($0.float("label_smoothing"))/\($0.string("reduction"))" }).count, 6)
        for c in all {
            FixtureRunner.run(c, fixture: "losses") { t in
                crossEntropy(t["input"]!, t["target"]!, labelSmoothing: c.float("label_smoothing"), reduction: c.reduction())
            }
        }
    }

    func testCrossEntropyWithIntegerTargetsMatchesPyTorch() throws {
        for c in try fixtureCases("losses", op: "cross_entropy") {
            FixtureRunner.run(c, fixture: "losses") { t in
                let targets = t["target"]!.scalars.map { Int($0) }
                return crossEntropy(t["input"]!, targets, labelSmoothing: c.float("label_smoothing"), reduction: c.reduction())
            }
        }
    }

    func testNLLLossMatchesPyTorch() throws {
        for c in try fixtureCases("losses", op: "nll_loss") {
            FixtureRunner.run(c, fixture: "losses") { t in nllLoss(t["input"]!, t["target"]!, reduction: c.reduction()) }
        }
    }

    func testMSELossMatchesPyTorchIncludingTargetGradient() throws {
        for c in try fixtureCases("losses", op: "mse_loss") {
            FixtureRunner.run(c, fixture: "losses") { t in mseLoss(t["input"]!, t["target"]!, reduction: c.reduction()) }
        }
    }

    func testL1LossMatchesPyTorchIncludingTargetGradient() throws {
        for c in try fixtureCases("losses", op: "l1_loss") {
            FixtureRunner.run(c, fixture: "losses") { t in l1Loss(t["input"]!, t["target"]!, reduction: c.reduction()) }
        }
    }

    func testBinaryCrossEntropyWithLogitsMatchesPyTorchIncludingTargetGradient() throws {
        for c in try fixtureCases("losses", op: "binary_cross_entropy_with_logits") {
            FixtureRunner.run(c, fixture: "losses") { t in
                binaryCrossEntropyWithLogits(t["input"]!, t["target"]!, reduction: c.reduction())
            }
        }
    }

    func testCrossEntropyGradientWithLabelSmoothingAndEachReduction() {
        let logits = randn([4, 5], 122, std: 2)
        let targets = Tensor([0, 3, 4, 1], shape: [4])
        for ls: Float in [0, 0.1] {
            for red in [Reduction.mean, .sum, .none] {
                GradCheck.check("crossEntropy labelSmoothing \(ls) reduction \(red)", [logits]) {
                    crossEntropy($0[0], targets, labelSmoothing: ls, reduction: red)
                }
            }
        }
        GradCheck.check("crossEntropy [Int] targets of transposed logits", [randn([5, 4], 123)]) {
            crossEntropy($0[0].T, [2, 2, 0, 4])
        }
    }

    func testNLLLossGradient() {
        let targets = Tensor([1, 0, 4, 2], shape: [4])
        for red in [Reduction.mean, .sum, .none] {
            GradCheck.check("nllLoss \(red)", [randn([4, 5], 124)]) { nllLoss($0[0], targets, reduction: red) }
        }
        GradCheck.check("nllLoss of logSoftmax", [randn([4, 5], 125)]) { nllLoss($0[0].logSoftmax(axis: 1), targets) }
    }

    func testMSELossGradientForInputAndTarget() {
        for red in [Reduction.mean, .sum, .none] {
            GradCheck.check("mseLoss \(red)", [randn([3, 4], 126), randn([3, 4], 127)]) { mseLoss($0[0], $0[1], reduction: red) }
        }
    }

    func testL1LossGradientForInputAndTargetAwayFromTies() {
        let input = randn([3, 4], 128)
        let target = input + TestData.awayFrom([0], [3, 4], seed: 129)
        for red in [Reduction.mean, .sum, .none] {
            GradCheck.check("l1Loss \(red)", [input, target]) { l1Loss($0[0], $0[1], reduction: red) }
        }
    }

    func testBinaryCrossEntropyWithLogitsGradient() {
        let targets = TestData.uniform([3, 4], seed: 130, 0, 1)
        for red in [Reduction.mean, .sum, .none] {
            GradCheck.check("binaryCrossEntropyWithLogits \(red)", [randn([3, 4], 131, std: 3)]) {
                binaryCrossEntropyWithLogits($0[0], targets, reduction: red)
            }
        }
    }
}
