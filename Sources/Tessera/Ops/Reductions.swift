// Reductions over any set of axes, with `keepDims`.

extension Tensor {
    func normalizedAxes(_ axes: [Int]?, op: String) -> [Int] {
        guard let axes else { return Array(0..<rank) }
        let a = axes.map { Shape.axis($0, rank: rank, op: op) }
        precondition(Set(a).count == a.count, "\(op): repeated axis in \(axes) for shape \(shape)")
        return a.sorted()
    }

    func reducedShape(_ axes: [Int], keepDims: Bool) -> [Int] {
        var s: [Int] = []
        for d in 0..<rank {
            if axes.contains(d) { if keepDims { s.append(1) } } else { s.append(shape[d]) }
        }
        return s
    }

    /// Sum over `axes` (all when nil).
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes, op: "sum")
        let kept = reducedShape(ax, keepDims: true)
        let out = ReductionKernel.sum(self, axes: ax, kept: kept)
        let result = keepDims ? out : out.reshaped(reducedShape(ax, keepDims: false))
        guard Tensor.isRecording(self) else { return result }
        let inShape = shape
        return result.recorded("sum", input: self) { g in g.reshaped(kept).expanded(to: inShape).contiguous() }
    }

    /// Sum over one axis.
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    /// Mean over `axes` (all when nil).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes, op: "mean")
        let n = ax.reduce(1) { $0 * shape[$1] }
        return sum(axes: ax, keepDims: keepDims) * (1 / Float(Swift.max(n, 1)))
    }

    /// Mean over one axis.
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// Variance over `axes` with Bessel's `correction` (1: unbiased, as `torch.var`; 0: population).
    public func variance(axes: [Int]? = nil, correction: Int = 1, keepDims: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes, op: "variance")
        let n = ax.reduce(1) { $0 * shape[$1] }
        let centered = self - mean(axes: ax, keepDims: true)
        return (centered * centered).sum(axes: ax, keepDims: keepDims) * (1 / Float(Swift.max(n - correction, 1)))
    }

    /// log(Σ exp(x)) over `axes`, computed stably by subtracting the maximum first.
    public func logSumExp(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes, op: "logSumExp")
        let m = withNoGrad { max(axes: ax, keepDims: true).finiteOrZero() }
        let r = (self - m).exp().sum(axes: ax, keepDims: true).log() + m
        return keepDims ? r : r.reshaped(reducedShape(ax, keepDims: false))
    }

    /// Moves `axes` to the end and makes the result contiguous, so each reduction is one row.
    private func rowsForReduction(_ ax: [Int]) -> (rows: Tensor, rowLength: Int) {
        let keep = (0..<rank).filter { !ax.contains($0) }
        let moved = withNoGrad { permuted(keep + ax).contiguous() }
        return (moved, ax.reduce(1) { $0 * shape[$1] })
    }

    private func extremum(axes: [Int]?, keepDims: Bool, op: String, maximum: Bool) -> (Tensor, Tensor) {
        let ax = normalizedAxes(axes, op: op)
        let (rows, m) = rowsForReduction(ax)
        precondition(m > 0 || count == 0, "\(op): reduction over an empty dimension of shape \(shape)")
        let (values, indices) = ReductionKernel.extremum(rows: rows, rowLength: m, outShape: reducedShape(ax, keepDims: keepDims), maximum: maximum)
        guard Tensor.isRecording(self) else { return (values, indices) }
        let inShape = shape
        let keep = (0..<rank).filter { !ax.contains($0) }
        let recorded = values.recorded(op, input: self) { g in
            // Each gradient goes to the position of its extremum.
            let moved = ReductionKernel.scatter(g.contiguous(), indices: indices, rowLength: m,
                                                rowsShape: keep.map { inShape[$0] } + ax.map { inShape[$0] })
            var inverse = [Int](repeating: 0, count: inShape.count)
            for (i, d) in (keep + ax).enumerated() { inverse[d] = i }
            return moved.permuted(inverse).contiguous()
        }
        return (recorded, indices)
    }

    /// Maximum over `axes` (all when nil).
    public func max(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        extremum(axes: axes, keepDims: keepDims, op: "max", maximum: true).0
    }

    /// Minimum over `axes` (all when nil).
    public func min(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        extremum(axes: axes, keepDims: keepDims, op: "min", maximum: false).0
    }

    /// Maximum along `axis` with the index where it occurs (first on ties), as `torch.max(x, dim)`.
    public func max(axis: Int, keepDims: Bool = false) -> (values: Tensor, indices: Tensor) {
        let r = extremum(axes: [axis], keepDims: keepDims, op: "max", maximum: true)
        return (r.0, r.1)
    }

    /// Minimum along `axis` with the index where it occurs (first on ties), as `torch.min(x, dim)`.
    public func min(axis: Int, keepDims: Bool = false) -> (values: Tensor, indices: Tensor) {
        let r = extremum(axes: [axis], keepDims: keepDims, op: "min", maximum: false)
        return (r.0, r.1)
    }

    /// Index of the maximum along `axis` (as Float values), as `torch.argmax`.
    public func argmax(axis: Int, keepDims: Bool = false) -> Tensor {
        withNoGrad { max(axis: axis, keepDims: keepDims).indices }
    }

    /// Index of the minimum along `axis` (as Float values), as `torch.argmin`.
    public func argmin(axis: Int, keepDims: Bool = false) -> Tensor {
        withNoGrad { min(axis: axis, keepDims: keepDims).indices }
    }
}
