import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// The tape (Autograd/Autograd.swift): accumulation, retained graphs, no-grad, deep graphs, buffers freed.
final class AutogradTests: XCTestCase {
    private func trainingStep(seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        var w = Tensor.kaimingUniform([4, 3, 3, 3], generator: &g)
        var gamma = Tensor.ones([4]), beta = Tensor.zeros([4])
        var fc = Tensor.xavierUniform([5, 16], generator: &g)
        w.requiresGrad = true; gamma.requiresGrad = true; beta.requiresGrad = true; fc.requiresGrad = true
        let runningMean = Tensor.zeros([4]), runningVar = Tensor.ones([4])
        let x = Tensor.randn([2, 3, 5, 5], generator: &g)
        let p = x.conv2d(weight: w, padding: 1).batchNorm(runningMean: runningMean, runningVar: runningVar, weight: gamma, bias: beta, training: true)
            .relu().maxPool2d(kernelSize: 2).avgPool2d(kernelSize: 1)
        let logits = p.flattened(from: 1).linear(weight: fc).gelu().dropout(p: 0.2, generator: &g)
        let loss = crossEntropy(logits, [1, 4], labelSmoothing: 0.1) + mseLoss(logits.softmax(), Tensor.zeros([2, 5]))
            + p.adaptiveAvgPool2d(1).sum() * 0.01 + (logits.logSoftmax() * logits.sigmoid()).mean()
        loss.backward()
        XCTAssertNotNil(w.grad)
        XCTAssertNotNil(fc.grad)
    }

    func testGradCheckerRejectsAWrongGradientAndAMissingOne() {
        let x = randn([2, 3], 200)
        // x² whose recorded backward is off by a factor of 1.1 (through the internal recording API).
        let wrong = GradCheck.problems("wrong square", [x]) { t in
            let y = withNoGrad { t[0] * t[0] }
            let xd = t[0].detach()
            return y.recorded("wrong_square", input: t[0]) { g in g * xd * 2.2 }
        }
        XCTAssertEqual(wrong.count, 1, "a gradient 10% off must be reported: \(wrong)")
        let missing = GradCheck.problems("detached input", [x, x]) { t in t[0] * t[1].detach() }
        XCTAssertEqual(missing.count, 1, "an input without a gradient must be reported: \(missing)")
        XCTAssertEqual(GradCheck.problems("square", [x]) { $0[0] * $0[0] }, [], "a correct gradient passes")
    }

    func testZeroSizeTensorsBackpropagateEmptyGradients() {
        var x = Tensor.zeros([0, 3])
        x.requiresGrad = true
        (x * 2).sum().backward()
        XCTAssertEqual(x.grad?.shape, [0, 3])
    }

    func testTensorUsedTwiceReceivesBothGradientContributions() {
        var x = Tensor([1, -2, 3])
        x.requiresGrad = true
        (x * x + x).sum().backward()          // d/dx (x² + x) = 2x + 1
        XCTAssertEqual(x.grad?.scalars, [3, -3, 7])
        var w = Tensor([0.5, 2])
        w.requiresGrad = true
        let h = w.exp()
        (h * 2 + h.log()).sum().backward()      // h used twice: 2·eʷ + 1
        TensorCheck.close(w.grad!, Tensor([2 * Float(M_E).squareRoot() + 1, 2 * Foundation.exp(2) + 1]), "grad of w through h used twice")
    }

    func testGradientsAccumulateAcrossBackwardCallsUntilCleared() {
        var x = Tensor([1, 2])
        x.requiresGrad = true
        (x * 3).sum().backward()
        (x * x).sum().backward()
        XCTAssertEqual(x.grad?.scalars, [5, 7], "3 + 2x accumulated")
        x.grad = nil
        XCTAssertNil(x.grad)
        (x * 3).sum().backward()
        XCTAssertEqual(x.grad?.scalars, [3, 3])
    }

