// Batch norm folded into the convolution before it, for inference: the folded weights live in a
// cache beside the weights' storage and are recomputed only when the weights, the bias or the
// normalization change (their storages' versions are the cache's stamp).

extension Tensor {
    /// The weights and bias of a convolution with `norm` after it folded into them, from the cache
    /// of `w`'s storage while neither `w`, `bias` nor the normalization changed.
    /// w: [O, …] contiguous; returns w·s [O, …] and (b − mean)·s + β [O].
    static func folding(_ norm: InferenceBatchNorm, into w: Tensor, bias: Tensor?) -> (Tensor, Tensor) {
        let O = w.shape[0], per = w.count / Swift.max(O, 1)
        let parts = [norm.runningMean.contiguous(), norm.runningVar.contiguous(), norm.weight?.contiguous(), norm.bias?.contiguous(), bias]
        var stamp = SIMD16<Int>.zero
        for (i, t) in parts.enumerated() {
            guard let t else { continue }
            let (id, version) = t.storage.identityAndVersion
            stamp[3 * i] = id; stamp[3 * i + 1] = version; stamp[3 * i + 2] = t.offset
        }
        stamp[15] = Int(norm.eps.bitPattern)
        let slot = DerivedSlot(kind: .foldedBatchNorm, layout: SIMD8(w.offset, O, per, 0, 0, 0, 0, 0))
        let folded = w.storage.derived(slot, stamp: stamp, count: w.count + O) { out in
            let mean = parts[0]!.ptr, variance = parts[1]!.ptr, gamma = parts[2]?.ptr, beta = parts[3]?.ptr, b = parts[4]?.ptr
            let wp = w.ptr
            for o in 0..<O {
                let s = (gamma?[o] ?? 1) / (variance[o] + norm.eps).squareRoot()
                for k in 0..<per { out[o * per + k] = wp[o * per + k] * s }
                out[O * per + o] = ((b?[o] ?? 0) - mean[o]) * s + (beta?[o] ?? 0)
            }
        }
        return (Tensor(storage: folded, shape: w.shape, strides: Shape.contiguousStrides(w.shape), offset: 0),
                Tensor(storage: folded, shape: [O], strides: [1], offset: O * per))
    }
}
