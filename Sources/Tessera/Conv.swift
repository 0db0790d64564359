import Foundation

/// A pair of sizes (height, width) for kernel sizes, strides, paddings and dilations.
/// Write `2` for (2, 2) or `[2, 1]` for (2, 1).
public struct Size2: ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Size along the height.
    public var h: Int
    /// Size along the width.
    public var w: Int

    /// (h, w).
    public init(_ h: Int, _ w: Int) { self.h = h; self.w = w }
    /// (v, v).
    public init(integerLiteral v: Int) { self.init(v, v) }
    /// `[h, w]` or `[v]`.
    public init(arrayLiteral elements: Int...) {
        precondition(elements.count == 1 || elements.count == 2, "Size2: expects 1 or 2 values, got \(elements)")
        self.init(elements[0], elements.count == 2 ? elements[1] : elements[0])
    }

    public var description: String { h == w ? "\(h)" : "(\(h), \(w))" }
}

/// Geometry of one 2-D convolution or pooling window sweep.
struct ConvGeometry {
    let channels: Int, height: Int, width: Int
    let kh: Int, kw: Int, sh: Int, sw: Int, ph: Int, pw: Int, dh: Int, dw: Int
    let outH: Int, outW: Int

    init(channels: Int, height: Int, width: Int, kernel: Size2, stride: Size2, padding: Size2, dilation: Size2, op: String, ceilMode: Bool = false) {
        precondition(kernel.h > 0 && kernel.w > 0 && stride.h > 0 && stride.w > 0 && dilation.h > 0 && dilation.w > 0 && padding.h >= 0 && padding.w >= 0,
                     "\(op): kernel \(kernel), stride \(stride) and dilation \(dilation) must be positive and padding \(padding) non-negative")
        self.channels = channels; self.height = height; self.width = width
        kh = kernel.h; kw = kernel.w; sh = stride.h; sw = stride.w; ph = padding.h; pw = padding.w; dh = dilation.h; dw = dilation.w
        let spanH = height + 2 * ph - dh * (kh - 1) - 1, spanW = width + 2 * pw - dw * (kw - 1) - 1
        precondition(spanH >= 0 && spanW >= 0,
                     "\(op): kernel \(kernel) with dilation \(dilation) does not fit input \(height)×\(width) padded by \(padding)")
        if ceilMode {
            var oh = (spanH + sh - 1) / sh + 1, ow = (spanW + sw - 1) / sw + 1
            // The last window must start inside the input or the left padding (PyTorch's rule).
            if (oh - 1) * sh >= height + ph { oh -= 1 }
            if (ow - 1) * sw >= width + pw { ow -= 1 }
            outH = oh; outW = ow
        } else {
            outH = spanH / sh + 1; outW = spanW / sw + 1
        }
    }

    /// Rows of the column matrix: channels · kh · kw.
    var patch: Int { channels * kh * kw }
    /// Columns per image: outH · outW.
    var positions: Int { outH * outW }
    var isPointwise: Bool { kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 }
    /// Stride 2 (undilated) over an even-sized image with an output of half its size, as the
    /// downsampling 3×3 convolutions of a ResNet: im2col then reads four phase planes (see
    /// ``im2col(_:_:_:ldc:phases:)``).
    var usesPhasePlanes: Bool {
        sh == 2 && sw == 2 && dh == 1 && dw == 1 && height % 2 == 0 && width % 2 == 0
            && outH == height / 2 && outW == width / 2 && (kh > 1 || kw > 1)   // a 1×1 kernel reads one phase only
    }

    /// For kernel column `j`: the input column offset of output column 0, and the output columns
    /// `lo..<hi` whose input column falls inside the image (the rest read padding).
    @inline(__always)
    func validColumns(tap j: Int) -> (offset: Int, lo: Int, hi: Int) {
        let off = j * dw - pw
        let lo = off >= 0 ? 0 : Swift.min(outW, (-off + sw - 1) / sw)
        let hi = Swift.max(lo, Swift.min(outW, (width - off + sw - 1) / sw))
        return (off, lo, hi)
    }
}

// MARK: - im2col / col2im

