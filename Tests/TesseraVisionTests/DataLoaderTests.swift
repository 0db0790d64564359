import Foundation
import Tessera
import XCTest
import TesseraTestSupport
@testable import TesseraVision

/// A dataset whose sample i is filled with i / 1000 and labelled i % 3; optionally throws at one index.
private struct CountingDataset: Dataset {
    let count: Int
    var failAt: Int? = nil
    var sampleShape: SampleShape { SampleShape(channels: 2, height: 4, width: 4) }
    var classNames: [String] { ["a", "b", "c"] }
    func label(at index: Int) -> Int { index % 3 }
    struct Failure: Error, Equatable { let index: Int }
    func writeSample(at index: Int, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        if index == failAt { throw Failure(index: index) }
        for k in 0..<sampleShape.count { buffer[k] = Float(index) / 1000 + Float(k) * 1e-6 }
    }
}

final class DataLoaderTests: XCTestCase {
    private let augment = Compose([RandomCrop(size: 4, padding: 1, mode: .reflect), RandomHorizontalFlip(), Cutout(size: 2, p: 0.5)])

    private func collect(_ loader: DataLoader, epoch: Int) throws -> [Batch] {
        var out: [Batch] = []
        try loader.forEachBatch(epoch: epoch) { out.append($0) }
        return out
    }

    func testSameSeedGivesIdenticalBatchesRegardlessOfPrefetchAndWorkers() throws {
        let ds = CountingDataset(count: 37)
        let sync = DataLoader(dataset: ds, batchSize: 8, seed: 42, transform: augment, prefetch: 0)
        let threaded = DataLoader(dataset: ds, batchSize: 8, seed: 42, transform: augment, prefetch: 3, workers: 3)
        for epoch in 0..<2 {
            let a = try collect(sync, epoch: epoch), b = try collect(threaded, epoch: epoch)
            XCTAssertEqual(a.count, 5)
            XCTAssertEqual(a.map(\.indices), b.map(\.indices))
            XCTAssertEqual(a.map(\.images.scalars), b.map(\.images.scalars))
            XCTAssertEqual(a.map(\.index), [0, 1, 2, 3, 4])
        }
    }

    func testSuccessiveEpochsVisitEverySampleOnceInDifferentOrders() throws {
        let loader = DataLoader(dataset: CountingDataset(count: 50), batchSize: 16, seed: 7, prefetch: 2)
        let e0 = try collect(loader, epoch: 0).flatMap(\.indices)
        let e1 = try collect(loader, epoch: 1).flatMap(\.indices)
        XCTAssertEqual(e0.sorted(), Array(0..<50))
        XCTAssertEqual(e1.sorted(), Array(0..<50))
        XCTAssertNotEqual(e0, e1)
        XCTAssertNotEqual(e0, Array(0..<50))
        let otherSeed = DataLoader(dataset: CountingDataset(count: 50), batchSize: 16, seed: 8, prefetch: 0)
        XCTAssertNotEqual(try collect(otherSeed, epoch: 0).flatMap(\.indices), e0)
    }

    func testBatchesCarryImagesAndLabelsOfTheirIndices() throws {
        let ds = CountingDataset(count: 10)
        let loader = DataLoader(dataset: ds, batchSize: 4, shuffle: false, prefetch: 1)
        let batches = try collect(loader, epoch: 3)
        XCTAssertEqual(batches.map(\.count), [4, 4, 2])
        XCTAssertEqual(batches.flatMap(\.indices), Array(0..<10))
        let last = batches[2]
        XCTAssertEqual(last.images.shape, [2, 2, 4, 4])
        XCTAssertEqual(last.labelIndices, [8 % 3, 9 % 3])
        XCTAssertEqual(last.labels.scalars, [2, 0])
        XCTAssertEqual(last.images[1, 0, 0, 0], 0.009)
        XCTAssertEqual(last.images.scalars, try Tensor.stack([ds.sample(at: 8).image, ds.sample(at: 9).image], axis: 0).scalars)
    }

