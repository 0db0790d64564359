import Foundation
import XCTest
import Tessera
import TesseraModels
import TesseraNN
import TesseraTestSupport
@testable import TesseraTraining

/// Checkpoints from outside: metadata that cannot be right, PyTorch state dicts with their
/// wrappers' prefixes, the 7×7 stem, and the typed record itself.
final class CheckpointTests: XCTestCase {
    private func write(_ sd: StateDict, _ name: String) throws -> URL {
        let url = try TestPaths.temporaryDirectory(self).appendingPathComponent(name)
        try Safetensors.save(sd, to: url)
        return url
    }

    /// A ResNet-20 checkpoint in the format of Tessera before the typed record, with `override` applied.
    private func legacyCheckpoint(_ override: [String: String]) throws -> URL {
        GlobalRandom.seed(1)
        let model = try ModelZoo.make("resnet20")
        var sd = StateDict()
        for (k, e) in model.stateDict() { sd.set("model." + k, e.tensor, dtype: e.dtype) }
        sd.metadata = ["format": "tessera-checkpoint", "model": "resnet20", "classes": "10",
                       "class_names": (0..<10).map { "c\($0)" }.joined(separator: "\n"), "input_shape": "3,32,32",
                       "mean": "0.5,0.5,0.5", "std": "0.25,0.25,0.25", "epoch": "1", "global_step": "10", "rng": "1,2,3,4"]
        sd.metadata.merge(override) { $1 }
        return try write(sd, "legacy.safetensors")
    }

    func testALegacyCheckpointStillLoadsAsTheTypedRecord() throws {
        let ckpt = try Checkpoint.load(from: legacyCheckpoint([:]))
        let info = try XCTUnwrap(ckpt.info)
        XCTAssertEqual(info.model, "resnet20")
        XCTAssertEqual(info.inputShape, [3, 32, 32])
        XCTAssertEqual(info.classNames.count, 10)
        XCTAssertEqual(info.mean, [0.5, 0.5, 0.5])
        XCTAssertEqual(info.rng, [1, 2, 3, 4])
        XCTAssertEqual(ckpt.epoch, 1)
    }

    func testMetadataThatCannotBeRightIsRefusedWhenTheCheckpointIsRead() throws {
        let cases: [([String: String], String)] = [
            (["input_shape": "0,0,0"], "input_shape [0, 0, 0]"),
            (["std": "0,0,0"], "std [0.0, 0.0, 0.0] must be finite and positive"),
            (["mean": "nan,0,0"], "is not finite"),
            (["epoch": "-5"], "epoch is -5"),
            (["classes": "0"], "classes is 0"),
            (["rng": "0,0,0,0"], "rng state"),
        ]
        for (override, phrase) in cases {
            XCTAssertThrowsError(try Checkpoint.load(from: legacyCheckpoint(override)), "\(override)") { error in
                XCTAssertTrue("\(error)".contains("checkpoint metadata is invalid"), "\(error)")
                XCTAssertTrue("\(error)".contains(phrase), "\(override): \(error)")
            }
        }
    }

    func testAGlobalStepThatDoesNotFitTheEpochsIsRefused() throws {
        var info = CheckpointInfo(model: "mlp", classNames: ["a", "b"], inputShape: [1, 4, 4], mean: [0], std: [1])
        info.epoch = 2; info.batchesPerEpoch = 10; info.globalStep = 1_000_000
        XCTAssertNotNil(info.problem)
        XCTAssertTrue(info.problem!.contains("global_step 1000000 is not 2 epochs of 10 steps"), info.problem!)
        info.globalStep = 23; info.stepInEpoch = 3
        XCTAssertNil(info.problem, "two epochs of 10 and 3 steps of the third")
        info.version = CheckpointInfo.currentVersion + 1
        XCTAssertTrue(info.problem!.contains("metadata version"), info.problem!)
    }

    func testTheRecordRoundTripsAsJSONUnderTheTesseraKey() throws {
        var info = CheckpointInfo(model: "resnet20", classNames: (0..<10).map { "c\($0)" }, inputShape: [3, 32, 32],
                                  mean: [0.4, 0.5, 0.6], std: [0.2, 0.2, 0.2])
        info.epoch = 3; info.globalStep = 30; info.rng = [9, 8, 7, 6]; info.batchesPerEpoch = 10
        info.partialEpoch = EpochTotals(lossSum: 1.5, correct: 3, seen: 7)
        let url = try TestPaths.temporaryDirectory(self).appendingPathComponent("c.safetensors")
        try Checkpoint(model: StateDict([("w", Tensor([1, 2]))]), info: info).save(to: url)
        let raw = try Safetensors.load(from: url)
        let json = try XCTUnwrap(raw.metadata["tessera"])
        XCTAssertTrue(json.contains("\"class_names\""), json)
        XCTAssertEqual(try Checkpoint.load(from: url).info, info)
    }

