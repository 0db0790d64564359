import XCTest
@testable import TesseraDistributed

final class SamplingTests: XCTestCase {
    private func shares(count: Int, ranks: Int, shuffle: Bool = false, dropLast: Bool = false, epoch: Int = 0) -> [[Int]] {
        (0..<ranks).map { DistributedSampler(count: count, rank: $0, ranks: ranks, shuffle: shuffle, seed: 5, dropLast: dropLast).indices(epoch: epoch) }
    }

    func testPaddingRepeatsTheStartOfTheOrderAsPyTorchDoes() {
        // torch DistributedSampler(range(10), num_replicas=3, shuffle=False): [0,3,6,9], [1,4,7,0], [2,5,8,1]
        XCTAssertEqual(shares(count: 10, ranks: 3), [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]])
        let s = DistributedSampler(count: 10, rank: 0, ranks: 3, shuffle: false)
        XCTAssertEqual(s.samplesPerRank, 4)
        XCTAssertEqual(s.totalSize, 12)
    }

    func testPaddingLongerThanTheDatasetRepeatsIt() {
        // 2 samples over 5 ranks: padded order [0, 1, 0, 1, 0]
        XCTAssertEqual(shares(count: 2, ranks: 5), [[0], [1], [0], [1], [0]])
        XCTAssertEqual(shares(count: 0, ranks: 3), [[], [], []])
    }

    func testDropLastCutsTheTail() {
        XCTAssertEqual(shares(count: 10, ranks: 3, dropLast: true), [[0, 3, 6], [1, 4, 7], [2, 5, 8]])
        XCTAssertEqual(DistributedSampler(count: 10, rank: 0, ranks: 3, dropLast: true).samplesPerRank, 3)
        XCTAssertEqual(shares(count: 2, ranks: 3, dropLast: true), [[], [], []])
    }

    func testEveryIndexOncePerEpochWhenDivisible() {
        for epoch in 0..<3 {
            let all = shares(count: 120, ranks: 4, shuffle: true, epoch: epoch)
            XCTAssertEqual(all.map(\.count), [30, 30, 30, 30])
            XCTAssertEqual(all.flatMap { $0 }.sorted(), Array(0..<120))
        }
    }

    func testPermutationDependsOnSeedAndEpochOnly() {
        let a = DistributedSampler(count: 100, rank: 0, ranks: 2, seed: 9)
        let b = DistributedSampler(count: 100, rank: 1, ranks: 2, seed: 9)
        XCTAssertEqual(a.permutation(epoch: 3), b.permutation(epoch: 3))
        XCTAssertEqual(a.permutation(epoch: 3).sorted(), Array(0..<100))
        XCTAssertNotEqual(a.permutation(epoch: 3), a.permutation(epoch: 4))
        XCTAssertNotEqual(a.permutation(epoch: 3), DistributedSampler(count: 100, rank: 0, ranks: 2, seed: 10).permutation(epoch: 3))
        XCTAssertEqual(DistributedSampler(count: 5, rank: 0, ranks: 1, shuffle: false).permutation(epoch: 7), [0, 1, 2, 3, 4])
    }

    func testStepBatchesOfAllRanksAreTheSingleProcessBatch() {
        let ranks = 3, perRank = 4, count = 60
        let global = DistributedSampler(count: count, rank: 0, ranks: 1, seed: 2).indices(epoch: 1)
        let all = (0..<ranks).map { DistributedSampler(count: count, rank: $0, ranks: ranks, seed: 2).indices(epoch: 1) }
        for step in 0..<(count / (perRank * ranks)) {
            let together = all.flatMap { $0[(step * perRank)..<((step + 1) * perRank)] }
            XCTAssertEqual(together.sorted(), global[(step * perRank * ranks)..<((step + 1) * perRank * ranks)].sorted())
        }
    }

    func testCallerOrderIsShardedAsTheOwnPermutation() {
        let order = Array((0..<7).reversed())
        XCTAssertEqual(DistributedSampler(count: 7, rank: 1, ranks: 2).indices(epoch: 0, order: order), [5, 3, 1, 6])
    }

    func testEvaluationShardsCountEverySampleOnce() {
        for (count, ranks) in [(10_000, 3), (10_000, 2), (9_999, 4), (2, 3), (0, 2)] {
            let shards = (0..<ranks).map { EvaluationShard(count: count, rank: $0, ranks: ranks) }
            XCTAssertEqual(shards.flatMap(\.indices), Array(0..<count))
            let sizes = shards.map(\.range.count)
            XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1)
        }
        XCTAssertEqual(EvaluationShard(count: 10_000, rank: 2, ranks: 3).range, 6666..<10_000)
    }

    func testMetricTotalsWeightBySamples() {
        var t = MetricTotals()
        XCTAssertTrue(t.meanLoss.isNaN)
        XCTAssertEqual(t.accuracy, 0)
        t.add(meanLoss: 2, count: 10, correct: 5)
        t.add(meanLoss: 1, count: 30, correct: 30)
        XCTAssertEqual(t.lossSum, 50)
        XCTAssertEqual(t.meanLoss, 1.25)
        XCTAssertEqual(t.accuracy, 35.0 / 40)
    }
}
