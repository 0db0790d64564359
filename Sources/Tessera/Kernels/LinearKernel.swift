import CTesseraKernels

/// The GEMMs of a fully connected layer (BLAS.gemmThreaded: OpenBLAS's threads for a large
/// product, Tessera's otherwise). x: [rows, in], weight: [out, in], y and g: [rows, out].
enum LinearKernel {
    /// y = x · weightᵀ (+ bias per row); weight passed transposed by flag, never copied.
    static func forward(x: Tensor, weight w: Tensor, bias: Tensor?) -> Tensor {
        let rows = x.count / Swift.max(x.shape.last ?? 1, 1), outF = w.shape[0], inF = w.shape[1]
        let out = Tensor(empty: [rows, outF])
        BLAS.gemmThreaded(transA: false, transB: true, m: rows, n: outF, k: inF, a: x.ptr, lda: inF, b: w.ptr, ldb: inF, c: out.ptr, ldc: outF)
        if let bias, rows > 0 {
            let bp = bias.ptr, op = out.ptr
            for r in 0..<rows { tk_binary(TK_BINARY_ADD, outF, op + r * outF, 1, bp, 1, op + r * outF, 1, 0, 0) }
        }
        return out
    }

    /// dx [rows, in] = g [rows, out] · weight [out, in].
    static func inputGradient(_ g: Tensor, weight w: Tensor) -> Tensor {
        let rows = g.shape[0], outF = w.shape[0], inF = w.shape[1]
        let dx = Tensor(empty: [rows, inF])
        BLAS.gemmThreaded(transA: false, transB: false, m: rows, n: inF, k: outF, a: g.ptr, lda: outF, b: w.ptr, ldb: inF, c: dx.ptr, ldc: inF)
        return dx
    }

    /// dW [out, in] = gᵀ [out, rows] · x [rows, in], in the weight's own layout.
    static func weightGradient(_ g: Tensor, input x: Tensor) -> Tensor {
        let rows = g.shape[0], outF = g.shape[1], inF = x.shape[1]
        let dw = Tensor(empty: [outF, inF])
        BLAS.gemmThreaded(transA: true, transB: false, m: outF, n: inF, k: rows, a: g.ptr, lda: outF, b: x.ptr, ldb: inF, c: dw.ptr, ldc: inF)
        return dw
    }
}
