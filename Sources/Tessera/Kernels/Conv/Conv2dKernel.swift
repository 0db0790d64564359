import Foundation

/// The conv2d kernels over raw buffers, forward and both gradients side by side, each running the
/// algorithm its ``ConvPlan`` names: im2col + GEMM here, Winograd in ``Winograd3x3`` and
/// ``WinogradStride2``, the direct 3×3 forward in ``DirectConv3x3``.
/// x: [N, C, H, W], w: [O, C/groups, kh, kw], y and dy: [N, O, outH, outW].
struct Conv2dKernel {
    let plan: ConvPlan
    var geo: ConvGeometry { plan.geometry }
    var n: Int { plan.batch }
    var groups: Int { plan.groups }
    var outChannels: Int { plan.outChannels }

    var outPerGroup: Int { outChannels / groups }
    var inPlane: Int { geo.channels * geo.height * geo.width }   // one group of one image

    /// Output positions per image from which the im2col forward runs one GEMM per image, writing
    /// y directly; smaller images are batched into one GEMM per chunk and copied out of a staging
    /// matrix (docs/BENCHMARKS.md: the RGB stem's output is large for its work). 64 by default;
    /// tests run both ways.
    let directOutputPositions: Int

    init(plan: ConvPlan, directOutputPositions: Int = 64) {
        self.plan = plan
        self.directOutputPositions = directOutputPositions
    }

    /// Images per chunk: enough that the column matrix is about 1 MB, so a GEMM over the chunk has
    /// a large N while its operands stay in cache (the weight gradient, the input gradient by
    /// columns, and the forward of images under `directOutputPositions`; the forward of larger
    /// images runs one GEMM per image within the chunk). Pointwise convolutions use the input
    /// directly.
    var chunk: Int {
        if geo.isPointwise { return 1 }
        let perImage = Swift.max(geo.patch * geo.positions * 4, 1)
        return Swift.max(1, Swift.min(n, (1 << 20) / perImage))
    }

    /// Row stride of a column (or staging) matrix holding `b` images: b·P plus 32 floats, so a
    /// power-of-two width (P = 1024 at 32×32) does not map every row to the same cache sets
    /// while OpenBLAS packs it (docs/BENCHMARKS.md, design measurements).
    @inline(__always) func ld(_ b: Int) -> Int { b * geo.positions + 32 }

    /// Parts the batch is split into: one per thread, each running single-threaded GEMMs.
    var parts: Int { Parallel.parts(for: n, minimum: 1) }

    /// Runs `body` on contiguous ranges of images, one range per part, concurrently.
    private func forEachPart(_ body: (Int, Range<Int>) -> Void) {
        let p = parts
        if p > 1 { BLAS.useOpenBLASThreads(1) } else { BLAS.useOpenBLASThreads(Runtime.threads) }
        Parallel.run(parts: p) { i in body(i, (n * i / p)..<(n * (i + 1) / p)) }
    }

    /// Column workspace per part: the im2col matrix [K, B·P], a [Og, B·P] staging matrix, and
    /// for stride-2 phase planes one image's group of input channels.
    private var workspaceCount: Int {
        let K = geo.patch, B = chunk
        return (geo.isPointwise ? 0 : K * ld(B)) + outPerGroup * ld(B) + (geo.usesPhasePlanes ? inPlane : 0)
    }

