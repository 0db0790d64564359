import Dispatch
import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// The op-class profiler (Runtime/Profiler.swift): what it records inside `measure`, and that it
/// records nothing outside it or on other threads.
final class ProfilerTests: XCTestCase {
    /// The parameters of a small convnet: conv 3→8, batch norm, ReLU, conv 8→8 with a residual
    /// addition, max-pooling, linear 128→10.
    struct Net {
        var w1 = randn([8, 3, 3, 3], 1, std: 0.3)
        var gamma = Tensor.ones([8]), beta = Tensor.zeros([8])
        var w2 = randn([8, 8, 3, 3], 2, std: 0.2)
        var fc = randn([10, 128], 3, std: 0.1)
        let mean = Tensor.zeros([8]), variance = Tensor.ones([8])

        init() {
            w1.requiresGrad = true; gamma.requiresGrad = true; beta.requiresGrad = true
            w2.requiresGrad = true; fc.requiresGrad = true
        }

        /// Clears the parameters' gradients, so the next backward does not add to them.
        func zeroGrad() {
            for p in [w1, gamma, beta, w2, fc] { p.grad = nil }
        }

        /// Forward, cross-entropy and backward; the input of the second convolution is also the
        /// residual branch, so backward accumulates two gradients into it.
        func step(_ x: Tensor, _ labels: Tensor) {
            let h = x.conv2d(weight: w1, padding: 1)
                .batchNorm(runningMean: mean, runningVar: variance, weight: gamma, bias: beta, training: true).relu()
            let r = h.conv2d(weight: w2, padding: 1) + h
            let p = r.maxPool2d(kernelSize: 2).flattened(from: 1)
            let loss = crossEntropy(p.linear(weight: fc), labels)
            loss.backward()
        }
    }

    let x = randn([4, 3, 8, 8], 4)
    let labels = Tensor([0, 3, 7, 9], shape: [4])

    func testATrainingStepReportsEveryClassThatRanAndNothingElse() {
        let net = Net()
        net.step(x, labels)                        // warm-up outside the measurement
        net.zeroGrad()
        let (_, profile) = Profiler.measure { net.step(x, labels) }
        let ran: [OpClass] = [.convForward, .convInputGradient, .convWeightGradient, .batchNormForward, .batchNormBackward,
                              .activation, .add, .pooling, .linear, .loss, .gradientAccumulation]
        for c in OpClass.allCases {
            if ran.contains(c) {
                XCTAssertGreaterThan(profile[c], 0, "\(c) ran")
                XCTAssertGreaterThan(profile.calls(c), 0, "\(c) ran")
            } else {
                XCTAssertEqual(profile[c], 0, "\(c) did not run")
                XCTAssertEqual(profile.calls(c), 0, "\(c) did not run")
            }
        }
        // Two convolutions forward; only the second one's input needs a gradient; both weights do.
        XCTAssertEqual(profile.calls(.convForward), 2)
        XCTAssertEqual(profile.calls(.convInputGradient), 1)
        XCTAssertEqual(profile.calls(.convWeightGradient), 2)
        // Forward and backward of each: batch norm apart, the others in one class.
        XCTAssertEqual(profile.calls(.batchNormForward), 1)
        XCTAssertEqual(profile.calls(.batchNormBackward), 1)
        XCTAssertEqual(profile.calls(.activation), 2)
        XCTAssertEqual(profile.calls(.add), 2)
        XCTAssertEqual(profile.calls(.pooling), 2)
        XCTAssertEqual(profile.calls(.linear), 2)
        XCTAssertEqual(profile.calls(.gradientAccumulation), 1)
        XCTAssertGreaterThan(profile.wallSeconds, 0)
        XCTAssertLessThanOrEqual(profile.classifiedSeconds, profile.wallSeconds)
        XCTAssertGreaterThanOrEqual(profile.restSeconds, 0)
    }

    func testOpsInsideAnotherOpCountOnceForTheOuterOne() {
        // The cross-entropy's mean and the conv's bias gradient are ops inside ops; an explicit
        // interval around a whole step puts everything in that one class.
        let net = Net()
        let (_, profile) = Profiler.measure { Profiler.time(.optimizer) { net.step(x, labels) } }
        XCTAssertEqual(profile.calls(.optimizer), 1)
        for c in OpClass.allCases where c != .optimizer { XCTAssertEqual(profile.calls(c), 0, "\(c) is inside the outer interval") }
        XCTAssertLessThanOrEqual(profile[.optimizer], profile.wallSeconds)
    }

    func testProfilingOffRecordsNothing() {
        let net = Net()
        XCTAssertFalse(Profiler.isMeasuring)
        let off = Profiler.begin(.convForward)
        XCTAssertEqual(off.start, 0, "no interval opens outside measure")
        Profiler.end(off)
        net.step(x, labels)                        // ops with profiling off
        let (_, empty) = Profiler.measure {}
        XCTAssertEqual(empty.classifiedSeconds, 0)
        XCTAssertEqual(empty.calls.reduce(0, +), 0, "nothing carried over from before the measurement")
        XCTAssertFalse(Profiler.isMeasuring)
    }

    func testOpsOnOtherThreadsAreNotRecorded() {
        let net = Net()
        let x = self.x, labels = self.labels
        let done = DispatchSemaphore(value: 0)
        let box = UncheckedSendable(net)
        let (_, profile) = Profiler.measure {
            DispatchQueue.global().async {
                box.value.step(x, labels)
                done.signal()
            }
            done.wait()
        }
        XCTAssertEqual(profile.calls.reduce(0, +), 0, "ops ran on another thread only")
        XCTAssertEqual(profile.classifiedSeconds, 0)
        XCTAssertGreaterThan(profile.restSeconds, 0)
    }

    func testProfilesAddUp() {
        let net = Net()
        let a = Profiler.measure { net.step(x, labels) }.profile
        net.zeroGrad()
        let b = Profiler.measure { net.step(x, labels) }.profile
        let s = a + b
        XCTAssertEqual(s.calls(.convForward), 4)
        XCTAssertEqual(s[.add], a[.add] + b[.add], accuracy: 1e-12)
        XCTAssertEqual(s.wallSeconds, a.wallSeconds + b.wallSeconds, accuracy: 1e-12)
    }
}
