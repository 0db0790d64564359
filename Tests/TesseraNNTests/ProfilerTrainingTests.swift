import XCTest
import Tessera
import TesseraNN
import TesseraModels

/// The op-class profiler around a training step as a user writes it: modules, cross-entropy and
/// an optimizer (the core's ProfilerTests cover the ops alone).
final class ProfilerTrainingTests: XCTestCase {
    func testAModuleTrainingStepWithSGD() {
        GlobalRandom.seed(0)
        let model = Sequential(Conv2d(3, 8, kernelSize: 3, padding: 1, bias: false), BatchNorm2d(8), ReLU(),
                               MaxPool2d(kernelSize: 2), Flatten(), Linear(8 * 4 * 4, 10))
        let optimizer = SGD(model, lr: 0.1, momentum: 0.9, weightDecay: 5e-4)
        var gen = SeededGenerator(seed: 1)
        let x = Tensor.randn([4, 3, 8, 8], generator: &gen)
        let y = Tensor([1, 2, 3, 4], shape: [4])
        func step() {
            optimizer.zeroGrad()
            crossEntropy(model(x), y).backward()
            optimizer.step()
        }
        step()
        let (_, profile) = Profiler.measure { step() }
        // The Sequential fuses the ReLU into the batch norm; the stem's input needs no gradient
        // and nothing is used twice.
        let ran: Set<OpClass> = [.convForward, .convWeightGradient, .batchNormForward, .batchNormBackward, .pooling, .linear, .loss, .optimizer]
        for c in OpClass.allCases {
            if ran.contains(c) { XCTAssertGreaterThan(profile[c], 0, "\(c) ran") } else { XCTAssertEqual(profile[c], 0, "\(c) did not run") }
        }
        XCTAssertEqual(profile.calls(.optimizer), 2, "zeroGrad and step")
        XCTAssertLessThanOrEqual(profile.classifiedSeconds, profile.wallSeconds)
    }

    func testFastNetAndResNetStepsCoverTheirOpClasses() {
        // One step of each zoo model the breakdown reports, at a small batch.
        for (name, expected) in [("resnet20", [OpClass.add, .activation, .gradientAccumulation, .pooling]),
                                 ("fastnet", [OpClass.activation, .pooling])] {
            GlobalRandom.seed(0)
            let model = try! ModelZoo.make(name)
            model.train()
            let optimizer = SGD(model, lr: 0.01, momentum: 0.9)
            var gen = SeededGenerator(seed: 2)
            let x = Tensor.randn([2, 3, 32, 32], generator: &gen)
            let (_, profile) = Profiler.measure {
                optimizer.zeroGrad()
                crossEntropy(model(x), Tensor([0, 1], shape: [2])).backward()
                optimizer.step()
            }
            for c in expected + [.convForward, .convInputGradient, .convWeightGradient, .batchNormForward, .batchNormBackward, .linear, .loss, .optimizer] {
                XCTAssertGreaterThan(profile[c], 0, "\(name): \(c)")
            }
            XCTAssertLessThanOrEqual(profile.classifiedSeconds, profile.wallSeconds, name)
        }
    }
}
