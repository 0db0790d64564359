import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// Tensor creation, seeded generators, zero-size tensors and printing (Tensor/).
final class TensorTests: XCTestCase {
    func testZeroSizeBatchesPassThroughConvolutionPoolingSoftmaxAndLinear() {
        let x = Tensor.zeros([0, 3, 5, 5])
        XCTAssertEqual(x.conv2d(weight: Tensor.ones([4, 3, 3, 3]), bias: Tensor.ones([4]), padding: 1).shape, [0, 4, 5, 5])
        XCTAssertEqual(x.conv2d(weight: Tensor.ones([4, 3, 1, 1])).shape, [0, 4, 5, 5])
        XCTAssertEqual(x.maxPool2d(kernelSize: 2).shape, [0, 3, 2, 2])
        XCTAssertEqual(x.avgPool2d(kernelSize: 2).shape, [0, 3, 2, 2])
        XCTAssertEqual(x.adaptiveAvgPool2d(1).shape, [0, 3, 1, 1])
        XCTAssertEqual(Tensor.zeros([0, 5]).softmax().shape, [0, 5])
        XCTAssertEqual(Tensor.zeros([0, 5]).logSoftmax().shape, [0, 5])
        XCTAssertEqual(Tensor.zeros([0, 4]).linear(weight: Tensor.ones([2, 4]), bias: Tensor.ones([2])).shape, [0, 2])
        XCTAssertEqual(crossEntropy(Tensor.zeros([0, 5]), [Int](), reduction: .sum).item(), 0)
    }

    func testCreationHelpersProduceTheDocumentedValues() {
        XCTAssertEqual(Tensor.arange(1, 2.5, step: 0.5).scalars, [1, 1.5, 2])
        XCTAssertEqual(Tensor.linspace(0, 1, count: 5).scalars, [0, 0.25, 0.5, 0.75, 1])
        XCTAssertEqual(Tensor.eye(2, 3).scalars, [1, 0, 0, 0, 1, 0])
        XCTAssertEqual(Tensor.full([2, 2], 7).scalars, [7, 7, 7, 7])
        XCTAssertEqual(Tensor(scalar: 3).shape, [])
        XCTAssertEqual(Tensor(scalar: 3).item(), 3)
        let t = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        XCTAssertEqual(t[1, 2], 6)
        XCTAssertEqual(t[-1, 0], 4)
    }

    func testSeededGeneratorsReproduceTheSameSamples() {
        var g1 = SeededGenerator(seed: 42), g2 = SeededGenerator(seed: 42), g3 = SeededGenerator(seed: 43)
        let a = Tensor.randn([50], generator: &g1), b = Tensor.randn([50], generator: &g2), c = Tensor.randn([50], generator: &g3)
        XCTAssertEqual(a.scalars, b.scalars)
        XCTAssertNotEqual(a.scalars, c.scalars)
        let bound = (6 / Float(3 * 9)).squareRoot()   // kaiming uniform, a = 0: gain √2 · √(3 / fanIn) with fanIn 27
        let k = Tensor.kaimingUniform([8, 3, 3, 3], generator: &g1)
        XCTAssertTrue(k.scalars.allSatisfy { Swift.abs($0) <= bound }, "kaimingUniform samples exceed ±\(bound)")
        XCTAssertEqual(Tensor.fans([8, 3, 3, 3]).fanIn, 27)
        XCTAssertEqual(Tensor.fans([8, 3, 3, 3]).fanOut, 72)
    }

    func testZeroSizeDimensionsGiveEmptyResultsWithoutCrashing() {
        let empty = Tensor.zeros([0, 3])
        XCTAssertEqual(empty.count, 0)
        XCTAssertEqual((empty + Tensor.ones([3])).shape, [0, 3])
        XCTAssertEqual((empty * empty).shape, [0, 3])
        XCTAssertEqual(empty.exp().shape, [0, 3])
        XCTAssertEqual(empty.relu().shape, [0, 3])
        XCTAssertEqual(empty.scalars, [])
        XCTAssertEqual(empty.sum().item(), 0)
        XCTAssertEqual(empty.sum(axis: 0).scalars, [0, 0, 0])
        XCTAssertEqual(empty.sum(axis: 1).shape, [0])
        XCTAssertEqual(empty.T.contiguous().shape, [3, 0])
        XCTAssertEqual(empty.reshaped([3, 0, 5]).shape, [3, 0, 5])
        XCTAssertEqual(Tensor.zeros([2, 0]).matmul(Tensor.zeros([0, 3])).scalars, [0, 0, 0, 0, 0, 0], "a sum over an empty inner dimension is 0")
        XCTAssertEqual(empty.matmul(Tensor.ones([3, 4])).shape, [0, 4])
        XCTAssertEqual(Tensor.ones([2, 3]).matmul(Tensor.ones([3, 0])).shape, [2, 0])
        XCTAssertEqual(Tensor.concat([Tensor.ones([2, 3]), empty], axis: 0).scalars, [1, 1, 1, 1, 1, 1])
        XCTAssertEqual(Tensor.concat([empty, empty], axis: 1).shape, [0, 6])
        XCTAssertEqual(Tensor.arange(0, 0).shape, [0])
    }

    func testDescriptionPrintsValuesLikePyTorchFollowedByTheShape() {
        let t = Tensor([1, 2.5, -3, 4, 5, 6], shape: [2, 3])
        XCTAssertEqual(t.description, "tensor([[ 1.0000,  2.5000, -3.0000],\n        [ 4.0000,  5.0000,  6.0000]], shape=[2, 3])")
        XCTAssertEqual(Tensor([1, 2, 30]).description, "tensor([ 1.,  2., 30.], shape=[3])")
        XCTAssertEqual(Tensor(scalar: 0.5).description, "tensor(0.5000, shape=[])")
        var w = Tensor([1, 2])
        w.requiresGrad = true
        XCTAssertTrue(w.description.contains("requiresGrad=true"), w.description)
        XCTAssertEqual(Tensor.zeros([0, 3]).description.contains("shape=[0, 3]"), true, Tensor.zeros([0, 3]).description)
    }

    func testDescriptionOfALargeTensorIsAbbreviated() {
        let big = Tensor.arange(0, 100_000).reshaped([100, 1000])
        let d = big.description
        XCTAssertTrue(d.contains("..."), "a large tensor is abbreviated with ...: \(d.prefix(300))")
        XCTAssertLessThan(d.count, 1_000, "abbreviated description should be short, got \(d.count) characters")
        XCTAssertTrue(d.hasPrefix("tensor([["), String(d.prefix(80)))
        XCTAssertTrue(d.hasSuffix("99999.]], shape=[100, 1000])"), "the last value and the shape end it: \(d.suffix(80))")
        XCTAssertFalse(d.contains("500."), "middle values are elided: \(d)")
        XCTAssertEqual(d.split(separator: "\n").filter { $0.contains("[") }.count, 6, "three leading and three trailing rows: \(d)")
    }
}