/// One tap of an unfold whose output is as wide as its input: dst[oh·W + ow] = plane[oh + offH,
/// ow + offW] (0 outside) for oh < OH — one shifted copy of the plane plus zeroed borders (one
/// memcpy, not one per row).  plane: [H, W], dst: [OH, W].
@inline(__always)
func shiftedCopy(_ plane: UnsafePointer<Float>, height H: Int, width W: Int, outHeight OH: Int, offH: Int, offW: Int,
                 into dst: UnsafeMutablePointer<Float>) {
    // Rows and columns whose source lies inside the plane: oh in [ohLo, ohHi), ow in [owLo, owHi).
    let ohLo = Swift.min(OH, Swift.max(0, -offH)), ohHi = Swift.max(ohLo, Swift.min(OH, H - offH))
    let owLo = Swift.min(W, Swift.max(0, -offW)), owHi = Swift.max(owLo, Swift.min(W, W - offW))
    let delta = offH * W + offW
    if ohLo > 0 { dst.update(repeating: 0, count: ohLo * W) }
    if ohHi < OH { (dst + ohHi * W).update(repeating: 0, count: (OH - ohHi) * W) }
    // Copy the valid rows in one go, clipped to the plane; the columns that wrapped are zeroed next.
    let k0 = Swift.max(ohLo * W, -delta), k1 = Swift.min(ohHi * W, H * W - delta)
    if k1 > k0 { (dst + k0).update(from: plane + k0 + delta, count: k1 - k0) }
    if owLo > 0 || owHi < W {
        for oh in ohLo..<ohHi {
            let d = dst + oh * W
            for ow in 0..<owLo { d[ow] = 0 }
            for ow in owHi..<W { d[ow] = 0 }
        }
    }
}