    func testNonFiniteWeightsAreRefusedOnLoadWithTheTensorNamed() throws {
        GlobalRandom.seed(2)
        let model = try ModelZoo.make("resnet20")
        var sd = model.stateDict()
        let bad = sd["conv1.weight"]!.clone()
        bad.withUnsafeMutableBufferPointer { $0[5] = .nan }
        sd["conv1.weight"] = bad
        let before = model.stateDict()["conv1.weight"]!.scalars
        XCTAssertThrowsError(try model.loadStateDict(sd)) { error in
            XCTAssertTrue("\(error)".contains("non-finite values"), "\(error)")
            XCTAssertTrue("\(error)".contains("conv1.weight"), "\(error)")
        }
        XCTAssertEqual(model.stateDict()["conv1.weight"]!.scalars, before, "nothing was copied")
    }

    func testPyTorchWrapperPrefixesAndMissingBatchCountsAreAdaptedWithNotes() throws {
        GlobalRandom.seed(3)
        let source = try ModelZoo.make("resnet20")
        for prefix in ["module.", "_orig_mod."] {
            var sd = StateDict()
            for (k, e) in source.stateDict() where !k.hasSuffix("num_batches_tracked") { sd.set(prefix + k, e.tensor, dtype: e.dtype) }
            let target = try ModelZoo.make("resnet20")
            let (adapted, notes) = StateDictAdapter.adapt(sd, to: target)
            XCTAssertNoThrow(try target.loadStateDict(adapted, strict: true), prefix)
            XCTAssertTrue(notes.contains { $0.contains("'\(prefix)' prefix") }, "\(notes)")
            XCTAssertTrue(notes.contains { $0.contains("num_batches_tracked") }, "\(notes)")
            XCTAssertEqual(target.stateDict()["layer1.0.conv1.weight"]!.scalars, source.stateDict()["layer1.0.conv1.weight"]!.scalars)
        }
    }

    func testATorchvisionStemLoadsIntoTheCIFARVariantWithEveryOtherLayer() throws {
        GlobalRandom.seed(4)
        let imagenet = withSkippedInitialization { resnet18(classes: 10) }
        let cifar = try ModelZoo.make("resnet18_cifar")
        let ownStem = cifar.stateDict()["conv1.weight"]!.scalars
        let (adapted, notes) = StateDictAdapter.adapt(imagenet.stateDict(), to: cifar)
        XCTAssertNoThrow(try cifar.loadStateDict(adapted, strict: true))
        XCTAssertTrue(notes.contains { $0.contains("7×7 ImageNet stem") }, "\(notes)")
        XCTAssertEqual(cifar.stateDict()["conv1.weight"]!.scalars, ownStem, "the 3×3 stem keeps its initialization")
        XCTAssertEqual(cifar.stateDict()["layer4.1.bn2.running_var"]!.scalars, imagenet.stateDict()["layer4.1.bn2.running_var"]!.scalars)
    }

    func testAFolderGivenAsACheckpointSaysSoAndPointsAtTheFileInside() throws {
        let dir = try TestPaths.temporaryDirectory(self)
        try Data([0]).write(to: dir.appendingPathComponent("last.safetensors"))
        XCTAssertThrowsError(try Checkpoint.load(from: dir)) { error in
            XCTAssertTrue("\(error)".contains("is a folder, not a checkpoint file"), "\(error)")
            XCTAssertTrue("\(error)".contains("last.safetensors?"), "\(error)")
        }
    }

    func testAtomicWritesLeaveTheOldFileOnFailureAndNameTheReason() throws {
        let dir = try TestPaths.temporaryDirectory(self)
        let url = dir.appendingPathComponent("f.json")
        try AtomicFile.write(Data("old".utf8), to: url)
        XCTAssertThrowsError(try AtomicFile.write(Data("new".utf8), to: dir)) { XCTAssertTrue("\($0)".contains("is a directory"), "\($0)") }
        XCTAssertThrowsError(try AtomicFile.write(Data("x".utf8), to: dir.appendingPathComponent("missing/f.json"))) {
            XCTAssertTrue("\($0)".contains("No such file or directory"), "\($0)")
        }
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "old")
        try Data("half".utf8).write(to: dir.appendingPathComponent(".f.json.tmp-1-2"))
        XCTAssertEqual(AtomicFile.removeLeftovers(in: dir), 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["f.json"])
    }
}
