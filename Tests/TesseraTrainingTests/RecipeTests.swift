import Foundation
import XCTest
import ArgumentParser
import Tessera
import TesseraNN
import TesseraVision
import TesseraTestSupport
@testable import TesseraTraining

/// The pieces of the fast CIFAR-10 recipe: test-time augmentation, the triangle schedule,
/// the batch-norm bias group and the augmentation options.
final class RecipeTests: XCTestCase {
    /// Reference: reflect-pad by one pixel, then take the H×W window at (1 + dy, 1 + dx).
    private func padThenCrop(_ x: Tensor, dy: Int, dx: Int) -> [Float] {
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        func refl(_ i: Int, _ size: Int) -> Int { i < 0 ? -i : (i >= size ? 2 * (size - 1) - i : i) }
        var out: [Float] = []
        for s in 0..<n { for ch in 0..<c { for y in 0..<h { for xx in 0..<w {
            out.append(x[s, ch, refl(y + dy, h), refl(xx + dx, w)])
        } } } }
        return out
    }

    func testTranslationMatchesReflectPaddingThenCropping() {
        var gen = SeededGenerator(seed: 1)
        let x = Tensor.randn([2, 3, 5, 6], generator: &gen)
        for (dy, dx) in [(-1, -1), (1, 1), (0, 1), (-1, 0)] {
            XCTAssertEqual(x.translatedReflecting(dy: dy, dx: dx).scalars, padThenCrop(x, dy: dy, dx: dx), "shift (\(dy), \(dx))")
        }
        XCTAssertEqual(x.translatedReflecting(dy: 0, dx: 0).scalars, x.scalars)
        // By hand: reflect-padding 0 1 2 / 3 4 5 / 6 7 8 by one pixel and cropping at the top left or bottom right.
        let grid = Tensor.arange(0, 9).reshaped([1, 1, 3, 3])
        XCTAssertEqual(grid.translatedReflecting(dy: -1, dx: -1).scalars, [4, 3, 4, 1, 0, 1, 4, 3, 4])
        XCTAssertEqual(grid.translatedReflecting(dy: 1, dx: 1).scalars, [4, 5, 4, 7, 8, 7, 4, 5, 4])
        XCTAssertEqual(x.flippedHorizontally().flippedHorizontally().scalars, x.scalars)
        XCTAssertEqual(x.flippedHorizontally()[0, 1, 2, 0], x[0, 1, 2, 5])
    }

    func testFlipTranslateAugmentationAveragesSixViewsWithTheirWeights() {
        GlobalRandom.seed(2)
        let model = Sequential(Flatten(), Linear(3 * 4 * 4, 5))
        var gen = SeededGenerator(seed: 3)
        let x = Tensor.randn([3, 3, 4, 4], generator: &gen)
        let plain = withNoGrad { TestTimeAugmentation.none.logits(of: model, x) }
        XCTAssertEqual(plain.scalars, withNoGrad { model(x) }.scalars)
        let flip = withNoGrad { TestTimeAugmentation.flip.logits(of: model, x) }
        let both = withNoGrad { TestTimeAugmentation.flipTranslate.logits(of: model, x) }
        func views(_ t: Tensor) -> Tensor { withNoGrad { model(t) + model(t.flippedHorizontally()) } }
        let expectedFlip = views(x) * 0.5
        // Weights: the untranslated pair ¼ each, the four translated views ⅛ each.
        let expected = views(x) * 0.25 + (views(x.translatedReflecting(dy: -1, dx: -1)) + views(x.translatedReflecting(dy: 1, dx: 1))) * 0.125
        for (a, b) in zip(flip.scalars, expectedFlip.scalars) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        for (a, b) in zip(both.scalars, expected.scalars) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        XCTAssertNotEqual(both.scalars, flip.scalars)
    }

