import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// The PyTorch fixture files themselves.
final class FixtureFileTests: XCTestCase {
    func testEveryFixtureFileRecordsTorchVersionSeedAndCases() throws {
        for name in ["conv2d", "pool", "batchnorm", "activations", "losses", "matmul"] {
            let f = try FixtureFile.load(name, from: .module)
            XCTAssertTrue(f.torchVersion.hasPrefix("2."), "\(name).json: torch version \(f.torchVersion)")
            XCTAssertGreaterThan(f.seed, 0, "\(name).json: seed")
            XCTAssertFalse(f.cases.isEmpty, "\(name).json: no cases")
            for c in f.cases {
                XCTAssertNotNil(c.tensors["output"], "\(name).json case \(c.name): no output")
                XCTAssertNotNil(c.tensors["upstream"], "\(name).json case \(c.name): no upstream gradient")
            }
        }
    }
}
