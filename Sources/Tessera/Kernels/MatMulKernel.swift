// Matrix multiplication, 2-D and batched with broadcast batch dimensions, sent to BLAS.gemm.

/// Batched GEMMs over raw buffers for ``Tensor/matmul(_:)``.
enum MatMulKernel {
    /// How the last two dimensions of a tensor are handed to BLAS: a row-major matrix, or the
    /// transpose of one (then passed with a transpose flag, never copied).
    struct MatrixOperand {
        let tensor: Tensor
        let transposed: Bool
        let ld: Int

        init(_ t: Tensor) {
            let r = t.rank
            let rows = t.shape[r - 2], cols = t.shape[r - 1]
            let rs = t.strides[r - 2], cs = t.strides[r - 1]
            if (cs == 1 || cols == 1) && rs >= Swift.max(cols, 1) && (rows == 1 || rs > 0) {
                tensor = t; transposed = false; ld = Swift.max(rs, cols, 1)
            } else if (rs == 1 || rows == 1) && cs >= Swift.max(rows, 1) {
                tensor = t; transposed = true; ld = Swift.max(cs, rows, 1)
            } else {
                let c = withNoGrad { t.contiguous() }
                tensor = c; transposed = false; ld = Swift.max(cols, 1)
            }
        }
    }

    /// out [batch, m, n] = a [batch, m, k] · b [batch, k, n], the batch dimensions already
    /// broadcast (possibly with stride 0); transposed operands go to BLAS as flags.
    static func product(_ ae: Tensor, _ be: Tensor, batch: [Int], m: Int, n: Int, k: Int) -> Tensor {
        let out = Tensor(empty: batch + [m, n])
        let opA = MatrixOperand(ae), opB = MatrixOperand(be)
        let nb = Shape.count(batch)
        if nb > 0 && m > 0 && n > 0 {
            // Offsets of each batch entry, walking the (possibly broadcast) batch strides.
            let bsA = Array(opA.tensor.strides.dropLast(2)), bsB = Array(opB.tensor.strides.dropLast(2))
            var idx = [Int](repeating: 0, count: batch.count)
            let pa = opA.tensor.storage.pointer, pb = opB.tensor.storage.pointer
            for i in 0..<nb {
                var oa = opA.tensor.offset, ob = opB.tensor.offset
                for d in 0..<batch.count { oa += idx[d] * bsA[d]; ob += idx[d] * bsB[d] }
                BLAS.gemmThreaded(transA: opA.transposed, transB: opB.transposed, m: m, n: n, k: k,
                                  a: pa + oa, lda: opA.ld, b: pb + ob, ldb: opB.ld, c: out.ptr + i * m * n, ldc: n)
                var d = batch.count - 1
                while d >= 0 { idx[d] += 1; if idx[d] < batch[d] { break }; idx[d] = 0; d -= 1 }
            }
        } else if m > 0 && n > 0 {
            out.storage.pointer.update(repeating: 0, count: out.count)
        }
        return out
    }
}
