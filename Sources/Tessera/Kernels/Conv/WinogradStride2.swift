// Winograd F(4×4, 2×2) over the four phase planes of a 3×3, stride-2 convolution with padding 1:
// the downsampling convolutions of a ResNet.
//
// Split the input into its phase planes Q_rc[u, v] = x[2u + r, 2v + c] (r, c ∈ {0, 1}). Output row
// oy reads input rows 2·oy − 1, 2·oy and 2·oy + 1, that is rows oy − 1 and oy of the odd-row
// phase and row oy of the even-row one; likewise for columns. So the convolution is a 2×2,
// stride-1 convolution of the 4·C phase channels, padded by one row and column at the top and
// left, with phase kernels taken from the 3×3 one (kernel row a of row phase r is tap row
// 2a + r − 1, and zero where that is −1). Winograd F(4×4, 2×2) computes each 4×4 output tile from
// a 5×5 window of every phase channel with 25 products instead of 64: 25·4C = 100·C
// multiplications per tile and output channel, or 81·C where the phase kernels' zero taps make
// whole blocks of U zero (see ``WinogradStride2/block(r:q:)``), against im2col's 144·C.
// As in ``WinogradF23`` the products are 25 GEMMs per chunk of images, and the chunk's
// transformed tiles stay in cache between the transforms and the GEMMs.
//
// Inside the kernel everything is channels-last, so every transform works on eight channels at a
// time with plain vector loads: each image is copied into a zero-bordered [rows, columns, C]
// buffer, and each output tile (4×4 positions of eight channels) is transposed into the planes of
// y as it is made. Measured alone (`bench --no-reference --filter _s2_fwd`, several runs), the two
// downsampling convolutions of ResNet-20 went from 118–122 and 121–145 GFLOPS (im2col + GEMM) to
// 114–155 and 140–203.
//
// Costs: the transformed weights U take 25·4·C·O floats (about 11× the weights: 52 MB for
// 256 → 512), rebuilt at every call in a reused workspace. As in any Winograd kernel, a non-finite
// input value spreads through the transforms (∞ − ∞) to the whole 4×4 output tile around it, where
// im2col would give ±∞ or NaN only inside its receptive field.
//
// With the points 0, 1, −1, 2 and ∞ (the transforms of Lavin & Gray's construction):
//
//     Bᵀ = | 2 −1 −2  1  0 |    G = |  ½    0  |    Aᵀ = | 1  1  1  1  0 |
//          | 0 −2 −1  1  0 |        | −½   −½  |         | 0  1 −1  2  0 |
//          | 0  2 −3  1  0 |        | −⅙    ⅙  |         | 0  1  1  4  0 |
//          | 0 −1  0  1  0 |        |  ⅙    ⅓  |         | 0  1 −1  8  1 |
//          | 0  2 −1 −2  1 |        |  0    1  |
//
// The output differs from im2col's by rounding: about 1e-6 of its scale (the tests allow 1e-4).

/// The Winograd forward kernel of 3×3, stride-2, padding-1 convolutions over raw buffers.
/// x: [N, C, H, W], w: [O, C, 3, 3], y: [N, O, H/2, W/2].
struct WinogradStride2 {
    let geo: ConvGeometry
    let n: Int, outChannels: Int
    /// Output tiles (4×4) along the height and width; the last ones may hang over the edge.
    let tilesH: Int, tilesW: Int
    /// Channels and output channels rounded up to whole 8-lane vectors (the extra ones are zero).
    let lanesC: Int, lanesO: Int


    /// Whether the kernel can run the convolution: 3×3, stride 2, padding 1, undilated and
    /// ungrouped over an even image (the output is then half its size), with one image's tiles
    /// within a generous per-thread budget. Whether it is worth it is ``ConvPlan``'s decision.
    static func applies(_ geo: ConvGeometry, groups: Int, outChannels: Int) -> Bool {
        guard groups == 1, geo.kh == 3, geo.kw == 3, geo.sh == 2, geo.sw == 2, geo.dh == 1, geo.dw == 1,
              geo.ph == 1, geo.pw == 1, geo.height % 2 == 0, geo.width % 2 == 0 else { return false }
        let tiles = ((geo.outH + 3) / 4) * ((geo.outW + 3) / 4)
        let lanesC = (geo.channels + 7) / 8 * 8, lanesO = (outChannels + 7) / 8 * 8
        return 25 * tiles * (4 * lanesC + lanesO) * 4 <= 16 * WinogradF23.chunkBytes
    }