    func testConfigOfARunFromBeforeTheRecipeOptionsStillResumes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-oldconfig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        // config.json as written by the first release (no flip, translate or normBiasLRScale keys).
        let old = #"{"config": {"augment": true, "batchSize": 128, "data": "cifar", "epochs": 35, "freeze": "none", "labelSmoothing": 0.1, "lr": 0.2, "model": "resnet20", "momentum": 0.9, "nesterov": true, "optimizer": "sgd", "out": "runs/r20", "schedule": "onecycle", "seed": 0, "threads": 2, "warmupEpochs": 0, "weightDecay": 0.0005}}"#
        try Data(old.utf8).write(to: dir.appendingPathComponent("config.json"))
        let c = try TrainingRun.readConfig(runDirectory: dir.path)
        XCTAssertEqual(c.epochs, 35)
        XCTAssertNil(c.flip)
        XCTAssertNil(c.translate)
        XCTAssertNil(c.normBiasLRScale)
    }

    func testTheWhiteningBiasTrainsItsEpochsThenStaysAndCutoutFollowsNormalization() throws {
        let data = try tinyImageFolder(trainPerClass: 4)
        var c = TrainConfig(data: data, out: try TestPaths.temporaryDirectory(self).path)
        c.model = "fastnet"; c.batchSize = 4; c.epochs = 3; c.lr = 0.05; c.schedule = .triangle; c.threads = 1
        c.whiteningBiasEpochs = 1; c.cutout = 8; c.testSubset = 2
        let run = try TrainingRun(config: c)
        let names = (run.trainer.trainLoader.transform as! Compose).transforms.map { String(describing: type(of: $0)) }
        XCTAssertEqual(names.suffix(2), ["Normalize", "Cutout"])
        let bias = try XCTUnwrap(run.model.namedParameters().first { $0.name == "whiten.bias" }?.tensor)
        var perEpoch: [Int: [Float]] = [:]
        run.trainer.showProgress = false
        run.trainer.afterStep = { epoch, _ in perEpoch[epoch] = bias.scalars }
        let before = bias.scalars
        try run.trainer.fit()
        XCTAssertNotEqual(perEpoch[1], before, "epoch 1 trains the whitening bias")
        XCTAssertEqual(perEpoch[2], perEpoch[1], "from epoch 2 on it is frozen")
        XCTAssertEqual(perEpoch[3], perEpoch[1])
        c.model = "resnet20"
        XCTAssertThrowsError(try TrainingRun(config: c)) { XCTAssertTrue("\($0)".contains("whitening stem"), "\($0)") }
    }

    func testRecipeOptionsBuildTheTriangleScheduleBiasGroupAndAugmentation() throws {
        let data = try tinyImageFolder(trainPerClass: 10)
        var c = TrainConfig(data: data, out: FileManager.default.temporaryDirectory.appendingPathComponent("tessera-recipe-out").path)
        c.model = "resnet20"; c.batchSize = 2; c.epochs = 10; c.lr = 2; c.weightDecay = 0.01
        c.schedule = .triangle; c.normBiasLRScale = 64; c.flip = .alternating; c.translate = 2
        let run = try TrainingRun(config: c)
        // 20 images in batches of 2 for 10 epochs, 100 steps: lr/5 at the start, the peak a fifth of the way, (almost) zero at the last step, linear between.
        XCTAssertEqual(run.schedule.lr(at: 0), 0.4, accuracy: 1e-6)
        XCTAssertEqual(run.schedule.lr(at: 10), 0.4 + 1.6 * 10 / 19, accuracy: 1e-5)   // the peak is step 19
        XCTAssertEqual(run.schedule.lr(at: 20), 2, accuracy: 0.03)
        XCTAssertEqual(run.schedule.lr(at: 60), 1, accuracy: 0.03)
        XCTAssertLessThan(run.schedule.lr(at: 99), 1e-5)
        // Every batch-norm bias (and nothing else) trains at 64× the rate with 1/64 of the decay.
        let group = try XCTUnwrap(run.optimizer.groups.first)
        let biases = Set(run.model.namedParameters().map(\.name).filter { $0.hasSuffix(".bias") && $0.contains("bn") })
        XCTAssertEqual(group.names, biases)
        XCTAssertTrue(group.names.contains("layer3.2.bn2.bias"))
        XCTAssertEqual(group.lrScale, 64)
        XCTAssertEqual(group.weightDecay!, 0.01 / 64, accuracy: 1e-9)
        // Crop with 2-pixel padding, then the alternating flip, then normalization.
        let names = (run.trainer.trainLoader.transform as! Compose).transforms.map { String(describing: type(of: $0)) }
        XCTAssertEqual(names, ["RandomCrop", "AlternatingHorizontalFlip", "Normalize"])
        XCTAssertEqual(((run.trainer.trainLoader.transform as! Compose).transforms[0] as! RandomCrop).padding, 2)

        XCTAssertNil(FlipMode(argument: "sideways"), "an unknown flip is refused when parsed")
        // Asking for a flip or translation that cannot apply is an error, not silently ignored.
        c.flip = .alternating; c.augment = false
        XCTAssertThrowsError(try TrainingRun(config: c)) { XCTAssertTrue("\($0)".contains("augmentation off"), "\($0)") }
    }
}
