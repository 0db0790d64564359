import Foundation
import XCTest
import Tessera
import TesseraNN
import TesseraVision
@testable import TesseraTraining

/// One process's part of a data-parallel run, without MPI: the shares, the loaders TrainingRun
/// builds from them, the learning-rate scaling and the resume guard.
final class DataShardTests: XCTestCase {
    /// Samples whose pixels are their index (3×16×16), so a batch says which samples it holds
    /// and how each was cropped and flipped.
    private struct Numbered: Dataset {
        let count: Int
        var sampleShape: SampleShape { SampleShape(channels: 3, height: 16, width: 16) }
        var classNames: [String] { ["even", "odd"] }
        func label(at index: Int) -> Int { index % 2 }
        func writeSample(at index: Int, into buffer: UnsafeMutableBufferPointer<Float>) throws {
            for i in buffer.indices { buffer[i] = Float(index * 1000 + i) }
        }
    }

    func testSharesFollowDistributedSamplerPaddingAndEvaluationBlocksCountEverySampleOnce() {
        // torch DistributedSampler(range(10), num_replicas=3, shuffle=False): [0,3,6,9], [1,4,7,0], [2,5,8,1]
        let order = Array(0..<10)
        XCTAssertEqual((0..<3).map { DataShard(rank: $0, count: 3).trainingIndices(of: order) }, [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]])
        XCTAssertEqual(DataShard(rank: 1, count: 3).trainingIndices(of: order, dropLast: true), [1, 4, 7])
        XCTAssertEqual(DataShard(rank: 2, count: 3).globalPosition(3), 11)
        XCTAssertEqual(DataShard.whole.trainingIndices(of: [4, 2, 7]), [4, 2, 7])
        for (n, k) in [(10_000, 3), (9_999, 4), (2, 3), (0, 2)] {
            XCTAssertEqual((0..<k).flatMap { Array(DataShard(rank: $0, count: k).evaluationRange(count: n)) }, Array(0..<n))
        }
        XCTAssertEqual(try DataShard(rank: 0, count: 4).batchSize(global: 128), 32)
        XCTAssertThrowsError(try DataShard(rank: 0, count: 3).batchSize(global: 128)) { error in
            XCTAssertTrue("\(error)".contains("--batch-size 128 is the global batch and must be a multiple of the 3 processes"), "\(error)")
        }
    }

    func testShardedLoadersTogetherGiveTheSingleLoadersBatchesAugmentedAlike() throws {
        let dataset = Numbered(count: 36), batch = 12, k = 3
        let transform = Compose([RandomCrop(size: 16, padding: 2, mode: .reflect), RandomHorizontalFlip()])
        let single = DataLoader(dataset: dataset, batchSize: batch, seed: 5, transform: transform, prefetch: 0)
        let shards = (0..<k).map { r in
            DataLoader(dataset: dataset, batchSize: batch / k, seed: 5, transform: transform, prefetch: 1,
                       sampleOrder: DataShard(rank: r, count: k).trainingOrder(of: single))
        }
        for epoch in 0..<2 {
            let whole = single.epoch(epoch), parts = shards.map { $0.epoch(epoch) }
            XCTAssertEqual(shards.map(\.batchCount), [3, 3, 3])
            while let b = try whole.next() {
                let images = b.images.scalars, per = images.count / batch
                for (r, part) in parts.enumerated() {
                    let p = try XCTUnwrap(try part.next())
                    let mine = p.images.scalars
                    // Rank r's image j is the single batch's image j·K + r, pixel for pixel.
                    for j in 0..<(batch / k) {
                        XCTAssertEqual(p.indices[j], b.indices[j * k + r])
                        XCTAssertEqual(Array(mine[(j * per)..<((j + 1) * per)]), Array(images[((j * k + r) * per)..<((j * k + r + 1) * per)]),
                                       "epoch \(epoch), batch \(b.index), rank \(r), image \(j) is not augmented as in one process")
                    }
                }
            }
        }
    }

    func testTrainingRunBuildsTheShardsLoadersScheduleAndCheckpointRecord() throws {
        let data = try tinyImageFolder(trainPerClass: 12, testPerClass: 5)
        var c = TrainConfig(data: data, out: FileManager.default.temporaryDirectory.appendingPathComponent("tessera-shard-\(UUID().uuidString)").path)
        c.model = "mlp"; c.batchSize = 6; c.epochs = 3; c.lr = 0.1; c.schedule = .constant; c.threads = 1
        var testIndices: [Int] = []
        for r in 0..<3 {
            let run = try TrainingRun(config: c, shard: DataShard(rank: r, count: 3))
            XCTAssertEqual(run.trainer.trainLoader.batchSize, 2)
            XCTAssertEqual(run.trainer.trainLoader.batchCount, 4, "24 images, 8 per process, in batches of 2")
            XCTAssertEqual(run.trainer.checkpointInfo?.processes, 3)
            XCTAssertEqual(run.trainer.checkpointInfo?.trainSamples, 24)
            testIndices += try XCTUnwrap(run.trainer.testLoader?.order(epoch: 0))
        }
        XCTAssertEqual(testIndices, Array(0..<10), "the processes' test blocks hold every test image once")
        let alone = try TrainingRun(config: c)
        XCTAssertNil(alone.trainer.trainLoader.sampleOrder)
        XCTAssertNil(alone.trainer.checkpointInfo?.processes)

        c.batchSize = 7
        XCTAssertThrowsError(try TrainingRun(config: c, shard: DataShard(rank: 0, count: 2))) {
            XCTAssertTrue("\($0)".contains("must be a multiple of the 2 processes"), "\($0)")
        }
        // Linear scaling: the rate times K, reached from --lr by the warm-up (Goyal et al.).
        c.batchSize = 8; c.lrScaling = .linear; c.warmupEpochs = 1
        let scaled = try TrainingRun(config: c, shard: DataShard(rank: 1, count: 4))
        let steps = scaled.trainer.trainLoader.batchCount
        XCTAssertEqual(scaled.schedule.lr(at: 0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(scaled.schedule.lr(at: steps), 0.4, accuracy: 1e-6)
        XCTAssertEqual(try TrainingRun(config: c).schedule.lr(at: steps), 0.1, accuracy: 1e-6, "one process: nothing to scale")
    }

    func testResumeOnAnotherNumberOfProcessesIsRefused() throws {
        let data = try tinyImageFolder(trainPerClass: 4)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-shard-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: out) }
        var c = TrainConfig(data: data, out: out.path)
        c.model = "mlp"; c.batchSize = 4; c.epochs = 2; c.threads = 1
        let first = try TrainingRun(config: c)
        first.trainer.showProgress = false
        first.trainer.epochs = 1
        try first.trainer.fit()
        let checkpoint = out.appendingPathComponent("last.safetensors")
        XCTAssertThrowsError(try TrainingRun(config: c, shard: DataShard(rank: 0, count: 2)).trainer.resume(from: checkpoint)) { error in
            guard case TrainingError.cannotResume = error else { return XCTFail("unexpected \(error)") }
            XCTAssertTrue("\(error)".contains("the run was trained by 1 process and this one has 2"), "\(error)")
        }
        XCTAssertNoThrow(try TrainingRun(config: c).trainer.resume(from: checkpoint))
    }
}
