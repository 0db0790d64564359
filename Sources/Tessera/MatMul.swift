// Matrix multiplication, 2-D and batched with broadcast batch dimensions, sent to BLAS.gemm.

extension Tensor {
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

    /// Matrix product, as `torch.matmul` for operands of rank ≥ 2: the last two dimensions are
    /// multiplied and the leading (batch) dimensions broadcast. Rank-1 operands are treated as
    /// a row (left) or column (right) vector and that dimension is removed from the result.
    public func matmul(_ other: Tensor) -> Tensor {
        precondition(rank >= 1 && other.rank >= 1, "matmul: scalars are not matrices (shapes \(shape) and \(other.shape))")
        if rank == 1 { return unsqueezed(0).matmul(other).squeezed(-2) }
        if other.rank == 1 { return matmul(other.unsqueezed(1)).squeezed(-1) }
        let a = self, b = other
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        precondition(b.shape[b.rank - 2] == k, "matmul: shapes \(a.shape) and \(b.shape) do not fit (inner dimensions \(k) and \(b.shape[b.rank - 2]))")
        let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
        let batch = batchA == batchB ? batchA : Shape.broadcast(batchA, batchB, op: "matmul")
        let out = Tensor(empty: batch + [m, n])
        let ae = a.expanded(to: batch + [m, k]).detach(), be = b.expanded(to: batch + [k, n]).detach()
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
        guard Tensor.isRecording(a, b) else { return out }
        let ad = a.detach(), bd = b.detach()
        return out.recorded("matmul",
                            (a, { g in g.matmul(bd.transposed()).sumToShape(ad.shape) }),
                            (b, { g in ad.transposed().matmul(g).sumToShape(bd.shape) }))
    }
}
