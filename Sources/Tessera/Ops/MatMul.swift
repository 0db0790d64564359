extension Tensor {
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
        let ae = a.expanded(to: batch + [m, k]).detach(), be = b.expanded(to: batch + [k, n]).detach()
        let out = MatMulKernel.product(ae, be, batch: batch, m: m, n: n, k: k)
        guard Tensor.isRecording(a, b) else { return out }
        let ad = a.detach(), bd = b.detach()
        return out.recorded("matmul", inputs: [a, b]) { g, needs in
            [needs[0] ? g.matmul(bd.transposed()).sumToShape(ad.shape) : nil,
             needs[1] ? ad.transposed().matmul(g).sumToShape(bd.shape) : nil]
        }
    }
}
