import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// Batch normalization (Ops/BatchNorm.swift, Kernels/BatchNormKernel.swift): PyTorch fixtures, gradients, the fused ReLU.
final class BatchNormTests: XCTestCase {
    func testBatchNormMatchesPyTorchInTrainingAndEvaluationIncludingRunningStatistics() throws {
        let all = try fixtureCases("batchnorm", op: "batch_norm")
        XCTAssertTrue(all.contains { $0.bool("training") } && all.contains { !$0.bool("training") })
        for c in all {
            let inputs = FixtureRunner.run(c, fixture: "batchnorm") { t in
                t["input"]!.batchNorm(runningMean: t["running_mean"]!, runningVar: t["running_var"]!,
                                      weight: t["weight"]!, bias: t["bias"]!, training: c.bool("training"),
                                      momentum: c.float("momentum"), eps: c.float("eps"))
            }
            // Running statistics are updated in place in training (unbiased variance) and untouched in evaluation.
            TensorCheck.close(inputs["running_mean"]!, c.tensor("running_mean_after"), rtol: 1e-4, atol: 1e-5,
                              "batchnorm.json case \(c.name): running mean after the call (rtol 1e-4, atol 1e-5)")
            TensorCheck.close(inputs["running_var"]!, c.tensor("running_var_after"), rtol: 1e-4, atol: 1e-5,
                              "batchnorm.json case \(c.name): running variance after the call (rtol 1e-4, atol 1e-5)")
        }
    }

    func testBatchNormTrainingGradientForInputWeightAndBias() {
        GradCheck.check("batchNorm train 4-D", [randn([3, 2, 3, 3], 106, std: 1.5), positive([2], 107), randn([2], 108)]) { t in
            t[0].batchNorm(runningMean: Tensor.zeros([2]), runningVar: Tensor.ones([2]), weight: t[1], bias: t[2], training: true)
        }
        GradCheck.check("batchNorm train 2-D", [randn([5, 3], 109), positive([3], 110), randn([3], 111)]) { t in
            t[0].batchNorm(runningMean: Tensor.zeros([3]), runningVar: Tensor.ones([3]), weight: t[1], bias: t[2], training: true)
        }
    }

    func testBatchNormTrainingGradientOfANonContiguousInputWithoutAffineParameters() {
        GradCheck.check("batchNorm train of a permuted input, no weight/bias, no running stats", [randn([3, 3, 2, 2], 140)]) { t in
            t[0].permuted([0, 3, 1, 2]).batchNorm(runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true)
        }
    }

    func testBatchNormEvaluationGradient() {
        let mean = Tensor([0.3, -0.2], shape: [2]), variance = Tensor([0.8, 1.3], shape: [2])
        GradCheck.check("batchNorm eval 4-D", [randn([2, 2, 3, 3], 112), positive([2], 113), randn([2], 114)]) { t in
            t[0].batchNorm(runningMean: mean, runningVar: variance, weight: t[1], bias: t[2], training: false)
        }
    }

    func testBatchNormReLUGradientInTrainingAndEvaluationAwayFromTheKink() {
        let x = randn([3, 2, 3, 3], 156, std: 1.5), weight = positive([2], 157), bias = randn([2], 158)
        let mean = Tensor([0.3, -0.2], shape: [2]), variance = Tensor([0.8, 1.3], shape: [2])
        for training in [true, false] {
            // Finite differences mean nothing at ReLU's kink: the data (seeds picked for it) keeps every
            // normalized value, the ReLU's input, at least 0.1 from 0, and a third to two thirds below it.
            let pre = x.batchNorm(runningMean: mean, runningVar: variance, weight: weight, bias: bias, training: training).scalars
            XCTAssertGreaterThan(pre.map { Swift.abs($0) }.min()!, 0.1, "training \(training): the test data comes near the kink")
            XCTAssertTrue((18...36).contains(pre.filter { $0 < 0 }.count), "training \(training): \(pre.filter { $0 < 0 }.count) of 54 negative")
            GradCheck.check("batchNormReLU training \(training)", [x, weight, bias]) { t in
                t[0].batchNormReLU(runningMean: mean.clone(), runningVar: variance.clone(), weight: t[1], bias: t[2], training: training)
            }
        }
    }

    func testFusedBatchNormReLUEqualsBatchNormThenReLUValuesGradientsAndRunningStatistics() {
        // Large enough to be split over two threads; the fused op must give exactly what the two
        // ops give (the masked gradient sums add zeros where the separate ReLU backward wrote them).
        let saved = Runtime.threads
        Runtime.threads = 2
        defer { Runtime.threads = saved }
        let x = TestData.randn([8, 6, 33, 33], seed: 160), upstream = TestData.randn([8, 6, 33, 33], seed: 161)
        let weight = TestData.uniform([6], seed: 162, 0.5, 2), bias = TestData.randn([6], seed: 163)
        for training in [true, false] {
            func run(fused: Bool) -> [Tensor] {
                var xi = x.detach(), w = weight.detach(), b = bias.detach()
                xi.requiresGrad = true; w.requiresGrad = true; b.requiresGrad = true
                let rm = Tensor([0.1, 0, -0.1, 0.2, 0, 0], shape: [6]), rv = Tensor.full([6], 1.5)
                let y = fused ? xi.batchNormReLU(runningMean: rm, runningVar: rv, weight: w, bias: b, training: training, momentum: 0.3)
                              : xi.batchNorm(runningMean: rm, runningVar: rv, weight: w, bias: b, training: training, momentum: 0.3).relu()
                y.backward(upstream)
                return [y.detach(), xi.grad!, w.grad!, b.grad!, rm, rv]
            }
            let fused = run(fused: true), separate = run(fused: false)
            for (i, what) in ["output", "input gradient", "weight gradient", "bias gradient", "running mean", "running variance"].enumerated() {
                TensorCheck.close(fused[i], separate[i], rtol: 1e-6, atol: 1e-6, "batchNormReLU \(what), training \(training)")
            }
            XCTAssertTrue(fused[0].scalars.contains(0) && fused[0].scalars.contains { $0 > 0 }, "both sides of the ReLU are exercised")
        }
    }
}
