import Foundation
import XCTest
import Tessera
import TesseraNN
@testable import TesseraTraining

/// The Trainer on real CIFAR-10 (skipped, with a message, when the data is absent).
final class TrainerTests: XCTestCase {
    private func cifarPath() throws -> String {
        let env = ProcessInfo.processInfo.environment["TESSERA_DATA"]
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [env, here.appendingPathComponent("../shared/data/cifar-10-batches-bin").standardized.path].compactMap { $0 }
        guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0 + "/data_batch_1.bin") }) else {
            throw XCTSkip("CIFAR-10 not found (set TESSERA_DATA or place it at ../shared/data/cifar-10-batches-bin); trainer tests skipped")
        }
        return path
    }

    private func config(out: URL, epochs: Int = 2) throws -> TrainConfig {
        var c = TrainConfig(data: try cifarPath(), out: out.path)
        c.model = "mlp"; c.epochs = epochs; c.batchSize = 50; c.subset = 1000; c.testSubset = 200
        c.optimizer = .sgd; c.lr = 0.05; c.schedule = .cosine; c.labelSmoothing = 0; c.augment = false; c.threads = 1
        return c
    }

    private func tempDir() -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-trainer-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: d) }
        return d
    }

    func testTwoEpochsOnASubsetLearnAndWriteEveryOutput() throws {
        let out = tempDir()
        let run = try TrainingRun(config: config(out: out))
        run.trainer.showProgress = false
        try run.writeConfig()
        let history = try run.trainer.fit()
        XCTAssertEqual(history.count, 2)
        XCTAssertGreaterThan(history.last!.trainAccuracy, 0.25, "training accuracy should be far above chance (10%)")
        for file in ["metrics.jsonl", "config.json", "curves.png", "last.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), "\(file) missing")
        }
        let lines = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        for key in ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds", "images_per_sec"] {
            XCTAssertNotNil(first[key], "metrics.jsonl lacks \(key)")
        }
        // The checkpoint reloads into a fresh model that gives the same predictions.
        let loaded = try LoadedModel(checkpoint: out.appendingPathComponent("last.safetensors").path)
        XCTAssertEqual(loaded.name, "mlp")
        XCTAssertEqual(loaded.classNames.count, 10)
        var gen = SeededGenerator(seed: 3)
        let x = Tensor.randn([2, 3, 32, 32], generator: &gen)
        run.model.eval()
        XCTAssertEqual(withNoGrad { run.model(x).scalars }, withNoGrad { loaded.model(x).scalars })
    }

    func testResumedRunEndsWithTheSameWeightsAsAnUninterruptedOne() throws {
        let straight = tempDir(), split = tempDir()
        let a = try TrainingRun(config: config(out: straight, epochs: 2))
        a.trainer.showProgress = false
        try a.trainer.fit()

        // One epoch, then a fresh process-like start that resumes for the second.
        let b1 = try TrainingRun(config: config(out: split, epochs: 2))
        b1.trainer.showProgress = false
        b1.trainer.epochs = 1
        try b1.trainer.fit()
        GlobalRandom.seed(12345)   // a resumed run must not depend on the generator's state before resume
        let b2 = try TrainingRun(config: config(out: split, epochs: 2))
        b2.trainer.showProgress = false
        try b2.trainer.resume(from: split.appendingPathComponent("last.safetensors"))
        XCTAssertEqual(b2.trainer.completedEpochs, 1)
        try b2.trainer.fit()

        let wa = a.model.stateDict(), wb = b2.model.stateDict()
        XCTAssertEqual(Array(wa.keys), Array(wb.keys))
        for key in wa.keys { XCTAssertEqual(wa[key]!.scalars, wb[key]!.scalars, "\(key) differs after resume") }
    }

    func testHugeLearningRateStopsWithTheEpochAndStep() throws {
        var c = try config(out: tempDir(), epochs: 1)
        c.lr = 1e12; c.schedule = .constant; c.momentum = 0
        let run = try TrainingRun(config: c)
        run.trainer.showProgress = false
        XCTAssertThrowsError(try run.trainer.fit()) { error in
            guard case let TrainingError.nonFiniteLoss(epoch, step, _) = error else { return XCTFail("unexpected error \(error)") }
            XCTAssertEqual(epoch, 1)
            XCTAssertGreaterThanOrEqual(step, 1)
            XCTAssertTrue("\(error)".contains("epoch 1, step \(step)"))
        }
    }

    func testCorruptOrForeignCheckpointsThrowClearErrors() throws {
        let dir = tempDir()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let garbage = dir.appendingPathComponent("garbage.safetensors")
        try Data([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).write(to: garbage)
        XCTAssertThrowsError(try LoadedModel(checkpoint: garbage.path, modelName: "resnet20"))
        XCTAssertThrowsError(try LoadedModel(checkpoint: dir.appendingPathComponent("missing.safetensors").path)) { error in
            XCTAssertTrue("\(error)".contains("no such checkpoint file"), "\(error)")
        }
        // An MLP checkpoint read as a ResNet-20 names the mismatch.
        let (mlp, _) = try TrainingRun.makeModel("mlp", classes: 10, inputShape: [3, 32, 32], initFrom: nil)
        let path = dir.appendingPathComponent("mlp.safetensors")
        let info = CheckpointInfo(model: "mlp", classNames: (0..<10).map { "c\($0)" }, inputShape: [3, 32, 32], mean: [0, 0, 0], std: [1, 1, 1])
        try Checkpoint(model: mlp.stateDict(), info: info).save(to: path)
        XCTAssertThrowsError(try LoadedModel(checkpoint: path.path, modelName: "resnet20")) { error in
            XCTAssertTrue("\(error)".contains("resnet20"), "\(error)")
        }
    }
}
