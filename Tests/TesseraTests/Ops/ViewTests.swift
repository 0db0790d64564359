import Foundation
import XCTest
import TesseraTestSupport
@testable import Tessera

/// Views and shape ops (Tensor/Views.swift): shared storage, copies and gradients.
final class ViewTests: XCTestCase {
    func testReshapeAndFlattenGradientIncludingCopyingReshapeOfTransposedView() {
        let x = randn([4, 6], 44)
        GradCheck.check("reshape [4,6]→[2,3,4]", [x]) { $0[0].reshaped([2, 3, -1]) }
        GradCheck.check("reshape of transposed view (copies)", [x]) { $0[0].T.reshaped([24]) }
        GradCheck.check("flatten from 1 to 2", [randn([2, 3, 2, 2], 45)]) { $0[0].flattened(from: 1, to: 2) }
        GradCheck.check("unsqueeze then squeeze", [randn([3, 4], 46)]) { $0[0].unsqueezed(1).exp().squeezed(1) }
    }

    func testPermuteAndTransposeGradient() {
        let x = randn([2, 3, 4], 47)
        GradCheck.check("permute [2,0,1]", [x]) { $0[0].permuted([2, 0, 1]) }
        GradCheck.check("transpose 0,2", [x]) { $0[0].transposed(0, 2) }
        GradCheck.check("T", [randn([3, 5], 48)]) { $0[0].T }
    }

    func testSliceAndSelectGradient() {
        let x = randn([5, 6], 49)
        GradCheck.check("slice axis 1, 1..<6 step 2", [x]) { $0[0].slice(axis: 1, 1, 6, step: 2) }
        GradCheck.check("subscript rows 1..<4", [x]) { $0[0][1..<4] }
        GradCheck.check("select axis 1 index 2", [x]) { $0[0].select(axis: 1, 2) }
        GradCheck.check("select axis 0 index -1 of a transposed view", [x]) { $0[0].T.select(axis: 0, -1) }
    }

    func testExpandGradientSumsOverBroadcastDimensions() {
        GradCheck.check("expand [3,1]→[2,3,4]", [randn([3, 1], 50)]) { $0[0].expanded(to: [2, 3, 4]) }
    }

    func testConcatAndStackGradientIncludingNonContiguousInput() {
        GradCheck.check("concat axis 1 of [2,3], [3,2]ᵀ, [2,1]", [randn([2, 3], 51), randn([3, 2], 52), randn([2, 1], 53)]) {
            Tensor.concat([$0[0], $0[1].T, $0[2]], axis: 1)
        }
        GradCheck.check("concat axis 0", [randn([1, 3], 54), randn([2, 3], 55)]) { Tensor.concat([$0[0], $0[1]], axis: 0) }
        GradCheck.check("stack axis 1", [randn([2, 3], 56), randn([2, 3], 57)]) { Tensor.stack([$0[0], $0[1]], axis: 1) }
    }

    func testPadGradient() {
        GradCheck.check("pad last two dims with 0.5", [randn([2, 3, 4], 58)]) { $0[0].padded([(1, 2), (0, 1)], value: 0.5) }
    }

    func testContiguousGradientOfTransposedView() {
        GradCheck.check("contiguous of transposed view", [randn([3, 4], 59)]) { $0[0].T.contiguous() }
    }

    func testViewsShareStorageAndSeeWritesThroughAnyView() {
        let t = iota([2, 3])
        let r = t.reshaped([3, 2]), tr = t.T, s = t.slice(axis: 1, 1, 3), e = t.slice(axis: 0, 0, 1).expanded(to: [4, 3])
        for (name, v) in [("reshape", r), ("transpose", tr), ("slice", s), ("expand", e), ("select", t.select(axis: 0, 1))] {
            XCTAssertTrue(v.storage === t.storage, "\(name) should be a view of the same storage")
        }
        t[0, 2] = 100
        XCTAssertEqual(r[1, 0], 100)
        XCTAssertEqual(tr[2, 0], 100)
        XCTAssertEqual(s[0, 1], 100)
        XCTAssertEqual(e[3, 2], 100)
        tr[1, 1] = -5     // writes through the transpose land in t[1, 1]
        XCTAssertEqual(t[1, 1], -5)
        XCTAssertEqual(e.strides[0], 0, "expand broadcasts with stride 0")
        XCTAssertEqual(s.offset, 1)
    }

    func testContiguousCopiesOnlyWhenTheLayoutNeedsIt() {
        let t = iota([3, 4])
        XCTAssertTrue(t.isContiguous)
        XCTAssertTrue(t.contiguous().storage === t.storage, "contiguous() of a contiguous tensor must not copy")
        XCTAssertTrue(t[1..<3].isContiguous, "a row range of a contiguous tensor is contiguous")
        XCTAssertTrue(t[1..<3].contiguous().storage === t.storage)
        let tr = t.T
        XCTAssertFalse(tr.isContiguous)
        let c = tr.contiguous()
        XCTAssertFalse(c.storage === t.storage, "contiguous() of a transpose copies")
        XCTAssertTrue(c.isContiguous)
        XCTAssertEqual(c.scalars, [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
        XCTAssertFalse(t.slice(axis: 1, 0, 4, step: 2).isContiguous)
        // A reshape that the strides allow is a view; one that they do not copies.
        XCTAssertTrue(t.reshaped([2, 6]).storage === t.storage)
        XCTAssertEqual(tr.reshaped([12]).scalars, c.scalars)
    }

    func testAssignWritesIntoAViewInPlace() {
        let t = Tensor.zeros([3, 4])
        t.slice(axis: 1, 1, 3).assign(Tensor([1, 2], shape: [2]))
        XCTAssertEqual(t.scalars, [0, 1, 2, 0, 0, 1, 2, 0, 0, 1, 2, 0])
    }

    func testShapeOpsPadConcatStackAndFlatten() {
        let a = iota([2, 2])
        XCTAssertEqual(a.padded([(1, 0)], value: 9).scalars, [9, 0, 1, 9, 2, 3])
        XCTAssertEqual(a.padded([(0, 1), (1, 0)]).shape, [3, 3])
        XCTAssertEqual(Tensor.concat([a, a * 10], axis: 1).scalars, [0, 1, 0, 10, 2, 3, 20, 30])
        XCTAssertEqual(Tensor.stack([a, a + 1], axis: 0).shape, [2, 2, 2])
        XCTAssertEqual(Tensor.stack([a, a + 1], axis: 2).scalars, [0, 1, 1, 2, 2, 3, 3, 4])
        XCTAssertEqual(iota([2, 3, 4, 5]).flattened(from: 1).shape, [2, 60])
        XCTAssertEqual(iota([2, 3, 4]).permuted([2, 0, 1]).shape, [4, 2, 3])
        XCTAssertEqual(iota([2, 3, 4]).permuted([2, 0, 1])[3, 1, 2], iota([2, 3, 4])[1, 2, 3])
    }
}
