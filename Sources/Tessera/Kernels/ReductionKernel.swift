import CTesseraKernels

/// Reductions over raw buffers: sums over any axes, and extrema along rows.
enum ReductionKernel {
    /// Σ of x over the dimensions where `kept` is 1 and x is not: out has shape `kept` (x's rank,
    /// reduced dimensions of size 1).
    static func sum(_ x: Tensor, axes: [Int], kept: [Int]) -> Tensor {
        let out = Tensor.zeros(kept)
        // Walk the input; the output is read through strides that are 0 along reduced axes.
        var outStrides = Shape.contiguousStrides(kept)
        for d in axes { outStrides[d] = 0 }
        let p = x.storage.pointer, q = out.storage.pointer
        Strided.forEachRow3(shape: x.shape, x.strides, outStrides, outStrides, x.offset, 0, 0) { oi, oo, _, n, si, so, _ in
            if so == 0 {
                q[oo] += si == 1 ? tk_sum(n, p + oi) : stridedSum(p + oi, n, si)
            } else {
                for k in 0..<n { q[oo + k * so] += p[oi + k * si] }
            }
        }
        return out
    }

    private static func stridedSum(_ p: UnsafePointer<Float>, _ n: Int, _ stride: Int) -> Float {
        var acc: Float = 0
        for k in 0..<n { acc += p[k * stride] }
        return acc
    }

    /// The maximum (or minimum) of each row of a contiguous x [outer, m] and its first index
    /// (a NaN wins): values and indices (as Float) in `outShape`.
    static func extremum(rows x: Tensor, rowLength m: Int, outShape: [Int], maximum: Bool) -> (values: Tensor, indices: Tensor) {
        let values = Tensor(empty: outShape), indices = Tensor(empty: outShape)
        let p = x.ptr, v = values.ptr, ix = indices.ptr
        let outer = m == 0 ? 0 : x.count / m
        for r in 0..<outer {
            let row = p + r * m
            var best = row[0], bi = 0
            for k in 1..<Swift.max(m, 1) {
                let better = maximum ? row[k] > best : row[k] < best
                if better || (row[k].isNaN && !best.isNaN) { best = row[k]; bi = k }
            }
            v[r] = best; ix[r] = Float(bi)
        }
        return (values, indices)
    }

    /// The adjoint of ``extremum(rows:rowLength:outShape:maximum:)``: g [outer] scattered to the
    /// positions `indices` of rows [outer, m]; zeros elsewhere.
    static func scatter(_ g: Tensor, indices: Tensor, rowLength m: Int, rowsShape: [Int]) -> Tensor {
        let moved = Tensor.zeros(rowsShape)
        let mp = moved.ptr, gp = g.ptr, ip = indices.ptr
        for r in 0..<indices.count { mp[r * m + Int(ip[r])] = gp[r] }
        return moved
    }
}
