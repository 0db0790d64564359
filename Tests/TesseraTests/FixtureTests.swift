import Foundation
import XCTest
@testable import Tessera

/// Conformance with PyTorch: forward values and gradients of the core ops against fixtures made
/// by `scripts/make_fixtures.py` (scripts/fixtures/core.py). Every case runs the op on the
/// recorded inputs, compares the output, back-propagates the recorded upstream gradient and
/// compares each input's gradient.
///
/// Tolerance (unless a test states otherwise): |tessera − torch| ≤ atol + rtol·|torch| with
/// rtol 1e-4 and atol 1e-5, forward and backward (``Tolerance``).
final class FixtureTests: XCTestCase {
    private func cases(_ file: String, op: String, file callerFile: StaticString = #filePath, line: UInt = #line) throws -> [FixtureCase] {
        let fixture = try FixtureFile.load(file)
        let selected = fixture.cases.filter { $0.op == op }
        XCTAssertFalse(selected.isEmpty, "\(file).json has no \(op) cases", file: callerFile, line: line)
        return selected
    }

    func testEveryFixtureFileRecordsTorchVersionSeedAndCases() throws {
        for name in ["conv2d", "pool", "batchnorm", "activations", "losses", "matmul"] {
            let f = try FixtureFile.load(name)
            XCTAssertTrue(f.torchVersion.hasPrefix("2."), "\(name).json: torch version \(f.torchVersion)")
            XCTAssertGreaterThan(f.seed, 0, "\(name).json: seed")
            XCTAssertFalse(f.cases.isEmpty, "\(name).json: no cases")
            for c in f.cases {
                XCTAssertNotNil(c.tensors["output"], "\(name).json case \(c.name): no output")
                XCTAssertNotNil(c.tensors["upstream"], "\(name).json case \(c.name): no upstream gradient")
            }
        }
    }

    // MARK: Convolution

    func testConv2dMatchesPyTorchForStridePaddingDilationGroupsAndBias() throws {
        let all = try cases("conv2d", op: "conv2d")
        XCTAssertGreaterThanOrEqual(all.count, 6)
        for c in all {
            FixtureRunner.run(c, fixture: "conv2d") { t in
                t["input"]!.conv2d(weight: t["weight"]!, bias: t["bias"], stride: c.size2("stride")!,
                                   padding: c.size2("padding")!, dilation: c.size2("dilation")!, groups: c.int("groups"))
            }
        }
    }

    // MARK: Pooling

    func testMaxPool2dMatchesPyTorch() throws {
        for c in try cases("pool", op: "max_pool2d") {
            FixtureRunner.run(c, fixture: "pool") { t in
                t["input"]!.maxPool2d(kernelSize: c.size2("kernel_size")!, stride: c.size2("stride"), padding: c.size2("padding")!,
                                      dilation: c.size2("dilation") ?? 1, ceilMode: c.bool("ceil_mode"))
            }
        }
    }

    func testAvgPool2dMatchesPyTorchWithAndWithoutCountIncludePad() throws {
        let all = try cases("pool", op: "avg_pool2d")
        XCTAssertTrue(all.contains { $0.bool("count_include_pad") } && all.contains { !$0.bool("count_include_pad") })
        for c in all {
            FixtureRunner.run(c, fixture: "pool") { t in
                t["input"]!.avgPool2d(kernelSize: c.size2("kernel_size")!, stride: c.size2("stride"), padding: c.size2("padding")!,
                                      ceilMode: c.bool("ceil_mode"), countIncludePad: c.bool("count_include_pad"))
            }
        }
    }

    func testAdaptiveAvgPool2dMatchesPyTorchForGlobalAndOverlappingWindows() throws {
        for c in try cases("pool", op: "adaptive_avg_pool2d") {
            FixtureRunner.run(c, fixture: "pool") { t in t["input"]!.adaptiveAvgPool2d(c.size2("output_size")!) }
        }
    }

    func testGlobalAvgPool2dMatchesPyTorchAdaptivePoolingToOneByOne() throws {
        for c in try cases("pool", op: "adaptive_avg_pool2d") where c.size2("output_size") == Size2(1, 1) {
            FixtureRunner.run(c, fixture: "pool") { t in t["input"]!.globalAvgPool2d() }
        }
    }

    // MARK: Batch norm

