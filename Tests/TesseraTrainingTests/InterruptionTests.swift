import Foundation
import XCTest
import Tessera
import TesseraNN
import TesseraTestSupport
@testable import TesseraTraining

/// Runs that stop — a signal at any step, a second run on the same folder, data that changed —
/// and what a resume then does (on real CIFAR-10; skipped with a message when it is absent).
final class InterruptionTests: XCTestCase {
    private func config(out: URL, epochs: Int = 2, subset: Int = 600) throws -> TrainConfig {
        var c = TrainConfig(data: try TestPaths.data("cifar-10-batches-bin"), out: out.path)
        c.model = "mlp"; c.epochs = epochs; c.batchSize = 50; c.subset = subset; c.testSubset = 100
        c.optimizer = .sgd; c.lr = 0.05; c.schedule = .onecycle; c.labelSmoothing = 0.1; c.threads = 1
        tweak(&c)
        return c
    }

    /// Changes every configuration this test class builds (one test's variation of the run).
    private var tweak: (inout TrainConfig) -> Void = { _ in }

    /// A two-epoch run stopped after its first epoch, its checkpoint in `out`.
    private func firstOfTwoEpochs(out: URL) throws {
        let run = try TrainingRun(config: config(out: out, epochs: 2))
        run.trainer.showProgress = false
        run.trainer.epochs = 1
        try run.trainer.fit()
    }

    override func tearDown() { Interruption.reset() }