    /// The kernel for a convolution ``applies(_:groups:outChannels:)`` accepts.
    init(geo: ConvGeometry, n: Int, outChannels: Int) {
        precondition(WinogradStride2.applies(geo, groups: 1, outChannels: outChannels), "WinogradStride2: geometry \(geo) does not apply")
        self.geo = geo
        self.n = n
        self.outChannels = outChannels
        tilesH = (geo.outH + 3) / 4
        tilesW = (geo.outW + 3) / 4
        lanesC = (geo.channels + 7) / 8 * 8
        lanesO = (outChannels + 7) / 8 * 8
    }

    var tilesPerImage: Int { tilesH * tilesW }
    /// GEMM depth: four phases of every channel.
    var depth: Int { 4 * lanesC }
    /// Floats of V [25, T, depth] and M [25, T, lanesO] per image.
    var perImage: Int { 25 * tilesPerImage * (depth + lanesO) }

    /// Threads the batch is split across.
    var parts: Int { Parallel.parts(for: n, minimum: 1) }

    /// Images per chunk (see ``winogradChunk(bytesPerImage:tilesPerImage:kernelFloats:images:parts:)``).
    var chunk: Int {
        winogradChunk(bytesPerImage: 4 * perImage, tilesPerImage: tilesPerImage, kernelFloats: depth * lanesO, images: n, parts: parts)
    }

    /// The channels-last input buffer: input rows −2 ..< 8·tilesH + 2 and columns likewise (every
    /// window of every tile, with the padding and any overhang as zeros), lanesC floats each.
    var inputRows: Int { 8 * tilesH + 4 }
    var inputColumns: Int { 8 * tilesW + 4 }

    /// y = conv(x, w), overwritten.  x: [N, C, H, W], w: [O, C, 3, 3], y: [N, O, H/2, W/2].
    func forward(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        if n == 0 { return }
        let B = chunk, T = B * tilesPerImage, K = depth, LC = lanesC, LO = lanesO
        // V and M: 25 matrices each, staggered by a cache line (see WinogradF23.forEachChunk).
        let vStride = T * K + 16, mStride = T * LO + 16
        let inputCount = inputRows * inputColumns * lanesC
        let perPart = 25 * (vStride + mStride) + inputCount + 128
        let planeIn = geo.channels * geo.height * geo.width, planeOut = outChannels * geo.positions
        // Shared: U [25, depth, lanesO] and the weights channels-last; per part: V, M, the input
        // buffer and one output tile.
        forEachWinogradChunk(images: n, parts: parts, chunk: B, shared: sharedCount, perPart: perPart,
                             prepare: { u in transformWeights(w, into: u) }, finish: { _ in },
                             startPart: { scratch in
                                 // The input buffer's border and padded channels stay zero for good.
                                 (scratch + 25 * (vStride + mStride)).update(repeating: 0, count: inputCount)
                             }) { _, images, scratch, u in
            let v = scratch, m = v + 25 * vStride, xs = m + 25 * mStride, tile = xs + inputCount
            for (i, s) in images.enumerated() {
                copyChannelsLast(x + s * planeIn, into: xs)
                transformInput(xs, into: v + i * tilesPerImage * K, xiStride: vStride)
            }
            for xi in 0..<25 {
                // M_ξ[t, o] = V_ξ[t, k] · U_ξ[k, o], over the phase blocks where U_ξ is not zero.
                let blocks = WinogradStride2.nonzeroBlocks(xi), first = blocks.lowerBound * LC
                BLAS.gemm(transA: false, transB: false, m: images.count * tilesPerImage, n: LO, k: blocks.count * LC,
                          a: v + xi * vStride + first, lda: K, b: u + xi * K * LO + first * LO, ldb: LO,
                          c: m + xi * mStride, ldc: LO)
            }
            for (i, s) in images.enumerated() {
                transformOutput(m + i * tilesPerImage * LO, xiStride: mStride, into: y + s * planeOut, tile: tile)
            }
        }
    }

