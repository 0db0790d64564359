import CTesseraKernels

// Shape and view operations. Views share storage with their source; each records a backward
// that maps the gradient of the view back onto the source's shape.

extension Tensor {
    /// A contiguous tensor with the same values: `self` when already contiguous, else a copy.
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        let out = clone()
        guard Tensor.isRecording(self) else { return out }
        return out.recorded("contiguous", input: self) { $0 }
    }

    /// The same elements in a new shape (one dimension may be -1 and is then inferred).
    /// A view when the layout allows, otherwise a contiguous copy.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var target = newShape
        let known = newShape.filter { $0 != -1 }.reduce(1, *)
        if let i = newShape.firstIndex(of: -1) {
            precondition(newShape.filter({ $0 == -1 }).count == 1, "reshape: more than one -1 in \(newShape)")
            precondition(known != 0 && count % known == 0, "reshape: cannot reshape \(shape) into \(newShape)")
            target[i] = count / known
        }
        precondition(Shape.count(target) == count && target.allSatisfy { $0 >= 0 },
                     "reshape: cannot reshape \(shape) (\(count) elements) into \(newShape)")
        if target == shape { return self }
        let src = contiguous()
        var out = Tensor(storage: src.storage, shape: target, strides: Shape.contiguousStrides(target), offset: src.offset)
        out.node = nil
        guard Tensor.isRecording(src) else { return out }
        let original = shape
        return out.recorded("reshape", input: src) { $0.reshaped(original) }
    }

    /// Flattens dimensions `start...end` into one, as `torch.flatten`.
    public func flattened(from start: Int = 0, to end: Int = -1) -> Tensor {
        if rank == 0 { return reshaped([1]) }
        let s = Shape.axis(start, rank: rank, op: "flatten"), e = Shape.axis(end, rank: rank, op: "flatten")
        precondition(s <= e, "flatten: start axis \(start) is after end axis \(end) for shape \(shape)")
        let merged = shape[s...e].reduce(1, *)
        return reshaped(Array(shape[..<s]) + [merged] + Array(shape[(e + 1)...]))
    }

    /// Inserts a dimension of size 1 at `axis`.
    public func unsqueezed(_ axis: Int) -> Tensor {
        let a = Shape.axis(axis, rank: rank + 1, op: "unsqueeze")
        var s = shape; s.insert(1, at: a)
        return reshaped(s)
    }

    /// Removes dimension `axis`, which must have size 1.
    public func squeezed(_ axis: Int) -> Tensor {
        let a = Shape.axis(axis, rank: rank, op: "squeeze")
        precondition(shape[a] == 1, "squeeze: dimension \(axis) of shape \(shape) is not 1")
        var s = shape; s.remove(at: a)
        return reshaped(s)
    }

    /// Reorders the dimensions: result dimension i is source dimension `order[i]`. A view.
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(order.count == rank && Set(order.map { Shape.axis($0, rank: rank, op: "permute") }).count == rank,
                     "permute: \(order) is not a permutation of the \(rank) dimensions of \(shape)")
        let o = order.map { Shape.axis($0, rank: rank, op: "permute") }
        var out = Tensor(storage: storage, shape: o.map { shape[$0] }, strides: o.map { strides[$0] }, offset: offset)
        guard Tensor.isRecording(self) else { return out }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, d) in o.enumerated() { inverse[d] = i }
        out = out.recorded("permute", input: self) { $0.permuted(inverse) }
        return out
    }

    /// Swaps two dimensions. A view.
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(Shape.axis(a, rank: rank, op: "transpose"), Shape.axis(b, rank: rank, op: "transpose"))
        return permuted(order)
    }

    /// The transpose of a 2-D tensor.
    public var T: Tensor {
        precondition(rank == 2, "T: expects a 2-D tensor, got shape \(shape)")
        return transposed(0, 1)
    }

    /// Elements `start..<end` (every `step`-th) along `axis`. A view.
    public func slice(axis: Int, _ start: Int, _ end: Int, step: Int = 1) -> Tensor {
        let a = Shape.axis(axis, rank: rank, op: "slice")
        precondition(step > 0, "slice: step must be positive, got \(step)")
        let n = shape[a]
        let lo = Swift.min(Swift.max(start < 0 ? start + n : start, 0), n)
        let hi = Swift.min(Swift.max(end < 0 ? end + n : end, lo), n)
        var s = shape, st = strides
        s[a] = (hi - lo + step - 1) / step
        st[a] = strides[a] * step
        let out = Tensor(storage: storage, shape: s, strides: st, offset: offset + lo * strides[a])
        guard Tensor.isRecording(self) else { return out }
        let inShape = shape
        return out.recorded("slice", input: self) { g in
            let full = Tensor.zeros(inShape)
            full.slice(axis: a, lo, hi, step: step).assign(g)
            return full
        }
    }

    /// Elements `range` along the first dimension (a view), as `t[a:b]` in PyTorch.
    public subscript(range: Range<Int>) -> Tensor { slice(axis: 0, range.lowerBound, range.upperBound) }

    /// The sub-tensor at `index` along `axis`, with that dimension removed. A view.
    public func select(axis: Int, _ index: Int) -> Tensor {
        let a = Shape.axis(axis, rank: rank, op: "select")
        let i = index < 0 ? index + shape[a] : index
        precondition(i >= 0 && i < shape[a], "select: index \(index) out of range for dimension \(axis) of shape \(shape)")
        return slice(axis: a, i, i + 1).squeezed(a)
    }

    /// Broadcasts to `target` without copying (stride 0 along the new or size-1 dimensions).
    public func expanded(to target: [Int]) -> Tensor {
        if target == shape { return self }
        precondition(target.count >= rank, "expand: cannot expand shape \(shape) to \(target)")
        let lead = target.count - rank
        var st = [Int](repeating: 0, count: target.count)
        for d in 0..<rank {
            precondition(shape[d] == target[lead + d] || shape[d] == 1, "expand: cannot expand shape \(shape) to \(target)")
            st[lead + d] = shape[d] == 1 && target[lead + d] != 1 ? 0 : strides[d]
        }
        let out = Tensor(storage: storage, shape: target, strides: st, offset: offset)
        guard Tensor.isRecording(self) else { return out }
        let original = shape
        return out.recorded("expand", input: self) { $0.sumToShape(original) }
    }

    /// Copies `source` (broadcast to this shape) into this tensor's elements, in place, without
    /// recording a gradient. Writes are seen by every view of the same storage.
    public func assign(_ source: Tensor) {
        let src = source.expanded(to: shape)
        defer { storage.markMutated() }
        let p = storage.pointer, q = src.storage.pointer
        Strided.forEachRow3(shape: shape, strides, src.strides, strides, offset, src.offset, 0, parallel: !Shape.hasOverlap(shape: shape, strides: strides)) { o, i, _, n, so, si, _ in
            tk_unary(TK_UNARY_COPY, n, q + i, si, p + o, so, 0, 0)
        }
    }

    /// Joins tensors along `axis`; all other dimensions must agree.
    public static func concat(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "concat: no tensors")
        let first = tensors[0]
        let a = Shape.axis(axis, rank: first.rank, op: "concat")
        for t in tensors {
            precondition(t.rank == first.rank && (0..<t.rank).allSatisfy { $0 == a || t.shape[$0] == first.shape[$0] },
                         "concat: shapes \(first.shape) and \(t.shape) do not fit along axis \(axis)")
        }
        var outShape = first.shape
        outShape[a] = tensors.reduce(0) { $0 + $1.shape[a] }
        let out = Tensor.zeros(outShape)
        var start = 0
        var ranges: [(Int, Int)] = []
        for t in tensors {
            let len = t.shape[a]
            withNoGrad { out.slice(axis: a, start, start + len).assign(t) }
            ranges.append((start, start + len))
            start += len
        }
        return out.recorded("concat", inputs: tensors) { g, needs in
            ranges.indices.map { i in needs[i] ? g.slice(axis: a, ranges[i].0, ranges[i].1).contiguous() : nil }
        }
    }

    /// Stacks equally shaped tensors along a new dimension `axis`.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "stack: no tensors")
        let a = Shape.axis(axis, rank: tensors[0].rank + 1, op: "stack")
        for t in tensors { precondition(t.shape == tensors[0].shape, "stack: shapes \(tensors[0].shape) and \(t.shape) differ") }
        return concat(tensors.map { $0.unsqueezed(a) }, axis: a)
    }

    /// Pads with a constant; `padding[i]` is (before, after) for dimension i counted from the
    /// *last* dimension backwards, as `torch.nn.functional.pad`'s pairs.
    public func padded(_ padding: [(Int, Int)], value: Float = 0) -> Tensor {
        precondition(padding.count <= rank, "pad: \(padding.count) padding pairs for shape \(shape)")
        var outShape = shape
        var starts = [Int](repeating: 0, count: rank)
        for (i, p) in padding.enumerated() {
            let d = rank - 1 - i
            precondition(p.0 >= 0 && p.1 >= 0, "pad: negative padding \(p) (cropping is done with slice)")
            outShape[d] += p.0 + p.1
            starts[d] = p.0
        }
        let out = Tensor.full(outShape, value)
        var region = out
        for d in 0..<rank { region = region.slice(axis: d, starts[d], starts[d] + shape[d]) }
        withNoGrad { region.assign(self) }
        guard Tensor.isRecording(self) else { return out }
        let inShape = shape
        return out.recorded("pad", input: self) { g in
            var r = g
            for d in 0..<inShape.count { r = r.slice(axis: d, starts[d], starts[d] + inShape[d]) }
            return r.contiguous()
        }
    }
}