/// Unfolds one image's channels into columns: col[(c·kh + i)·kw + j, colOffset + oh·outW + ow]
/// = x[c, oh·sh − ph + i·dh, ow·sw − pw + j·dw] (0 outside). `ldc` is the row stride of col.
/// x: [channels, height, width] contiguous. `phases`: scratch of channels·height·width floats,
/// used when ``ConvGeometry/usesPhasePlanes``.
///
/// Stride 1 with the output as wide as the input: every kernel tap is one shifted copy of the
/// plane. Stride 2 over an even image is brought to the same case: the input is split once into
/// its four phase planes (even/odd rows × even/odd columns, each [H/2, W/2], the output's size),
/// and input row 2·oh − ph + i is row oh + ⌊(i − ph)/2⌋ of the phase (i − ph) mod 2.
@inline(__always)
func im2col(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ col: UnsafeMutablePointer<Float>, ldc: Int,
            phases: UnsafeMutablePointer<Float>? = nil) {
    let H = g.height, W = g.width, OH = g.outH, OW = g.outW
    if g.usesPhasePlanes, let phases {
        let h2 = H / 2, w2 = W / 2, plane2 = h2 * w2
        // phases: [C, 2 (row phase), 2 (column phase), H/2, W/2]
        for c in 0..<g.channels {
            for r in 0..<H {
                let src = x + (c * H + r) * W
                let even = phases + ((c * 2 + (r & 1)) * 2) * plane2 + (r >> 1) * w2, odd = even + plane2
                var m = 0
                while m + 4 <= w2 {
                    let v = UnsafeRawPointer(src + 2 * m).loadUnaligned(as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(even + m).storeBytes(of: v.evenHalf, as: SIMD4<Float>.self)
                    UnsafeMutableRawPointer(odd + m).storeBytes(of: v.oddHalf, as: SIMD4<Float>.self)
                    m += 4
                }
                while m < w2 { even[m] = src[2 * m]; odd[m] = src[2 * m + 1]; m += 1 }
            }
        }
        var row = 0
        for c in 0..<g.channels {
            for i in 0..<g.kh {
                let ri = i - g.ph, rowPhase = ri & 1, offH = (ri - rowPhase) / 2
                for j in 0..<g.kw {
                    let rj = j - g.pw, colPhase = rj & 1, offW = (rj - colPhase) / 2
                    shiftedCopy(phases + ((c * 2 + rowPhase) * 2 + colPhase) * plane2, height: h2, width: w2, outHeight: h2,
                                offH: offH, offW: offW, into: col + row * ldc)
                    row += 1
                }
            }
        }
        return
    }
    let sameWidth = g.sw == 1 && g.sh == 1 && OW == W
    var row = 0
    for c in 0..<g.channels {
        let plane = x + c * H * W
        for i in 0..<g.kh {
            for j in 0..<g.kw {
                let dst = col + row * ldc
                if sameWidth {
                    shiftedCopy(plane, height: H, width: W, outHeight: OH, offH: i * g.dh - g.ph, offW: j * g.dw - g.pw, into: dst)
                    row += 1
                    continue
                }
                let (offW, owLo, owHi) = g.validColumns(tap: j)
                for oh in 0..<OH {
                    let ih = oh * g.sh - g.ph + i * g.dh
                    let d = dst + oh * OW
                    if ih < 0 || ih >= H {
                        d.update(repeating: 0, count: OW)
                        continue
                    }
                    let src = plane + ih * W + offW
                    if owLo > 0 { d.update(repeating: 0, count: owLo) }
                    if g.sw == 1 {
                        (d + owLo).update(from: src + owLo, count: owHi - owLo)
                    } else if g.sw == 2 {
                        // Every other input column: the even lanes of 8-wide loads, while a load
                        // stays inside the input row.
                        var ow = owLo
                        while ow + 4 <= owHi && offW + 2 * ow + 8 <= W {
                            UnsafeMutableRawPointer(d + ow).storeBytes(of: UnsafeRawPointer(src + 2 * ow).loadUnaligned(as: SIMD8<Float>.self).evenHalf,
                                                                       as: SIMD4<Float>.self)
                            ow += 4
                        }
                        while ow < owHi { d[ow] = src[2 * ow]; ow += 1 }
                    } else {
                        for ow in owLo..<owHi { d[ow] = src[ow * g.sw] }
                    }
                    if owHi < OW { (d + owHi).update(repeating: 0, count: OW - owHi) }
                }
                row += 1
            }
        }
    }
}

/// Folds columns back into an image, adding overlapping contributions: the adjoint of ``im2col``.
/// dx: [channels, height, width] contiguous, accumulated into (+=).
@inline(__always)
func col2im(_ col: UnsafePointer<Float>, ldc: Int, _ g: ConvGeometry, _ dx: UnsafeMutablePointer<Float>) {
    let H = g.height, W = g.width, OH = g.outH, OW = g.outW
    var row = 0
    for c in 0..<g.channels {
        let plane = dx + c * H * W
        for i in 0..<g.kh {
            for j in 0..<g.kw {
                let src = col + row * ldc
                let (offW, owLo, owHi) = g.validColumns(tap: j)
                for oh in 0..<OH {
                    let ih = oh * g.sh - g.ph + i * g.dh
                    if ih < 0 || ih >= H { continue }
                    let s = src + oh * OW
                    let d = plane + ih * W + offW
                    if g.sw == 1 {
                        for ow in owLo..<owHi { d[ow] += s[ow] }
                    } else if g.sw == 2 {
                        // Into every other column: 8-wide read-modify-writes adding (s, 0, s, 0, …),
                        // while they stay inside the row.
                        var ow = owLo
                        while ow + 4 <= owHi && offW + 2 * ow + 8 <= W {
                            let v = UnsafeRawPointer(s + ow).loadUnaligned(as: SIMD4<Float>.self)
                            let raw = UnsafeMutableRawPointer(d + 2 * ow)
                            let sum = raw.loadUnaligned(as: SIMD8<Float>.self) + SIMD8(v[0], 0, v[1], 0, v[2], 0, v[3], 0)
                            raw.storeBytes(of: sum, as: SIMD8<Float>.self)
                            ow += 4
                        }
                        while ow < owHi { d[2 * ow] += s[ow]; ow += 1 }
                    } else {
                        for ow in owLo..<owHi { d[ow * g.sw] += s[ow] }
                    }
                }
                row += 1
            }
        }
    }
}

// MARK: - conv2d

extension Tensor {
    /// 2-D convolution (cross-correlation, as PyTorch), via im2col + one GEMM per group and
    /// batch chunk; 1×1 stride-1 unpadded convolutions skip im2col, and 3×3 stride-1 ones (at
    /// least 3 channels in and out, no groups or dilation) run as Winograd F(2×2, 3×3).
    ///
    /// - Parameters:
    ///   - weight: [outChannels, inChannels / groups, kh, kw].
    ///   - bias: [outChannels] or nil.
    /// - Returns: [N, outChannels, outH, outW] for an input of [N, inChannels, H, W].
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: Size2 = 1, padding: Size2 = 0, dilation: Size2 = 1, groups: Int = 1) -> Tensor {
        precondition(rank == 4 && weight.rank == 4, "conv2d: input \(shape) and weight \(weight.shape) must both be 4-D ([N, C, H, W] and [O, C/groups, kh, kw])")
        let n = shape[0], c = shape[1], outC = weight.shape[0]
        precondition(groups >= 1 && c % groups == 0 && outC % groups == 0 && weight.shape[1] == c / groups,
                     "conv2d: input \(shape) does not fit weight \(weight.shape) with groups \(groups)")
        if let bias { precondition(bias.shape == [outC], "conv2d: bias \(bias.shape) does not fit weight \(weight.shape)") }
        let geo = ConvGeometry(channels: c / groups, height: shape[2], width: shape[3],
                               kernel: Size2(weight.shape[2], weight.shape[3]), stride: stride, padding: padding, dilation: dilation, op: "conv2d")
        let x = detach().contiguous(), w = weight.detach().contiguous()
        let out = Tensor(empty: [n, outC, geo.outH, geo.outW])
        Conv2dKernel(geo: geo, n: n, groups: groups, outChannels: outC).forward(x: x.ptr, w: w.ptr, y: out.ptr)
        if let bias {
            let b = bias.detach().contiguous()
            let P = geo.positions, yp = out.ptr, bp = b.ptr
            for s in 0..<n { for o in 0..<outC { let v = bp[o], row = yp + (s * outC + o) * P; for p in 0..<P { row[p] += v } } }
        }
        guard Tensor.isRecording(self, weight) || (bias.map { Tensor.isRecording($0) } ?? false) else { return out }
        let kernel = Conv2dKernel(geo: geo, n: n, groups: groups, outChannels: outC)
        let inShape = shape, wShape = weight.shape
        var inputs: [(Tensor, (Tensor) -> Tensor)] = [
            (self, { g in
                let gy = g.contiguous(), dx = Tensor(empty: inShape)
                kernel.backwardInput(dy: gy.ptr, w: w.ptr, dx: dx.ptr)
                return dx
            }),
            (weight, { g in
                let gy = g.contiguous(), dw = Tensor.zeros(wShape)
                kernel.backwardWeight(dy: gy.ptr, x: x.ptr, dw: dw.ptr)
                return dw
            }),
        ]
        if let bias { inputs.append((bias, { g in g.sum(axes: [0, 2, 3]) })) }
        return out.recordedList("conv2d", inputs)
    }
}