    func testBackwardWithExplicitSeedAndRetainedGraph() {
        var x = Tensor([1, 2, 3])
        x.requiresGrad = true
        let y = x * x
        y.backward(Tensor([1, 0, -1]), retainGraph: true)
        XCTAssertEqual(x.grad?.scalars, [2, 0, -6])
        y.backward(Tensor([1, 1, 1]))
        XCTAssertEqual(x.grad?.scalars, [4, 4, 0])
    }

    func testStructCopiesOfALeafShareItsGradient() {
        var p = Tensor([1, 2])
        p.requiresGrad = true
        let copy = p
        (p * 2).sum().backward()
        XCTAssertEqual(copy.grad?.scalars, [2, 2])
        copy.grad = nil
        XCTAssertNil(p.grad)
    }

    func testNoGradScopeRecordsNothing() {
        var x = Tensor([1, 2])
        x.requiresGrad = true
        let y = withNoGrad { (x * 2).exp().sum() }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertTrue(y.isLeaf)
        XCTAssertTrue(GradMode.isEnabled, "recording is restored after the no-grad closure")
        let z = (x * 2).sum()
        XCTAssertTrue(z.requiresGrad)
        XCTAssertFalse(z.isLeaf)
    }

    func testDetachCutsTheGraphButSharesStorage() {
        var x = Tensor([1, 2])
        x.requiresGrad = true
        let d = x.detach()
        XCTAssertFalse(d.requiresGrad)
        XCTAssertTrue(d.storage === x.storage)
        var y = Tensor([3, 4])
        y.requiresGrad = true
        ((x * 2).detach() * y).sum().backward()
        XCTAssertNil(x.grad, "no gradient flows through detach")
        XCTAssertEqual(y.grad?.scalars, [2, 4])
    }

    func testDeepChainOf5000OpsBackpropagatesWithoutStackOverflow() {
        var x = Tensor([0.5, -0.25, 1, 2])
        x.requiresGrad = true
        var y = x
        let c: Float = 1.0001
        for _ in 0..<5000 { y = y * c }
        y.sum().backward()
        let expected = Float(Foundation.pow(Double(c), 5000))
        TensorCheck.close(x.grad!, Tensor.full([4], expected), rtol: 1e-3, atol: 0, "gradient through 5,000 multiplications (rtol 1e-3)")
    }

    func testDeepGraphDroppedWithoutBackwardIsFreedWithoutStackOverflow() {
        let before = LiveBuffers.count
        do {
            var x = Tensor([1, 2])
            x.requiresGrad = true
            var y = x
            for _ in 0..<5000 { y = y + 1 }
            XCTAssertTrue(y.requiresGrad)
        }
        XCTAssertEqual(LiveBuffers.count, before)
    }

    /// A 110-layer residual stack of tiny conv → batch norm → relu blocks (the depth of ResNet-110).
    func testResidualNetworkOf110LayersBackpropagatesToEveryWeight() {
        var g = SeededGenerator(seed: 7)
        var weights: [Tensor] = []
        for _ in 0..<110 {
            var w = Tensor.kaimingNormal([2, 2, 3, 3], generator: &g) * 0.1
            w.requiresGrad = true
            weights.append(w)
        }
        var h = Tensor.randn([2, 2, 4, 4], generator: &g)
        for w in weights {
            let r = h.conv2d(weight: w, padding: 1).batchNorm(runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true).relu()
            h = h + r
        }
        h.mean().backward()
        for (i, w) in weights.enumerated() {
            guard let gw = w.grad else { XCTFail("layer \(i): no gradient"); continue }
            XCTAssertTrue(gw.scalars.allSatisfy { $0.isFinite }, "layer \(i): non-finite gradient")
        }
    }

    func testLiveBuffersReturnToBaselineAfterForwardAndBackward() {
        trainingStep(seed: 1)       // warm-up: lets caches and workspaces settle
        let baseline = LiveBuffers.count
        trainingStep(seed: 2)
        trainingStep(seed: 3)
        XCTAssertEqual(LiveBuffers.count, baseline, "tensor buffers leaked by a forward/backward step")
        do {
            var x = Tensor.ones([3, 3])
            x.requiresGrad = true
            _ = (x.matmul(x).sigmoid() * x).logSoftmax().sum()     // graph dropped without backward
        }
        XCTAssertEqual(LiveBuffers.count, baseline, "tensor buffers leaked by a graph dropped before backward")
    }

