import Foundation
import Tessera
import XCTest
import TesseraTestSupport
@testable import TesseraVision

private struct ResizeFixture: Decodable {
    struct Case: Decodable {
        let shape: [Int]
        let out: [Int]
        let input: [Float]
        let output: [Float]
    }
    let torch_version: String
    let cases: [Case]
}

final class TransformTests: XCTestCase {
    /// A [C, H, W] tensor whose values encode their coordinates: 100c + 10y + x + 1.
    private func coordinates(_ c: Int, _ h: Int, _ w: Int) -> Tensor {
        var v: [Float] = []
        for ci in 0..<c { for y in 0..<h { for x in 0..<w { v.append(Float(100 * ci + 10 * y + x + 1)) } } }
        return Tensor(v, shape: [c, h, w])
    }

    /// Naive reference: pad (zero or reflect) then crop at (top, left) in padded coordinates.
    private func reference(_ t: Tensor, pad: Int, mode: PaddingMode, top: Int, left: Int, h: Int, w: Int) -> [Float] {
        let C = t.shape[0], H = t.shape[1], W = t.shape[2]
        func refl(_ i: Int, _ n: Int) -> Int { i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i) }
        var out: [Float] = []
        for c in 0..<C {
            for y in 0..<h {
                for x in 0..<w {
                    let sy = top + y - pad, sx = left + x - pad
                    if mode == .zero && (sy < 0 || sy >= H || sx < 0 || sx >= W) {
                        out.append(0)
                    } else {
                        out.append(t[c, refl(sy, H), refl(sx, W)])
                    }
                }
            }
        }
        return out
    }

    func testRandomCropMatchesNaivePadThenCropForZeroAndReflectPadding() {
        let t = coordinates(2, 5, 6)
        for mode in [PaddingMode.zero, .reflect] {
            let crop = RandomCrop(height: 4, width: 5, padding: 2, mode: mode)
            var seen = Set<[Int]>()
            for seed in 0..<60 {
                var g = SeededGenerator(seed: UInt64(seed))
                var probe = g
                let top = uniformInt(5 + 4 - 4 + 1, &probe), left = uniformInt(6 + 4 - 5 + 1, &probe)
                let out = crop(t, generator: &g)
                XCTAssertEqual(out.shape, [2, 4, 5])
                XCTAssertEqual(out.scalars, reference(t, pad: 2, mode: mode, top: top, left: left, h: 4, w: 5), "\(mode) top \(top) left \(left)")
                seen.insert([top, left])
            }
            XCTAssertGreaterThan(seen.count, 15, "offsets should vary with the seed")
        }
    }

    func testRandomCropIsDeterministicFromTheGeneratorState() {
        let t = coordinates(3, 8, 8)
        let chain = Compose([RandomCrop(size: 8, padding: 3, mode: .reflect), RandomHorizontalFlip(), Cutout(size: 3)])
        var a = SeededGenerator(seed: 77), b = SeededGenerator(seed: 77)
        XCTAssertEqual(chain(t, generator: &a).scalars, chain(t, generator: &b).scalars)
        XCTAssertEqual(a, b)
    }

    func testHorizontalFlipMirrorsEveryRowWhenDrawnAndNeverWithPZero() {
        let t = coordinates(2, 3, 4)
        var g = SeededGenerator(seed: 1)
        let flipped = RandomHorizontalFlip(p: 1)(t, generator: &g)
        XCTAssertEqual(flipped[1, 2, 0], t[1, 2, 3])
        XCTAssertEqual(flipped[0, 1, 1], t[0, 1, 2])
        XCTAssertEqual(RandomHorizontalFlip(p: 0)(t, generator: &g).scalars, t.scalars)
        var flips = 0
        for seed in 0..<200 {
            var gs = SeededGenerator(seed: UInt64(seed))
            if RandomHorizontalFlip()(t, generator: &gs).scalars != t.scalars { flips += 1 }
        }
        XCTAssertTrue((60...140).contains(flips), "p = 0.5 flipped \(flips) of 200")
    }

    func testAlternatingFlipShowsEveryImageBothWaysInConsecutiveEpochs() throws {
        var gen = SeededGenerator(seed: 9)
        let images = Tensor.randn([64, 2, 3, 5], generator: &gen)
        let data = TensorDataset(images: images, labels: [Int](repeating: 0, count: 64))
        let loader = DataLoader(dataset: data, batchSize: 64, shuffle: true, seed: 4, transform: AlternatingHorizontalFlip(seed: 4), prefetch: 0)
        func byIndex(_ epoch: Int) throws -> [Int: [Float]] {
            let batch = try XCTUnwrap(try loader.epoch(epoch).next())
            var out: [Int: [Float]] = [:]
            for (k, index) in batch.indices.enumerated() { out[index] = batch.images.select(axis: 0, k).contiguous().scalars }
            return out
        }
        let e0 = try byIndex(0), e1 = try byIndex(1), e2 = try byIndex(2)
        var flippedInFirstEpoch = 0
        for i in 0..<64 {
            let original = images.select(axis: 0, i).contiguous()
            let v: [Float] = original.scalars
            var mirrored: [Float] = []
            for row in 0..<(v.count / 5) { mirrored += v[(row * 5)..<(row * 5 + 5)].reversed() }   // rows of width 5 reversed
            XCTAssertTrue(e0[i] == original.scalars || e0[i] == mirrored, "image \(i) is shown as is or mirrored")
            XCTAssertEqual(e1[i], e0[i] == original.scalars ? mirrored : original.scalars, "epoch 1 shows image \(i) the other way")
            XCTAssertEqual(e2[i], e0[i], "even epochs agree")
            if e0[i] == mirrored { flippedInFirstEpoch += 1 }
        }
        XCTAssertTrue((16...48).contains(flippedInFirstEpoch), "about half start mirrored, got \(flippedInFirstEpoch) of 64")
    }

    func testNormalizeSubtractsMeanAndDividesByStdPerChannel() {
        let t = Tensor([0.5, 1, 0, 0.25], shape: [2, 1, 2])
        var g = SeededGenerator(seed: 0)
        let out = Normalize(mean: [0.5, 0.25], std: [0.5, 0.25])(t, generator: &g)
        XCTAssertEqual(out.scalars, [0, 1, -1, 0])
    }

    func testCutoutZeroesOneClippedSquareInEveryChannel() {
        let t = Tensor.ones([2, 10, 10])
        var zeroedCounts = Set<Int>()
        for seed in 0..<40 {
            var g = SeededGenerator(seed: UInt64(seed))
            let out = Cutout(size: 4)(t, generator: &g).scalars
            let plane0 = out[0..<100].filter { $0 == 0 }.count, plane1 = out[100..<200].filter { $0 == 0 }.count
            XCTAssertEqual(plane0, plane1)
            XCTAssertTrue(plane0 > 0 && plane0 <= 16)
            zeroedCounts.insert(plane0)
        }
        XCTAssertTrue(zeroedCounts.contains(16))
        XCTAssertTrue(zeroedCounts.count > 1, "squares at the border are clipped")
        var g = SeededGenerator(seed: 0)
        XCTAssertEqual(Cutout(size: 4, p: 0)(t, generator: &g).scalars, t.scalars)
    }

    func testBilinearResizeMatchesPyTorchInterpolate() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("resize.json", in: .module)))
        let fixture = try JSONDecoder().decode(ResizeFixture.self, from: data)
        XCTAssertFalse(fixture.cases.isEmpty)
        for c in fixture.cases {
            var g = SeededGenerator(seed: 0)
            let out = Resize(height: c.out[1], width: c.out[2])(Tensor(c.input, shape: c.shape), generator: &g)
            XCTAssertEqual(out.shape, c.out)
            for (a, b) in zip(out.scalars, c.output) { XCTAssertEqual(a, b, accuracy: 1e-6, "\(c.shape) -> \(c.out)") }
        }
    }

    func testCenterCropTakesTheMiddleWindowWithTorchvisionRounding() {
        let t = coordinates(1, 5, 6)
        var g = SeededGenerator(seed: 0)
        // top = round(3/2 = 1.5) = 2 (ties to even), left = round(4/2) = 2
        let out = CenterCrop(height: 2, width: 2)(t, generator: &g)
        XCTAssertEqual(out.scalars, [t[0, 2, 2], t[0, 2, 3], t[0, 3, 2], t[0, 3, 3]])
        // Larger than the image: zero padding around it.
        let padded = CenterCrop(height: 7, width: 6)(t, generator: &g)
        XCTAssertEqual(padded[0, 0, 0], 0)
        XCTAssertEqual(padded[0, 1, 0], t[0, 0, 0])
        XCTAssertEqual(padded[0, 6, 5], 0)
    }

    func testComposeChainsShapesAndSizesItsWorkspaceForTheLargestStep() {
        let chain = Compose([Resize(size: 40), CenterCrop(size: 32), RandomCrop(size: 28, padding: 2), Normalize.cifar10])
        let input = SampleShape(channels: 3, height: 20, width: 20)
        XCTAssertEqual(chain.outputShape(for: input), SampleShape(channels: 3, height: 28, width: 28))
        XCTAssertEqual(chain.workspaceCount(for: input), 3 * 40 * 40)
        var g = SeededGenerator(seed: 5)
        XCTAssertEqual(chain(Tensor.zeros([3, 20, 20]), generator: &g).shape, [3, 28, 28])
    }
}
