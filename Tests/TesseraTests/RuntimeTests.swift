import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera
import CTesseraKernels

/// The engine runtime (Runtime/): the buffer pool and the thread pool.
final class RuntimeTests: XCTestCase {
    func testFreedLargeBuffersAreReusedAndCanBeReleased() {
        BufferPool.releaseCached()
        var first: UnsafeMutablePointer<Float>?
        do {
            let t = Tensor.zeros([256, 1024])            // 1 MiB: pooled
            first = t.storage.pointer
        }
        XCTAssertGreaterThanOrEqual(BufferPool.cachedBytes, 1 << 20, "a freed 1 MiB buffer is kept")
        let again = Tensor.ones([256, 1024])
        XCTAssertEqual(again.storage.pointer, first, "the same size gets the cached buffer back")
        XCTAssertEqual(again.scalars.allSatisfy { $0 == 1 }, true, "a reused buffer is initialized by its creator")
        BufferPool.releaseCached()
        XCTAssertEqual(BufferPool.cachedBytes, 0)
    }

    func testThePoolKeepsAnEighthOfTheMemoryIdleWithinItsBounds() {
        let eighth = Int(clamping: ProcessInfo.processInfo.physicalMemory / 8)
        XCTAssertEqual(BufferPool.defaultMaximumCachedBytes, min(max(eighth, 512 << 20), 4 << 30))
        // A buffer over the limit goes back to the system; the limit can be lowered and restored.
        let saved = BufferPool.maximumCachedBytes
        defer { BufferPool.maximumCachedBytes = saved }
        BufferPool.releaseCached()
        BufferPool.maximumCachedBytes = 1 << 20
        do { _ = Tensor.zeros([512, 1024]) }      // 2 MiB: over the limit
        XCTAssertEqual(BufferPool.cachedBytes, 0)
        do { _ = Tensor.zeros([256, 512]) }       // 512 KiB: kept
        XCTAssertEqual(BufferPool.cachedBytes, 512 << 10)
        BufferPool.releaseCached()
    }

    /// Counts of how often each part ran, written from the parts (each slot by one part only).
    private final class Counts: @unchecked Sendable {
        let slots: UnsafeMutableBufferPointer<Int>
        init(_ n: Int) { slots = .allocate(capacity: n); slots.initialize(repeating: 0) }
        deinit { slots.deallocate() }
        var runs: [Int] { Array(slots) }
        func add(_ i: Int) { slots[i] += 1 }
    }

    func testEveryPartOfAParallelLoopRunsExactlyOnceWhateverTheThreadCount() {
        let saved = Runtime.threads
        defer { Runtime.threads = saved }
        for threads in [1, 2, 3, 8] {
            Runtime.threads = threads
            for parts in [1, 2, 3, 7, 64] {
                for _ in 0..<200 {
                    let counts = Counts(parts)
                    Parallel.run(parts: parts) { counts.add($0) }
                    XCTAssertEqual(counts.runs, [Int](repeating: 1, count: parts), "\(parts) parts on \(threads) threads")
                }
            }
        }
    }

    func testALoopInsideAPartRunsOnThatThreadAndCompletes() {
        let saved = Runtime.threads
        defer { Runtime.threads = saved }
        Runtime.threads = 4
        let counts = Counts(4 * 5)
        Parallel.run(parts: 4) { outer in
            Parallel.run(parts: 5) { inner in counts.add(outer * 5 + inner) }
        }
        XCTAssertEqual(counts.runs, [Int](repeating: 1, count: 20))
    }

    func testLoopsStartedFromSeveralThreadsAtOnceAllComplete() {
        let saved = Runtime.threads
        defer { Runtime.threads = saved }
        Runtime.threads = 2
        // Four threads start loops at the same time: one holds the pool, the others run their
        // parts on Dispatch's threads; every part of every loop runs once.
        let totals = Counts(4)
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for _ in 0..<300 {
                let counts = Counts(3)
                Parallel.run(parts: 3) { counts.add($0) }
                if counts.runs == [1, 1, 1] { totals.add(caller) }
            }
        }
        XCTAssertEqual(totals.runs, [300, 300, 300, 300])
    }

    func testAParallelSumMatchesTheSerialOneAfterTheWorkersHaveParked() {
        let saved = Runtime.threads
        defer { Runtime.threads = saved }
        Runtime.threads = 2
        var g = SeededGenerator(seed: 3)
        let x = Tensor.randn([1 << 18], generator: &g)
        let expected = x.scalars.map { max($0, 0) }
        XCTAssertEqual(x.relu().scalars, expected)
        // Longer than the workers spin: they park, and the next loop wakes them.
        usleep(UInt32(tk_pool_spin_microseconds()) * 3)
        XCTAssertEqual(x.relu().scalars, expected)
        tk_pool_park_idle()
        XCTAssertEqual(x.relu().scalars, expected)
        XCTAssertGreaterThanOrEqual(tk_pool_workers(), 1, "the loops ran on the pool's workers")
    }
}