    /// A few steps of gradient descent on w for loss = Σ relu(x·w)², the update under no-grad;
    /// nil when a step found nothing recorded (recording switched off from elsewhere).
    private static func train(_ w0: Tensor, _ x: Tensor, steps: Int) -> Tensor? {
        var w = w0.clone()
        w.requiresGrad = true
        for _ in 0..<steps {
            let loss = x.matmul(w).relu().pow(2).sum()
            guard loss.requiresGrad else { return nil }
            w.grad = nil
            loss.backward()
            guard let g = w.grad else { return nil }
            withNoGrad { w.assign(w - g * 0.01) }
        }
        return w.detach()
    }

    func testNoGradOnOneThreadDoesNotTurnRecordingOffForATrainingLoopOnAnother() throws {
        let w0 = randn([8, 4], 301), x = randn([16, 8], 302), probe = randn([32, 8], 303)
        var leaf = randn([8, 4], 304)
        leaf.requiresGrad = true
        let v = leaf
        let alone = Self.train(w0, x, steps: 50)!
        let evaluatedAlone = withNoGrad { probe.matmul(v).tanh() }
        /// Written by one thread each, read after both have finished (the group orders it).
        final class Results: @unchecked Sendable { var trained: Tensor?; var evaluated: [Tensor] = []; var recorded = false }
        let results = Results()
        let group = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        group.enter()
        Thread {
            start.wait()
            results.trained = Self.train(w0, x, steps: 50)
            group.leave()
        }.start()
        group.enter()
        Thread {
            start.wait()
            for _ in 0..<200 {
                let y = withNoGrad { probe.matmul(v).tanh() }
                results.recorded = results.recorded || y.requiresGrad
                results.evaluated.append(y)
            }
            group.leave()
        }.start()
        start.signal(); start.signal()
        group.wait()
        XCTAssertFalse(results.recorded, "recording is off inside withNoGrad on the evaluating thread")
        let trained = try XCTUnwrap(results.trained, "the training loop found its graph recorded at every step")
        XCTAssertTrue(TensorCheck.bitEqual(trained, alone), "training beside a no-grad evaluation gives the same weights as alone")
        XCTAssertTrue(results.evaluated.allSatisfy { TensorCheck.bitEqual($0, evaluatedAlone) }, "and the evaluation the same outputs")
        XCTAssertTrue(probe.matmul(v).requiresGrad, "recording is on again here afterwards")
    }

    func testGradientReadyHooksFireOncePerBackwardWithTheCompleteGradientLastLayerFirst() {
        var w1 = randn([3, 4], 310), w2 = randn([4, 2], 311)
        w1.requiresGrad = true
        w2.requiresGrad = true
        final class Log { var events: [(String, [Float])] = [] }
        let log = Log()
        let h1 = w1.onGradientReady { log.events.append(("w1", $0.scalars)) }
        w2.onGradientReady { log.events.append(("w2", $0.scalars)) }
        let x = randn([5, 3], 312)
        // w1 is used twice: its hook must wait for both contributions.
        let loss = (x.matmul(w1).relu().matmul(w2).sum() + (w1 * w1).sum())
        loss.backward()
        XCTAssertEqual(log.events.map(\.0), ["w2", "w1"], "the layer nearest the loss is ready first")
        XCTAssertEqual(log.events[1].1, w1.grad!.scalars, "the hook sees the complete gradient")
        h1.remove()
        w1.grad = nil; w2.grad = nil
        (x.matmul(w1).matmul(w2)).sum().backward()
        XCTAssertEqual(log.events.map(\.0), ["w2", "w1", "w2"], "a removed hook no longer fires")
    }
}
