import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// Dropout (Ops/Dropout.swift): masks, scaling, reproducibility, gradients.
final class DropoutTests: XCTestCase {
    func testDropoutGradientWithAFixedGeneratorUsesTheSameMask() {
        GradCheck.check("dropout p 0.3 fixed generator", [randn([4, 5], 115)]) { t in
            var g = SeededGenerator(seed: 116)
            return t[0].dropout(p: 0.3, generator: &g)
        }
    }

    func testDropoutWithTheSameGeneratorGivesTheSameMaskAndScalesSurvivors() {
        let x = Tensor.ones([1000])
        var g1 = SeededGenerator(seed: 5), g2 = SeededGenerator(seed: 5)
        let a = x.dropout(p: 0.25, generator: &g1), b = x.dropout(p: 0.25, generator: &g2)
        XCTAssertEqual(a.scalars, b.scalars)
        let kept = a.scalars.filter { $0 != 0 }
        XCTAssertTrue(kept.allSatisfy { Swift.abs($0 - 1 / 0.75) < 1e-6 }, "survivors are scaled by 1/(1-p)")
        XCTAssertEqual(Double(kept.count) / 1000, 0.75, accuracy: 0.06)
        XCTAssertEqual(x.dropout(p: 0.5, training: false, generator: &g1).scalars, x.scalars, "evaluation mode is the identity")
        XCTAssertEqual(x.dropout(p: 0, generator: &g1).scalars, x.scalars, "p = 0 keeps everything")
        XCTAssertEqual(x.dropout(p: 1, generator: &g1).scalars, [Float](repeating: 0, count: 1000), "p = 1 drops everything")
    }

    func testDropoutWithTheGlobalGeneratorIsReproducibleAfterReseeding() {
        let x = Tensor.ones([200])
        GlobalRandom.seed(11)
        let a = x.dropout(p: 0.5)
        let b = x.dropout(p: 0.5)
        GlobalRandom.seed(11)
        let c = x.dropout(p: 0.5)
        XCTAssertEqual(a.scalars, c.scalars, "same seed, same mask")
        XCTAssertNotEqual(a.scalars, b.scalars, "the generator advances between calls")
    }
}