    /// Where the channels of phase (r, q) sit along the GEMM depth: block 0 holds phase (1, 0),
    /// then (1, 1), (0, 1) and (0, 0), lanesC channels each.
    ///
    /// A phase with r = 0 has no kernel row a = 0 (it would be tap row −1), so its U = G g Gᵀ is
    /// zero in row 0; one with q = 0 is zero in column 0. With the blocks in this order, the
    /// phases whose U_ξ may be nonzero are always consecutive: all four for most ξ, (1, 0) and
    /// (1, 1) in row 0, (1, 1) and (0, 1) in column 0, and (1, 1) alone for ξ = 0. Skipping the
    /// zero blocks leaves 81·C multiplications per tile and output channel of the 100·C.
    @inline(__always) static func block(r: Int, q: Int) -> Int { r == 1 ? q : 3 - q }

    /// The phase blocks whose U_ξ may be nonzero (see ``block(r:q:)``).
    @inline(__always) static func nonzeroBlocks(_ xi: Int) -> Range<Int> {
        switch (xi / 5 == 0, xi % 5 == 0) {
        case (true, true): return 1..<2
        case (true, false): return 0..<2
        case (false, true): return 1..<3
        case (false, false): return 0..<4
        }
    }

    /// Floats of shared workspace: U [25, depth, lanesO], then the weights channels-last.
    var sharedCount: Int { 25 * depth * lanesO + 9 * geo.channels * lanesO }