    /// Walks `range` in chunks of at most ``chunk`` images and, in each chunk, every group:
    /// `body(firstImage, imagesInChunk, group, columns, staging)`, with the column matrix
    /// [K, b·P] and the staging matrix [Og, b·P] (row stride ``ld(_:)``) from one workspace.
    private func forEachChunk(in range: Range<Int>,
                              _ body: (Int, Int, Int, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        BufferPool.withScratch(workspaceCount) { ws in
            let columns = ws, staging = ws + (geo.isPointwise ? 0 : geo.patch * ld(chunk))
            var s0 = range.lowerBound
            while s0 < range.upperBound {
                let b = Swift.min(chunk, range.upperBound - s0)
                for gi in 0..<groups { body(s0, b, gi, columns, staging) }
                s0 += b
            }
        }
    }

    /// Floats of the forward algorithm's transformed weights (0 when it reads w as it is).
    var transformedWeightCount: Int {
        switch plan.forward.algorithm {
        case .winogradF23, .winogradF43:
            return Winograd3x3(plan.forward.algorithm, geo: geo, n: n, outChannels: outChannels).transformedWeightCount
        case .winogradStride2: return WinogradStride2(geo: geo, n: n, outChannels: outChannels).sharedCount
        case .direct3x3: return DirectConv3x3(geo: geo, n: n, outChannels: outChannels).transformedWeightCount
        case .pointwise, .im2col, .col2im: return 0
        }
    }

    /// What the transformed weights at `offset` of w's storage depend on besides w's values: the
    /// algorithm, the shapes and the vector width (which sets the padded channel counts).
    func transformedWeightSlot(offset: Int) -> DerivedSlot {
        let kind: DerivedSlot.Kind = switch plan.forward.algorithm {
        case .winogradF23: .winogradF23
        case .winogradF43: .winogradF43
        case .direct3x3: .direct3x3
        default: .winogradStride2
        }
        return DerivedSlot(kind: kind,
                    layout: SIMD8(outChannels, geo.channels, vectorLanes(geo.channels), vectorLanes(outChannels), offset, 0, 0, 0))
    }

    /// The forward algorithm's transform of w into u (``transformedWeightCount`` floats).
    func transformWeights(_ w: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>) {
        switch plan.forward.algorithm {
        case .winogradF23, .winogradF43:
            Winograd3x3(plan.forward.algorithm, geo: geo, n: n, outChannels: outChannels).transformWeights(w, into: u)
        case .winogradStride2: WinogradStride2(geo: geo, n: n, outChannels: outChannels).transformWeights(w, into: u)
        case .direct3x3: DirectConv3x3(geo: geo, n: n, outChannels: outChannels).transformWeights(w, into: u)
        case .pointwise, .im2col, .col2im: break
        }
    }

    /// y = epilogue(conv(x, w)), overwritten. `transformed`: w already transformed for the forward
    /// algorithm (``transformWeights(_:into:)``), or nil. The Winograd and direct kernels apply the
    /// epilogue as they write y; the GEMM paths in a pass over each image's output after it.
    func forward(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                 transformed: UnsafePointer<Float>? = nil, epilogue: ConvEpilogue? = nil) {
        let P = geo.positions
        if n == 0 || P == 0 || outChannels == 0 { return }
        switch plan.forward.algorithm {
        case .winogradF23, .winogradF43:
            Winograd3x3(plan.forward.algorithm, geo: geo, n: n, outChannels: outChannels).forward(x: x, w: w, y: y, transformed: transformed, epilogue: epilogue)
        case .winogradStride2:
            WinogradStride2(geo: geo, n: n, outChannels: outChannels).forward(x: x, w: w, y: y, transformed: transformed, epilogue: epilogue)
        case .direct3x3:
            DirectConv3x3(geo: geo, n: n, outChannels: outChannels).forward(x: x, w: w, y: y, transformed: transformed, epilogue: epilogue)
        case .pointwise, .im2col, .col2im:
            gemmForward(x: x, w: w, y: y)
            if let epilogue {
                let O = outChannels
                Parallel.forRanges(n, parts: Parallel.parts(for: n * O * P, minimum: Parallel.minimumElements)) { images in
                    for i in images {
                        Optional(epilogue).withImage(i, stride: O * P) { e in tk_conv_epilogue_apply(O, P, y + i * O * P, e) }
                    }
                }
            }
        }
    }

    /// y = conv(x, w) by im2col (or the input itself for 1×1) and GEMM, overwritten.
    private func gemmForward(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let K = geo.patch, P = geo.positions, Og = outPerGroup
        forEachPart { _, range in
            forEachChunk(in: range) { s0, b, gi, col, yc in
                let wg = w + gi * Og * K
                if geo.isPointwise {
                    BLAS.gemm(transA: false, transB: false, m: Og, n: P, k: K, a: wg, lda: K,
                              b: x + (s0 * groups + gi) * inPlane, ldb: P,
                              c: y + (s0 * outChannels + gi * Og) * P, ldc: P)
                    return
                }
                let phases = yc + Og * ld(chunk)
                if P >= directOutputPositions {
                    // One image at a time: its columns, then a GEMM straight into y.
                    for i in 0..<b {
                        im2col(x + ((s0 + i) * groups + gi) * inPlane, geo, col, ldc: ld(1), phases: phases)
                        BLAS.gemm(transA: false, transB: false, m: Og, n: P, k: K, a: wg, lda: K, b: col, ldb: ld(1),
                                  c: y + ((s0 + i) * outChannels + gi * Og) * P, ldc: P)
                    }
                    return
                }
                let L = ld(b)
                for i in 0..<b { im2col(x + ((s0 + i) * groups + gi) * inPlane, geo, col + i * P, ldc: L, phases: phases) }
                if b == 1 {
                    BLAS.gemm(transA: false, transB: false, m: Og, n: P, k: K, a: wg, lda: K, b: col, ldb: L,
                              c: y + (s0 * outChannels + gi * Og) * P, ldc: P)
                } else {
                    // yc: [Og, b·P] (row stride L) → y[s0 + i, gi·Og + o, :]
                    BLAS.gemm(transA: false, transB: false, m: Og, n: b * P, k: K, a: wg, lda: K, b: col, ldb: L, c: yc, ldc: L)
                    for i in 0..<b {
                        for o in 0..<Og {
                            (y + ((s0 + i) * outChannels + gi * Og + o) * P).update(from: yc + o * L + i * P, count: P)
                        }
                    }
                }
            }
        }
    }

    /// dw += Σ dy_g · col(x)ᵀ. Each part accumulates into its own buffer; the parts are summed at the end.
    func backwardWeight(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>) {
        let K = geo.patch, P = geo.positions, Og = outPerGroup
        if n == 0 || P == 0 || outChannels == 0 { return }
        if plan.weightGradient.algorithm == .winogradF23 || plan.weightGradient.algorithm == .winogradF43 {
            Winograd3x3(plan.weightGradient.algorithm, geo: geo, n: n, outChannels: outChannels).backwardWeight(dy: dy, x: x, dw: dw)
            return
        }
        let wCount = outChannels * K
        let p = parts
        BufferPool.withScratch(wCount * Swift.max(p - 1, 0)) { partials in
            if p > 1 { partials.update(repeating: 0, count: wCount * (p - 1)) }
            forEachPart { part, range in
                let target = part == 0 ? dw : partials + (part - 1) * wCount
                forEachChunk(in: range) { s0, b, gi, col, dyc in
                    let dwg = target + gi * Og * K
                    if geo.isPointwise {
                        BLAS.gemm(transA: false, transB: true, m: Og, n: K, k: P,
                                  a: dy + (s0 * outChannels + gi * Og) * P, lda: P,
                                  b: x + (s0 * groups + gi) * inPlane, ldb: P, beta: 1, c: dwg, ldc: K)
                        return
                    }
                    let L = ld(b)
                    for i in 0..<b { im2col(x + ((s0 + i) * groups + gi) * inPlane, geo, col + i * P, ldc: L, phases: dyc + Og * ld(chunk)) }
                    let (dyg, lda) = gather(dy, s0: s0, b: b, gi: gi, into: dyc)
                    BLAS.gemm(transA: false, transB: true, m: Og, n: K, k: b * P, a: dyg, lda: lda, b: col, ldb: L, beta: 1, c: dwg, ldc: K)
                }
            }
            for part in 1..<Swift.max(p, 1) {
                let src = partials + (part - 1) * wCount
                for i in 0..<wCount { dw[i] += src[i] }
            }
        }
    }

    /// dx = conv(dy, flip(w)ᵀ) for stride-1 convolutions (see ``ConvPlan/transposedGeometry(_:groups:outChannels:)``), else
    /// col2im(wᵀ · dy). dx is overwritten.
    func backwardInput(dy: UnsafePointer<Float>, w: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        guard let transposed = plan.transposed else {
            dx.update(repeating: 0, count: n * groups * inPlane)
            backwardInputByColumns(dy: dy, w: w, dx: dx)
            return
        }
        // w: [G·Og, Cg, kh, kw] → w′: [G·Cg, Og, kh, kw] with w′[g·Cg + c, o, i, j] = w[g·Og + o, c, kh−1−i, kw−1−j]
        let Og = outPerGroup, Cg = geo.channels, kh = geo.kh, kw = geo.kw, taps = kh * kw
        BufferPool.withScratch(outChannels * Cg * taps) { flipped in
            for gi in 0..<groups {
                for o in 0..<Og {
                    for c in 0..<Cg {
                        let src = w + ((gi * Og + o) * Cg + c) * taps
                        let dst = flipped + ((gi * Cg + c) * Og + o) * taps
                        for k in 0..<taps { dst[k] = src[taps - 1 - k] }
                    }
                }
            }
            Conv2dKernel(plan: transposed).forward(x: dy, w: flipped, y: dx)
        }
    }

    /// dx += col2im(wᵀ · dy); the parts write disjoint images.
    func backwardInputByColumns(dy: UnsafePointer<Float>, w: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        let K = geo.patch, P = geo.positions, Og = outPerGroup
        if n == 0 || P == 0 || outChannels == 0 { return }
        forEachPart { _, range in
            forEachChunk(in: range) { s0, b, gi, dcol, dyc in
                let wg = w + gi * Og * K
                if geo.isPointwise {
                    BLAS.gemm(transA: true, transB: false, m: K, n: P, k: Og, a: wg, lda: K,
                              b: dy + (s0 * outChannels + gi * Og) * P, ldb: P, beta: 1,
                              c: dx + (s0 * groups + gi) * inPlane, ldc: P)
                    return
                }
                let (dyg, ldy) = gather(dy, s0: s0, b: b, gi: gi, into: dyc)
                let L = ld(b)
                BLAS.gemm(transA: true, transB: false, m: K, n: b * P, k: Og, a: wg, lda: K, b: dyg, ldb: ldy, c: dcol, ldc: L)
                for i in 0..<b { col2im(dcol + i * P, ldc: L, geo, dx + ((s0 + i) * groups + gi) * inPlane) }
            }
        }
    }

    /// dy of images s0..<s0+b, group gi, gathered into a [Og, b·P] matrix with the padded row stride.
    private func gather(_ dy: UnsafePointer<Float>, s0: Int, b: Int, gi: Int, into buf: UnsafeMutablePointer<Float>) -> (UnsafePointer<Float>, Int) {
        let P = geo.positions, Og = outPerGroup, L = ld(b)
        for i in 0..<b {
            for o in 0..<Og {
                (buf + o * L + i * P).update(from: dy + ((s0 + i) * outChannels + gi * Og + o) * P, count: P)
            }
        }
        return (UnsafePointer(buf), L)
    }
}

// MARK: - On tensors

import CTesseraKernels

/// What a forward pass writes on top of the convolution: + bias[o], + residual (the whole
/// batch, laid out like y), then max(·, 0) (see tk_conv_epilogue).
struct ConvEpilogue {
    var bias: UnsafePointer<Float>?
    var residual: UnsafePointer<Float>?
    var relu: Bool
}

extension Optional where Wrapped == ConvEpilogue {
    /// Calls `body` with the C epilogue of image `image` (its residual offset by image·stride, plus
    /// `offset` for a part of the image), or with nil when there is no epilogue.
    @inline(__always)
    func withImage<R>(_ image: Int, stride: Int, offset: Int = 0, _ body: (UnsafePointer<tk_conv_epilogue>?) -> R) -> R {
        guard let e = self else { return body(nil) }
        var c = tk_conv_epilogue(bias: e.bias, residual: e.residual.map { $0 + image * stride + offset }, relu: e.relu ? 1 : 0)
        return withUnsafePointer(to: &c) { body($0) }
    }
}

extension Conv2dKernel {
    /// y = conv(x, w) (+ bias per output channel).  x: [N, C, H, W] and w contiguous. With
    /// `reuseWeights` (a pass that records no gradient), a Winograd forward's transformed weights
    /// are kept with w's storage and reused until w changes (``TensorStorage/derived(_:count:compute:)``).
    ///
    /// `residual` (contiguous, [N, O, outH, outW]) is added after the bias and `relu` applied
    /// last, as the output is written (inference only: nothing of this is recorded).
    func forward(_ x: Tensor, _ w: Tensor, bias: Tensor?, reuseWeights: Bool = false, residual: Tensor? = nil, relu: Bool = false) -> Tensor {
        let out = Tensor(empty: [n, outChannels, geo.outH, geo.outW])
        let parts = [bias, residual]
        let epilogue = bias != nil || residual != nil || relu
            ? ConvEpilogue(bias: bias.map { UnsafePointer($0.ptr) }, residual: residual.map { UnsafePointer($0.ptr) }, relu: relu) : nil
        let count = reuseWeights && n > 0 ? transformedWeightCount : 0
        if count > 0 {
            let u = w.storage.derived(transformedWeightSlot(offset: w.offset), count: count) { transformWeights(w.ptr, into: $0) }
            withExtendedLifetime(u) { forward(x: x.ptr, w: w.ptr, y: out.ptr, transformed: u.pointer, epilogue: epilogue) }
        } else {
            forward(x: x.ptr, w: w.ptr, y: out.ptr, epilogue: epilogue)
        }
        withExtendedLifetime(parts) {}
        return out
    }

    /// dX for the output gradient dy [N, O, outH, outW] (contiguous).
    func inputGradient(_ dy: Tensor, _ w: Tensor, inputShape: [Int]) -> Tensor {
        let dx = Tensor(empty: inputShape)
        backwardInput(dy: dy.ptr, w: w.ptr, dx: dx.ptr)
        return dx
    }

    /// dW for the output gradient dy and the input x (both contiguous).
    func weightGradient(_ dy: Tensor, _ x: Tensor, weightShape: [Int]) -> Tensor {
        let dw = Tensor.zeros(weightShape)
        backwardWeight(dy: dy.ptr, x: x.ptr, dw: dw.ptr)
        return dw
    }
}