    func testBatchNormMatchesPyTorchInTrainingAndEvaluationIncludingRunningStatistics() throws {
        let all = try cases("batchnorm", op: "batch_norm")
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

    // MARK: Activations

    func testActivationsMatchPyTorch() throws {
        let f = try FixtureFile.load("activations")
        var seen = Set<String>()
        for c in f.cases where !["softmax", "log_softmax"].contains(c.op) {
            seen.insert(c.op)
            FixtureRunner.run(c, fixture: "activations") { t in
                let x = t["input"]!
                switch c.op {
                case "relu": return x.relu()
                case "leaky_relu": return x.leakyRelu(negativeSlope: c.float("negative_slope"))
                case "sigmoid": return x.sigmoid()
                case "tanh": return x.tanh()
                case "gelu": return x.gelu()   // PyTorch's default, the exact erf form
                default: XCTFail("unknown activation \(c.op)"); return x
                }
            }
        }
        XCTAssertEqual(seen, ["relu", "leaky_relu", "sigmoid", "tanh", "gelu"])
    }

    func testSoftmaxAndLogSoftmaxMatchPyTorchAlongAnyAxisIncludingLargeLogits() throws {
        let f = try FixtureFile.load("activations")
        let selected = f.cases.filter { $0.op == "softmax" || $0.op == "log_softmax" }
        XCTAssertTrue(selected.contains { $0.op == "log_softmax" } && selected.contains { $0.op == "softmax" })
        for c in selected {
            FixtureRunner.run(c, fixture: "activations") { t in
                c.op == "softmax" ? t["input"]!.softmax(axis: c.int("dim")) : t["input"]!.logSoftmax(axis: c.int("dim"))
            }
        }
    }

    // MARK: Losses

    func testCrossEntropyWithLabelSmoothingMatchesPyTorchForEveryReduction() throws {
        let all = try cases("losses", op: "cross_entropy")
        XCTAssertEqual(Set(all.map { "\($0.float("label_smoothing"))/\($0.string("reduction"))" }).count, 6)
        for c in all {
            FixtureRunner.run(c, fixture: "losses") { t in
                crossEntropy(t["input"]!, t["target"]!, labelSmoothing: c.float("label_smoothing"), reduction: c.reduction())
            }
        }
    }

    func testCrossEntropyWithIntegerTargetsMatchesPyTorch() throws {
        for c in try cases("losses", op: "cross_entropy") {
            FixtureRunner.run(c, fixture: "losses") { t in
                let targets = t["target"]!.scalars.map { Int($0) }
                return crossEntropy(t["input"]!, targets, labelSmoothing: c.float("label_smoothing"), reduction: c.reduction())
            }
        }
    }

    func testNLLLossMatchesPyTorch() throws {
        for c in try cases("losses", op: "nll_loss") {
            FixtureRunner.run(c, fixture: "losses") { t in nllLoss(t["input"]!, t["target"]!, reduction: c.reduction()) }
        }
    }

    func testMSELossMatchesPyTorchIncludingTargetGradient() throws {
        for c in try cases("losses", op: "mse_loss") {
            FixtureRunner.run(c, fixture: "losses") { t in mseLoss(t["input"]!, t["target"]!, reduction: c.reduction()) }
        }
    }

    func testL1LossMatchesPyTorchIncludingTargetGradient() throws {
        for c in try cases("losses", op: "l1_loss") {
            FixtureRunner.run(c, fixture: "losses") { t in l1Loss(t["input"]!, t["target"]!, reduction: c.reduction()) }
        }
    }

    func testBinaryCrossEntropyWithLogitsMatchesPyTorchIncludingTargetGradient() throws {
        for c in try cases("losses", op: "binary_cross_entropy_with_logits") {
            FixtureRunner.run(c, fixture: "losses") { t in
                binaryCrossEntropyWithLogits(t["input"]!, t["target"]!, reduction: c.reduction())
            }
        }
    }

    // MARK: Matmul and linear

    func testBatchedMatmulWithBroadcastBatchAndTransposedOperandsMatchesPyTorch() throws {
        let all = try cases("matmul", op: "matmul")
        XCTAssertTrue(all.contains { $0.bool("transpose_a") } && all.contains { $0.bool("transpose_b") })
        for c in all {
            FixtureRunner.run(c, fixture: "matmul") { t in
                let a = c.bool("transpose_a") ? t["a"]!.transposed(-2, -1) : t["a"]!
                let b = c.bool("transpose_b") ? t["b"]!.transposed(-2, -1) : t["b"]!
                return a.matmul(b)
            }
        }
    }

    func testLinearMatchesPyTorch() throws {
        for c in try cases("matmul", op: "linear") {
            FixtureRunner.run(c, fixture: "matmul") { t in t["input"]!.linear(weight: t["weight"]!, bias: t["bias"]) }
        }
    }
}