    /// u[ξ, k, o] = (G g Gᵀ)[ξ / 5, ξ % 5] for the 2×2 phase kernel g of w[o, c] at phase channel
    /// k = block(r, q)·lanesC + c (zero for the padded channels), eight output channels at a time.
    /// w: [O, C, 3, 3]; u: [25, depth, lanesO] followed by scratch for w as [C, 3, 3, lanesO].
    func transformWeights(_ w: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>) {
        let C = geo.channels, O = outChannels, LC = lanesC, LO = lanesO, KO = depth * LO
        let wt = u + 25 * KO
        if LC > C { u.update(repeating: 0, count: 25 * KO) }
        if LO > O { wt.update(repeating: 0, count: 9 * C * LO) }
        // Split over the input channels: each writes its own rows of wt and of U.
        Parallel.forRanges(C, parts: Parallel.parts(for: C * O, minimum: 4096)) { channels in
            for c in channels {
                for o in 0..<O {
                    for t in 0..<9 { wt[(c * 9 + t) * LO + o] = w[(o * C + c) * 9 + t] }
                }
                for r in 0..<2 {
                    for q in 0..<2 {
                        var o = 0
                        while o < LO {
                            // Phase kernel tap (a, b) is 3×3 tap (2a + r − 1, 2b + q − 1), zero at −1.
                            @inline(__always) func g(_ a: Int, _ b: Int) -> SIMD8<Float> {
                                let i = 2 * a + r - 1, j = 2 * b + q - 1
                                return i < 0 || j < 0 ? SIMD8() : load8(wt + (c * 9 + 3 * i + j) * LO + o)
                            }
                            // G down the two columns, then G along each of the five rows.
                            let c0 = g5(g(0, 0), g(1, 0)), c1 = g5(g(0, 1), g(1, 1))
                            let dst = u + (WinogradStride2.block(r: r, q: q) * LC + c) * LO + o
                            @inline(__always) func put(_ k: Int, _ e: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)) {
                                store8(e.0, dst + (5 * k) * KO)
                                store8(e.1, dst + (5 * k + 1) * KO)
                                store8(e.2, dst + (5 * k + 2) * KO)
                                store8(e.3, dst + (5 * k + 3) * KO)
                                store8(e.4, dst + (5 * k + 4) * KO)
                            }
                            put(0, g5(c0.0, c1.0))
                            put(1, g5(c0.1, c1.1))
                            put(2, g5(c0.2, c1.2))
                            put(3, g5(c0.3, c1.3))
                            put(4, g5(c0.4, c1.4))
                            o += 8
                        }
                    }
                }
            }
        }
    }

    /// xs[r + 2, q + 2, c] = x[c, r, q]: the image channels-last inside the zero border.
    /// x: [C, H, W], xs: [inputRows, inputColumns, lanesC].
    func copyChannelsLast(_ x: UnsafePointer<Float>, into xs: UnsafeMutablePointer<Float>) {
        let C = geo.channels, H = geo.height, W = geo.width, P = H * W, LC = lanesC, XW = inputColumns
        let quads = C / 4 * 4, wholeW = W / 4 * 4
        // Eight rows at a time (their part of the buffer stays in L1 while every channel is written
        // into it), and within them four channels at a time, each read straight along its rows.
        var r0 = 0
        while r0 < H {
            let r1 = Swift.min(H, r0 + 8)
            var c = 0
            while c < quads {
                for r in r0..<r1 {
                    let s = x + c * P + r * W, d = xs + ((r + 2) * XW + 2) * LC + c
                    var q = 0
                    while q < wholeW {
                        // Four columns of four channels, transposed.
                        let t = transpose4(load4(s + q), load4(s + P + q), load4(s + 2 * P + q), load4(s + 3 * P + q))
                        store4(t.0, d + q * LC)
                        store4(t.1, d + (q + 1) * LC)
                        store4(t.2, d + (q + 2) * LC)
                        store4(t.3, d + (q + 3) * LC)
                        q += 4
                    }
                    for q in wholeW..<W {
                        for k in 0..<4 { d[q * LC + k] = s[k * P + q] }
                    }
                }
                c += 4
            }
            for c in quads..<C {
                for r in r0..<r1 {
                    let s = x + c * P + r * W, d = xs + ((r + 2) * XW + 2) * LC + c
                    for q in 0..<W { d[q * LC] = s[q] }
                }
            }
            r0 = r1
        }
    }

    /// One image's windows, Bᵀ d B, eight channels at a time, into rows 0 ..< tilesPerImage of
    /// v: 25 matrices [·, depth], xiStride apart.  xs: [inputRows, inputColumns, lanesC].
    func transformInput(_ xs: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>, xiStride: Int) {
        let LC = lanesC, K = depth, XW = inputColumns
        // Window element (i, j) of phase (r, q) of tile (ty, tx) is input row 8·ty − 2 + 2i + r and
        // column 8·tx − 2 + 2j + q: buffer row 8·ty + 2i + r and column 8·tx + 2j + q.
        let window = Strides5(2 * XW * LC, 2 * LC), product = Strides5(5 * xiStride, xiStride)
        for ty in 0..<tilesH {
            for tx in 0..<tilesW {
                let row = v + (ty * tilesW + tx) * K
                for phase in 0..<4 {
                    let corner = xs + ((8 * ty + phase / 2) * XW + 8 * tx + phase % 2) * LC
                    var c = 0
                    while c < LC {
                        winogradInputTile(corner + c, window, row + WinogradStride2.block(r: phase / 2, q: phase % 2) * LC + c, product,
                                          as: SIMD8<Float>.self)
                        c += 8
                    }
                }
            }
        }
    }

    /// One image's output tiles, Aᵀ M A, eight output channels at a time, from rows
    /// 0 ..< tilesPerImage of m: 25 matrices [·, lanesO], xiStride apart, into y: [O, outH, outW].
    /// Each tile goes through `tile` ([4, 4, 8], in L1) and is transposed into eight planes of y;
    /// the parts of edge tiles and channel groups that fall outside y are dropped.
    func transformOutput(_ m: UnsafePointer<Float>, xiStride: Int, into y: UnsafeMutablePointer<Float>,
                         tile: UnsafeMutablePointer<Float>) {
        let O = outChannels, OH = geo.outH, OW = geo.outW, P = geo.positions, LO = lanesO
        let product = Strides5(5 * xiStride, xiStride), grid = Strides5(32, 8)
        for ty in 0..<tilesH {
            for tx in 0..<tilesW {
                let row = m + (ty * tilesW + tx) * LO
                let corner = y + 4 * ty * OW + 4 * tx
                let rows = Swift.min(4, OH - 4 * ty), columns = Swift.min(4, OW - 4 * tx)
                var o = 0
                while o < LO {
                    winogradOutputTile(row + o, product, tile, grid, as: SIMD8<Float>.self)
                    let dst = corner + o * P
                    if rows == 4 && columns == 4 && o + 8 <= O {
                        for a in 0..<4 {
                            // Four positions of eight channels → eight channels of four positions.
                            let t = tile + 32 * a
                            let p0 = load8(t), p1 = load8(t + 8), p2 = load8(t + 16), p3 = load8(t + 24)
                            let lo = transpose4(p0.lowHalf, p1.lowHalf, p2.lowHalf, p3.lowHalf)
                            let hi = transpose4(p0.highHalf, p1.highHalf, p2.highHalf, p3.highHalf)
                            let d = dst + a * OW
                            store4(lo.0, d); store4(lo.1, d + P); store4(lo.2, d + 2 * P); store4(lo.3, d + 3 * P)
                            store4(hi.0, d + 4 * P); store4(hi.1, d + 5 * P); store4(hi.2, d + 6 * P); store4(hi.3, d + 7 * P)
                        }
                    } else {
                        for k in 0..<Swift.min(8, O - o) {
                            for a in 0..<rows {
                                for b in 0..<columns { dst[k * P + a * OW + b] = tile[(4 * a + b) * 8 + k] }
                            }
                        }
                    }
                    o += 8
                }
            }
        }
    }
}