    func testDropLastLeavesOutTheIncompleteBatch() throws {
        let loader = DataLoader(dataset: CountingDataset(count: 10), batchSize: 4, dropLast: true, prefetch: 2)
        XCTAssertEqual(loader.batchCount, 2)
        XCTAssertEqual(try collect(loader, epoch: 0).map(\.count), [4, 4])
    }

    func testDatasetErrorSurfacesFromBackgroundWorkerAndEndsTheEpoch() throws {
        let loader = DataLoader(dataset: CountingDataset(count: 20, failAt: 13), batchSize: 5, shuffle: false, prefetch: 2, workers: 2)
        let epoch = loader.epoch(0)
        XCTAssertNotNil(try epoch.next())
        XCTAssertNotNil(try epoch.next())
        XCTAssertThrowsError(try epoch.next()) { error in
            XCTAssertEqual(error as? CountingDataset.Failure, CountingDataset.Failure(index: 13))
        }
        XCTAssertNil(try epoch.next())
    }

    func testAbandoningAnEpochEarlyStopsItsWorkersAndReleasesItsBatches() throws {
        let loader = DataLoader(dataset: CountingDataset(count: 400), batchSize: 4, seed: 1, transform: augment, prefetch: 4, workers: 2)
        let live = LiveBuffers.count
        for epoch in 0..<5 {
            let it = loader.epoch(epoch)
            XCTAssertEqual(try it.next()?.count, 4)
        }  // each iterator is released here; its deinit cancels and joins its workers
        XCTAssertEqual(LiveBuffers.count, live, "prefetched batches of abandoned epochs are freed")
        XCTAssertEqual(try collect(loader, epoch: 9).count, 100)
    }

    func testSampleOrderReplacesTheLoadersOwnOrder() throws {
        let ds = CountingDataset(count: 20)
        let order = SampleOrder(count: 5) { epoch in [epoch, 19, 3, 3, 0] }
        for prefetch in [0, 2] {
            let loader = DataLoader(dataset: ds, batchSize: 2, shuffle: true, seed: 1, prefetch: prefetch, sampleOrder: order)
            XCTAssertEqual(loader.batchCount, 3)
            XCTAssertEqual(loader.order(epoch: 4), [4, 19, 3, 3, 0])
            let batches = try collect(loader, epoch: 7)
            XCTAssertEqual(batches.map(\.indices), [[7, 19], [3, 3], [0]])
            XCTAssertEqual(batches[0].images.scalars.first, 7.0 / 1000)
        }
        XCTAssertEqual(DataLoader(dataset: ds, batchSize: 2, dropLast: true, sampleOrder: order).batchCount, 2)
    }

    func testThroughputMeasurementCountsDeliveredImages() throws {
        let loader = DataLoader(dataset: CountingDataset(count: 30), batchSize: 8, transform: augment)
        let t = try loader.measureThroughput(epoch: 0, maxBatches: 3)
        XCTAssertEqual(t.images, 24)
        XCTAssertEqual(t.batches, 3)
    }

    func testCIFAR10LoaderWithStandardAugmentationIsDeterministic() throws {
        let root = try TestPaths.data("cifar-10-batches-bin")
        let test = try CIFAR10(root: root, split: .test)
        let chain = Compose([RandomCrop(size: 32, padding: 4), RandomHorizontalFlip(), Normalize.cifar10])
        let a = DataLoader(dataset: test, batchSize: 128, seed: 11, transform: chain, prefetch: 2)
        let b = DataLoader(dataset: test, batchSize: 128, seed: 11, transform: chain, prefetch: 0)
        let ea = a.epoch(1), eb = b.epoch(1)
        for _ in 0..<3 {
            let x = try XCTUnwrap(ea.next()), y = try XCTUnwrap(eb.next())
            XCTAssertEqual(x.images.shape, [128, 3, 32, 32])
            XCTAssertEqual(x.indices, y.indices)
            XCTAssertEqual(x.images.scalars, y.images.scalars)
            XCTAssertEqual(x.labelIndices, x.indices.map { test.label(at: $0) })
        }
    }
}
