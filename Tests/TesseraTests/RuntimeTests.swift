import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// The engine runtime (Runtime/): the buffer pool.
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
}