/// Offsets of the elements (i, j) of a 5×5 grid in memory: i·row + j·column, computed once.
struct Strides5 {
    let row: (Int, Int, Int, Int, Int), column: (Int, Int, Int, Int, Int)
    init(_ row: Int, _ column: Int) {
        self.row = (0, row, 2 * row, 3 * row, 4 * row)
        self.column = (0, column, 2 * column, 3 * column, 4 * column)
    }
}

/// Bᵀ d B for one 5×5 window d, a vector of lanes per element: d(i, j) at src + window(i, j), the
/// result (k, l) to dst + product(k, l).
@inline(__always) private func winogradInputTile<V: SIMD>(_ src: UnsafePointer<Float>, _ window: Strides5,
                                                          _ dst: UnsafeMutablePointer<Float>, _ product: Strides5, as: V.Type) where V.Scalar == Float {
    separable5(src, window, dst, product, outputs: 5) { (d0: V, d1: V, d2: V, d3: V, d4: V) in bt(d0, d1, d2, d3, d4) }
}

/// Aᵀ M A for one 5×5 grid of products M (a vector of lanes per element): M(k, l) at
/// src + product(k, l), output (a, b) to dst + tile(a, b) for a, b < 4.
@inline(__always) private func winogradOutputTile<V: SIMD>(_ src: UnsafePointer<Float>, _ product: Strides5,
                                                           _ dst: UnsafeMutablePointer<Float>, _ tile: Strides5, as: V.Type) where V.Scalar == Float {
    separable5(src, product, dst, tile, outputs: 4) { (m0: V, m1: V, m2: V, m3: V, m4: V) in
        let y = at(m0, m1, m2, m3, m4)
        return (y.0, y.1, y.2, y.3, y.3)   // the fifth is not stored
    }
}