    private func weights(_ run: TrainingRun) -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: run.model.stateDict().map { ($0.key, $0.entry.tensor.scalars) })
    }

    /// A run stopped by a signal at `step` of `epoch`, then resumed in a fresh trainer.
    private func interruptedThenResumed(epoch: Int, step: Int, signal: Int32, out: URL) throws -> TrainingRun {
        let first = try TrainingRun(config: config(out: out))
        first.trainer.showProgress = false
        first.trainer.afterStep = { e, s in if e == epoch && s == step { Interruption.request(signal) } }
        XCTAssertThrowsError(try first.trainer.fit()) { error in
            guard case let TrainingError.interrupted(sig, e, s, saved) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual([sig, Int32(e), Int32(s)], [signal, Int32(epoch), Int32(step)])
            XCTAssertEqual(saved, out.appendingPathComponent("last.safetensors").path)
            XCTAssertEqual((error as! TrainingError).exitStatus, 128 + signal, "the shell convention: 130 for SIGINT, 143 for SIGTERM")
        }
        Interruption.reset()
        GlobalRandom.seed(999)   // the resume must not depend on this process's generator state
        let second = try TrainingRun(config: config(out: out))
        second.trainer.showProgress = false
        try second.trainer.resume(from: out.appendingPathComponent("last.safetensors"))
        XCTAssertEqual(second.trainer.globalStep, (epoch - 1) * second.trainer.trainLoader.batchCount + step)
        try second.trainer.fit()
        return second
    }

    func testASignalInTheFirstOrALaterEpochSavesTheStepAndTheResumeEndsBitForBitAsAnUninterruptedRun() throws {
        let straight = try TrainingRun(config: config(out: TestPaths.temporaryDirectory(self)))
        straight.trainer.showProgress = false
        try straight.trainer.fit()
        let expected = weights(straight)
        for (epoch, step, signal) in [(1, 3, SIGINT), (2, 7, SIGTERM), (1, 12, SIGHUP)] {
            let out = try TestPaths.temporaryDirectory(self)
            let resumed = try interruptedThenResumed(epoch: epoch, step: step, signal: signal, out: out)
            XCTAssertEqual(weights(resumed), expected, "stopped by \(Interruption.name(signal)) at epoch \(epoch) step \(step)")
            XCTAssertEqual(resumed.trainer.history.map(\.trainLoss), straight.trainer.history.map(\.trainLoss),
                           "the interrupted epoch reports the same training loss")
        }
    }

    func testRunsThatAverageTheirWeightsResumeBitForBitWithTheAverage() throws {
        for averaging in [AveragingKind.lookahead, .ema] {
            tweak = { $0.averaging = averaging; $0.emaDecay = 0.9 }
            let straight = try TrainingRun(config: config(out: TestPaths.temporaryDirectory(self)))
            straight.trainer.showProgress = false
            try straight.trainer.fit()
            let resumed = try interruptedThenResumed(epoch: 1, step: 8, signal: SIGTERM, out: TestPaths.temporaryDirectory(self))
            XCTAssertEqual(weights(resumed), weights(straight), "\(averaging): the resumed run ends as the uninterrupted one")
            XCTAssertEqual(resumed.trainer.history.map(\.testAccuracy), straight.trainer.history.map(\.testAccuracy), "\(averaging)")
            let saved = try Checkpoint.load(from: URL(fileURLWithPath: resumed.config.out).appendingPathComponent("last.safetensors"))
            XCTAssertFalse(saved.average.isEmpty, "\(averaging): the checkpoint carries the average")
        }
        // The EMA is what the last epoch evaluates and keeps: the weights differ from a run without it.
        tweak = { _ in }
        let plain = try TrainingRun(config: config(out: TestPaths.temporaryDirectory(self)))
        plain.trainer.showProgress = false
        try plain.trainer.fit()
        tweak = { $0.averaging = .ema; $0.emaDecay = 0.9 }
        let averaged = try TrainingRun(config: config(out: TestPaths.temporaryDirectory(self)))
        averaged.trainer.showProgress = false
        try averaged.trainer.fit()
        XCTAssertNotEqual(weights(plain), weights(averaged))
        tweak = { _ in }
    }

    func testOneCycleCyclesTheMomentumOfTheRunAndNoCycleMomentumKeepsIt() throws {
        let cycled = try TrainingRun(config: config(out: TestPaths.temporaryDirectory(self)))
        XCTAssertEqual(cycled.trainer.momentum?(0) ?? .nan, 0.95, accuracy: 1e-6, "the cycle starts at its highest momentum")
        let total = cycled.config.epochs * cycled.trainer.trainLoader.batchCount
        XCTAssertEqual(cycled.trainer.momentum?(Int(0.3 * Double(total)) - 1) ?? .nan, 0.85, accuracy: 1e-3, "and is lowest at the peak rate")
        var seen: [Float] = []
        cycled.trainer.showProgress = false
        cycled.trainer.epochs = 1
        cycled.trainer.afterStep = { _, _ in seen.append(cycled.optimizer.scheduledMomentum!) }
        try cycled.trainer.fit()
        XCTAssertEqual(seen.first ?? .nan, 0.95, accuracy: 1e-6)
        XCTAssertLessThan(seen.last!, 0.95, "the optimizer's momentum follows the schedule")
        tweak = { $0.cycleMomentum = false }
        let fixed = try TrainingRun(config: config(out: TestPaths.temporaryDirectory(self)))
        XCTAssertNil(fixed.trainer.momentum, "--no-cycle-momentum keeps --momentum")
        tweak = { _ in }
    }

    func testASignalAtTheLastStepOfAnEpochStopsAfterItsCheckpoint() throws {
        let out = try TestPaths.temporaryDirectory(self)
        let run = try TrainingRun(config: config(out: out))
        run.trainer.showProgress = false
        let last = run.trainer.trainLoader.batchCount
        run.trainer.afterStep = { e, s in if e == 1 && s == last { Interruption.request(SIGINT) } }
        XCTAssertThrowsError(try run.trainer.fit()) { error in
            guard case let TrainingError.interrupted(_, epoch, _, _) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(epoch, 1)
        }
        XCTAssertEqual(run.trainer.completedEpochs, 1, "the epoch was finished, evaluated and checkpointed")
        XCTAssertEqual(try Checkpoint.load(from: out.appendingPathComponent("last.safetensors")).info?.stepInEpoch, 0)
    }

    func testLeftoverTemporaryFilesOfAKilledWriteAreRemovedWhenTheRunStarts() throws {
        let out = try TestPaths.temporaryDirectory(self)
        let leftover = out.appendingPathComponent(".last.safetensors.tmp-4242-beef")
        try Data([1, 2, 3]).write(to: leftover)
        var c = try config(out: out, epochs: 1)
        c.subset = 100
        let run = try TrainingRun(config: c)
        run.trainer.showProgress = false
        try run.trainer.fit()
        XCTAssertFalse(FileManager.default.fileExists(atPath: leftover.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("last.safetensors").path))
    }

    func testAResumeAfterTheDataShrankIsRefusedWithTheReason() throws {
        let out = try TestPaths.temporaryDirectory(self)
        try firstOfTwoEpochs(out: out)
        let shrunk = try TrainingRun(config: config(out: out, epochs: 2, subset: 250))
        XCTAssertThrowsError(try shrunk.trainer.resume(from: out.appendingPathComponent("last.safetensors"))) { error in
            XCTAssertTrue("\(error)".contains("the data changed since the run started"), "\(error)")
            XCTAssertTrue("\(error)".contains("12 batches per epoch (600 training images)"), "\(error)")
        }
        // Fewer epochs than already done is refused too.
        let fewer = try TrainingRun(config: config(out: out, epochs: 2))
        fewer.trainer.epochs = 0
        XCTAssertThrowsError(try fewer.trainer.resume(from: out.appendingPathComponent("last.safetensors"))) { error in
            XCTAssertTrue("\(error)".contains("--epochs is 0"), "\(error)")
        }
    }

    func testACheckpointWithoutOptimizerStateResumesWithANoteThatItIsNotExact() throws {
        let out = try TestPaths.temporaryDirectory(self)
        try firstOfTwoEpochs(out: out)
        let path = out.appendingPathComponent("last.safetensors")
        var ckpt = try Checkpoint.load(from: path)
        ckpt.optimizer = StateDict()
        try ckpt.save(to: path)
        let resumed = try TrainingRun(config: config(out: out, epochs: 2))
        let notes = try resumed.trainer.resume(from: path)
        XCTAssertTrue(notes.contains { $0.contains("no optimizer state") && $0.contains("will not match") }, "\(notes)")
    }

    func testASecondRunOnTheSameFolderFailsAtOnceNamingTheFirstsProcess() throws {
        let out = try TestPaths.temporaryDirectory(self)
        do {
            let held = try RunLock(directory: out)
            XCTAssertThrowsError(try RunLock(directory: out)) { error in
                XCTAssertEqual(error as? RunLockError, .held(path: out.path, pid: getpid()))
                XCTAssertTrue("\(error)".contains("pid \(getpid())"), "\(error)")
            }
            withExtendedLifetime(held) {}
        }
        // The lock goes with its holder.
        XCTAssertNoThrow(try RunLock(directory: out))
        let file = out.appendingPathComponent("a-file")
        try Data().write(to: file)
        XCTAssertThrowsError(try RunLock(directory: file)) { XCTAssertTrue("\($0)".contains("is a file, not a folder"), "\($0)") }
    }

    func testFrozenBatchNormsKeepTheirRunningStatisticsWhileTheHeadTrains() throws {
        var c = try config(out: TestPaths.temporaryDirectory(self), epochs: 1, subset: 100)
        c.model = "resnet20"; c.freeze = .backbone; c.batchSize = 25
        let run = try TrainingRun(config: c)
        run.trainer.showProgress = false
        XCTAssertTrue(run.warnings.contains { $0.contains("frozen batch norms run in evaluation mode") }, "\(run.warnings)")
        let before = run.model.namedBuffers().map(\.tensor.scalars)
        let head = run.model.head.weight.scalars
        try run.trainer.fit()
        XCTAssertEqual(run.model.namedBuffers().map(\.tensor.scalars), before, "no running statistic or batch count moved")
        XCTAssertNotEqual(run.model.head.weight.scalars, head, "the head trained")
    }
}