/// The conv2d kernels over raw buffers (forward and both backwards side by side), by im2col +
/// GEMM, handing the convolutions ``WinogradF23`` takes to it.
/// x: [N, C, H, W], w: [O, C/groups, kh, kw], y and dy: [N, O, outH, outW].
struct Conv2dKernel {
    let geo: ConvGeometry
    let n: Int, groups: Int, outChannels: Int

    var outPerGroup: Int { outChannels / groups }
    var inPlane: Int { geo.channels * geo.height * geo.width }   // one group of one image

    /// Whether convolutions Winograd applies to use it (forward, input and weight gradients).
    /// `TESSERA_WINOGRAD=0` in the environment turns it off, to compare against im2col.
    nonisolated(unsafe) static var winograd = ProcessInfo.processInfo.environment["TESSERA_WINOGRAD"] != "0"

    /// Output positions per image from which the im2col forward runs one GEMM per image, writing
    /// y directly; smaller images are batched into one GEMM per chunk and copied out of a staging
    /// matrix. Measured (2 threads, batch 128, Winograd off): the RGB stem 3 → 16 at 32² went from
    /// 76–97 to 124–147 GFLOPS, its output being large for its work; the other ResNet-20 shapes
    /// (64 to 1,024 positions) moved within ±5%.
    nonisolated(unsafe) static var directOutputPositions = 64

    /// The Winograd F(2×2, 3×3) plan for the forward pass, or nil where im2col runs it: also for
    /// fewer than 6 input channels, where the GEMMs (K = C) are too thin to pay for transforming
    /// every output. Measured for C → 16 at 32² (batch 128, 2 threads), Winograd against im2col:
    /// C = 3 (the RGB stem) 61–91 against 112–147 GFLOPS, C = 4 119–123 against 131–136, C = 6
    /// 140–160 against 138, C = 8 159–179 against 106–109. The stem's gradients still go through
    /// Winograd (the weight gradient, and the input gradient as a convolution from 16 channels).
    var winogradForward: WinogradF23? {
        geo.channels >= 6 ? WinogradF23(geo: geo, n: n, groups: groups, outChannels: outChannels) : nil
    }

    /// Images per chunk: enough that the column matrix is about 1 MB, so a GEMM over the chunk has
    /// a large N while its operands stay in cache (the weight gradient, the input gradient by
    /// columns, and the forward of images under ``directOutputPositions``; the forward of larger
    /// images runs one GEMM per image within the chunk). Pointwise convolutions use the input
    /// directly.
    var chunk: Int {
        if geo.isPointwise { return 1 }
        let perImage = Swift.max(geo.patch * geo.positions * 4, 1)
        return Swift.max(1, Swift.min(n, (1 << 20) / perImage))
    }