/// T X Tᵀ for a 5×5 grid X of lane vectors, T a 1-D transform of five values (`outputs` of its
/// results are used): X(i, j) at src + grid(i, j), result (a, b) for a, b < outputs to
/// dst + out(a, b). T runs down each of the five columns, then along each result row.
@inline(__always) private func separable5<V: SIMD>(_ src: UnsafePointer<Float>, _ grid: Strides5,
                                                   _ dst: UnsafeMutablePointer<Float>, _ out: Strides5, outputs: Int,
                                                   _ transform: (V, V, V, V, V) -> (V, V, V, V, V)) where V.Scalar == Float {
    @inline(__always) func column(_ offset: Int) -> (V, V, V, V, V) {
        let p = src + offset
        return transform(load(p), load(p + grid.row.1), load(p + grid.row.2), load(p + grid.row.3), load(p + grid.row.4))
    }
    let e0 = column(grid.column.0), e1 = column(grid.column.1), e2 = column(grid.column.2)
    let e3 = column(grid.column.3), e4 = column(grid.column.4)
    @inline(__always) func row(_ z: (V, V, V, V, V), _ offset: Int) {
        let y = transform(z.0, z.1, z.2, z.3, z.4)
        let p = dst + offset
        store(y.0, p)
        store(y.1, p + out.column.1)
        store(y.2, p + out.column.2)
        store(y.3, p + out.column.3)
        if outputs == 5 { store(y.4, p + out.column.4) }
    }
    row((e0.0, e1.0, e2.0, e3.0, e4.0), out.row.0)
    row((e0.1, e1.1, e2.1, e3.1, e4.1), out.row.1)
    row((e0.2, e1.2, e2.2, e3.2, e4.2), out.row.2)
    row((e0.3, e1.3, e2.3, e3.3, e4.3), out.row.3)
    if outputs == 5 { row((e0.4, e1.4, e2.4, e3.4, e4.4), out.row.4) }
}

@inline(__always) private func load<V: SIMD>(_ p: UnsafePointer<Float>) -> V where V.Scalar == Float {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
}
@inline(__always) private func store<V: SIMD>(_ v: V, _ p: UnsafeMutablePointer<Float>) where V.Scalar == Float {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
}

/// G applied to (g0, g1).
@inline(__always) private func g5(_ g0: SIMD8<Float>, _ g1: SIMD8<Float>)
    -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    let sixth: Float = 1.0 / 6.0
    return (0.5 * g0, -0.5 * (g0 + g1), (g1 - g0) * sixth, (g0 + g1 + g1) * sixth, g1)
}

/// Bᵀ applied to (d0, …, d4).
@inline(__always) private func bt<V: SIMD>(_ d0: V, _ d1: V, _ d2: V, _ d3: V, _ d4: V) -> (V, V, V, V, V) where V.Scalar == Float {
    let e3 = d3 - d1, d32 = d3 - d2, two1 = d1 + d1
    let e0 = (d0 - d2) + (d0 - d2) + e3
    let e1 = d32 - two1
    let e2 = d32 + two1 - d2 - d2
    let e4 = d4 - d2 - e3 - e3
    return (e0, e1, e2, e3, e4)
}

/// Aᵀ applied to (m0, …, m4).
@inline(__always) private func at<V: SIMD>(_ m0: V, _ m1: V, _ m2: V, _ m3: V, _ m4: V) -> (V, V, V, V) where V.Scalar == Float {
    let s = m1 + m2, d = m1 - m2, two3 = m3 + m3, four3 = two3 + two3
    return (m0 + s + m3, d + two3, s + four3, d + four3 + four3 + m4)
}

/// The 4×4 matrix with rows a, b, c, d, transposed: its columns.
@inline(__always) private func transpose4(_ a: SIMD4<Float>, _ b: SIMD4<Float>, _ c: SIMD4<Float>, _ d: SIMD4<Float>)
    -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
    // (a0 a2 b0 b2), (a1 a3 b1 b3), (c0 c2 d0 d2), (c1 c3 d1 d3) …
    let ab = SIMD8(lowHalf: a, highHalf: b), cd = SIMD8(lowHalf: c, highHalf: d)
    let even = SIMD8(lowHalf: ab.evenHalf, highHalf: cd.evenHalf), odd = SIMD8(lowHalf: ab.oddHalf, highHalf: cd.oddHalf)
    // … then (a0 b0 c0 d0), (a2 b2 c2 d2), (a1 b1 c1 d1), (a3 b3 c3 d3).
    return (even.evenHalf, odd.evenHalf, even.oddHalf, odd.oddHalf)
}
