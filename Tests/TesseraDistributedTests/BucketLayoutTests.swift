import XCTest
@testable import TesseraDistributed

final class BucketLayoutTests: XCTestCase {
    func testBucketsFillInReverseOrderAndCloseOnceTheCapIsReached() {
        // 4-byte floats; caps 40 bytes (10 floats) for the first bucket, 80 (20) for the rest.
        let layout = BucketLayout(parameterCounts: [6, 6, 6, 8, 3, 4], firstBucketBytes: 40, bucketBytes: 80)
        XCTAssertEqual(layout.buckets.map(\.parameters), [[5, 4, 3], [2, 1, 0]])
        XCTAssertEqual(layout.buckets.map(\.count), [15, 18])
        XCTAssertEqual(layout.buckets[0].offsets, [0, 4, 7])
        XCTAssertEqual(layout.bucketOfParameter, [1, 1, 1, 0, 0, 0])
        XCTAssertEqual(layout.offsetOfParameter, [12, 6, 0, 7, 4, 0])
        XCTAssertEqual(layout.totalCount, 33)
    }

    func testAParameterLargerThanTheCapGetsItsOwnBucket() {
        let layout = BucketLayout(parameterCounts: [1, 1000, 1], firstBucketBytes: 8, bucketBytes: 8)
        XCTAssertEqual(layout.buckets.map(\.parameters), [[2, 1], [0]])
    }

    func testDefaultCapsForResNet20() {
        // CIFAR ResNet-20: 269,722 floats. The first bucket closes past 1 MiB (262,144 floats),
        // which leaves the stem and the first block's weights to a second, small bucket.
        let counts = resnet20Counts()
        XCTAssertEqual(counts.reduce(0, +), 269_722)
        let layout = BucketLayout(parameterCounts: counts)
        XCTAssertEqual(layout.firstBucketBytes, 1 << 20)
        XCTAssertEqual(layout.bucketBytes, 25 << 20)
        XCTAssertEqual(layout.buckets.count, 2)
        XCTAssertGreaterThanOrEqual(layout.buckets[0].count * 4, 1 << 20)
        XCTAssertLessThan((layout.buckets[0].count - counts[layout.buckets[0].parameters.last!]) * 4, 1 << 20)
        XCTAssertEqual(layout.buckets.flatMap(\.parameters), Array(counts.indices.reversed()))
    }

    func testEveryParameterOnceWithContiguousOffsets() {
        let counts = [5, 0, 17, 3, 3, 100, 1, 64]
        let layout = BucketLayout(parameterCounts: counts, firstBucketBytes: 16, bucketBytes: 100)
        XCTAssertEqual(layout.buckets.flatMap(\.parameters).sorted(), Array(counts.indices))
        for b in layout.buckets {
            var offset = 0
            for (p, o) in zip(b.parameters, b.offsets) {
                XCTAssertEqual(o, offset)
                offset += counts[p]
            }
            XCTAssertEqual(offset, b.count)
        }
        XCTAssertEqual(BucketLayout(parameterCounts: []).buckets, [])
    }

    /// The parameter sizes of CIFAR ResNet-20 in registration order (conv, bn weight, bn bias, …).
    private func resnet20Counts() -> [Int] {
        var counts = [3 * 16 * 9, 16, 16]
        for (planes, inPlanes) in [(16, 16), (32, 16), (64, 32)] {
            for block in 0..<3 {
                let input = block == 0 ? inPlanes : planes
                counts += [input * planes * 9, planes, planes, planes * planes * 9, planes, planes]
            }
        }
        return counts + [64 * 10, 10]
    }
}