    /// Row stride of a column (or staging) matrix holding `b` images: b·P plus 32 floats, so a
    /// power-of-two width (P = 1024 at 32×32) does not map every row to the same cache sets
    /// while OpenBLAS packs it (measured: the 16-channel weight-gradient GEMM ran 2–3× faster).
    @inline(__always) func ld(_ b: Int) -> Int { b * geo.positions + 32 }

    /// Parts the batch is split into: one per thread, each running single-threaded GEMMs.
    var parts: Int { Parallel.parts(for: n, minimum: 1) }

    /// Runs `body` on contiguous ranges of images, one range per part, concurrently.
    private func forEachPart(_ body: (Int, Range<Int>) -> Void) {
        let p = parts
        if p > 1 { BLAS.useOpenBLASThreads(1) } else { BLAS.useOpenBLASThreads(BLAS.threads) }
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
        Workspace.borrow(workspaceCount) { ws in
            let columns = ws, staging = ws + (geo.isPointwise ? 0 : geo.patch * ld(chunk))
            var s0 = range.lowerBound
            while s0 < range.upperBound {
                let b = Swift.min(chunk, range.upperBound - s0)
                for gi in 0..<groups { body(s0, b, gi, columns, staging) }
                s0 += b
            }
        }
    }

    func forward(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let K = geo.patch, P = geo.positions, Og = outPerGroup
        if n == 0 || P == 0 || outChannels == 0 { return }
        if Conv2dKernel.winograd {
            if let wino = winogradForward {
                wino.forward(x: x, w: w, y: y)
                return
            }
            if let wino = WinogradStride2(geo: geo, n: n, groups: groups, outChannels: outChannels) {
                wino.forward(x: x, w: w, y: y)
                return
            }
        }
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
                if P >= Conv2dKernel.directOutputPositions {
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
        if Conv2dKernel.winograd, let wino = WinogradF23(geo: geo, n: n, groups: groups, outChannels: outChannels) {
            wino.backwardWeight(dy: dy, x: x, dw: dw)
            return
        }
        let wCount = outChannels * K
        let p = parts
        Workspace.borrow(wCount * Swift.max(p - 1, 0)) { partials in
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

    /// For stride 1, the input gradient is itself a convolution: dy convolved with the weights
    /// flipped in space and with input and output channels swapped, padded by d·(k − 1) − p.
    /// That runs the forward path (Winograd, or im2col + a GEMM with K = C_out·k²) instead of a
    /// GEMM with K = C_out followed by a scatter-add — about twice as fast on the ResNet shapes.
    var transposedKernel: Conv2dKernel? {
        guard geo.sh == 1 && geo.sw == 1 else { return nil }
        let ph = geo.dh * (geo.kh - 1) - geo.ph, pw = geo.dw * (geo.kw - 1) - geo.pw
        guard ph >= 0 && pw >= 0 else { return nil }
        let g = ConvGeometry(channels: outPerGroup, height: geo.outH, width: geo.outW, kernel: Size2(geo.kh, geo.kw),
                             stride: 1, padding: Size2(ph, pw), dilation: Size2(geo.dh, geo.dw), op: "conv2d backward")
        guard g.outH == geo.height && g.outW == geo.width else { return nil }
        return Conv2dKernel(geo: g, n: n, groups: groups, outChannels: geo.channels * groups)
    }

    /// dx = conv(dy, flip(w)ᵀ) for stride-1 convolutions (see ``transposedKernel``), else
    /// col2im(wᵀ · dy). dx is overwritten.
    func backwardInput(dy: UnsafePointer<Float>, w: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        guard let t = transposedKernel else {
            dx.update(repeating: 0, count: n * groups * inPlane)
            backwardInputByColumns(dy: dy, w: w, dx: dx)
            return
        }
        // w: [G·Og, Cg, kh, kw] → w′: [G·Cg, Og, kh, kw] with w′[g·Cg + c, o, i, j] = w[g·Og + o, c, kh−1−i, kw−1−j]
        let Og = outPerGroup, Cg = geo.channels, kh = geo.kh, kw = geo.kw, taps = kh * kw
        Workspace.borrow(outChannels * Cg * taps) { flipped in
            for gi in 0..<groups {
                for o in 0..<Og {
                    for c in 0..<Cg {
                        let src = w + ((gi * Og + o) * Cg + c) * taps
                        let dst = flipped + ((gi * Cg + c) * Og + o) * taps
                        for k in 0..<taps { dst[k] = src[taps - 1 - k] }
                    }
                }
            }
            t.forward(x: dy, w: flipped, y: dx)
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
