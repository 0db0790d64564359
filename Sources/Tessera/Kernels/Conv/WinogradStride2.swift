import CTesseraKernels

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
// As in ``Winograd3x3`` the products are 25 GEMMs per chunk of images, and the chunk's
// transformed tiles stay in cache between the transforms and the GEMMs.
//
// Inside the kernel everything is channels-last, so every transform works on eight channels at a
// time with plain vector loads: each image is copied into a zero-bordered [rows, columns, C]
// buffer, and each output tile (4×4 positions of eight channels) is transposed into the planes of
// y as it is made (figures in docs/BENCHMARKS.md).
//
// Costs: the transformed weights U take 25·4·C·O floats (about 11× the weights: 52 MB for
// 256 → 512), rebuilt at every call that records a gradient in a reused workspace, and kept with
// the weights' storage by an inference pass. As in any Winograd kernel, a non-finite
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
        return 25 * tiles * (4 * vectorLanes(geo.channels) + vectorLanes(outChannels)) * 4 <= 16 * Winograd3x3.chunkBytes
    }

    /// The kernel for a convolution ``applies(_:groups:outChannels:)`` accepts.
    init(geo: ConvGeometry, n: Int, outChannels: Int) {
        precondition(WinogradStride2.applies(geo, groups: 1, outChannels: outChannels), "WinogradStride2: geometry \(geo) does not apply")
        (self.geo, self.n, self.outChannels) = (geo, n, outChannels)
        (tilesH, tilesW, lanesC, lanesO) = winogradTiling(geo, outChannels: outChannels, tile: 4)
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
    /// `transformed`: U computed earlier by ``transformWeights(_:into:)`` (``sharedCount`` floats;
    /// an inference pass reuses it), or nil to transform w here.
    func forward(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                 transformed: UnsafePointer<Float>? = nil, epilogue: ConvEpilogue? = nil) {
        if n == 0 { return }
        let B = chunk, T = B * tilesPerImage, K = depth, LC = lanesC, LO = lanesO
        // V and M: 25 matrices each, staggered by a cache line (see Winograd3x3.forEachChunk).
        let vStride = T * K + 16, mStride = T * LO + 16
        let inputCount = inputRows * inputColumns * lanesC
        let perPart = 25 * (vStride + mStride) + inputCount + 16 * LO
        let planeIn = geo.channels * geo.height * geo.width, planeOut = outChannels * geo.positions
        // Shared: U [25, depth, lanesO] and the weights channels-last; per part: V, M, the input
        // buffer and one output tile.
        forEachWinogradChunk(images: n, parts: parts, chunk: B, shared: transformed == nil ? sharedCount : 0, perPart: perPart,
                             prepare: { u in if transformed == nil { transformWeights(w, into: u) } }, finish: { _ in },
                             startPart: { scratch in
                                 // The input buffer's border and padded channels stay zero for good.
                                 (scratch + 25 * (vStride + mStride)).update(repeating: 0, count: inputCount)
                             }) { _, images, scratch, shared in
            let u = transformed ?? UnsafePointer(shared)
            let v = scratch, m = v + 25 * vStride, xs = m + 25 * mStride, tile = xs + inputCount
            for (i, s) in images.enumerated() {
                copyChannelsLast(x + s * planeIn, into: xs)
                transformInput(xs, into: v + i * tilesPerImage * K, xiStride: vStride)
            }
            let T = images.count * tilesPerImage
            for xi in 0..<25 {
                // M_ξ[t, o] = V_ξ[t, k] · U_ξ[k, o], over the phase blocks where U_ξ is not zero
                // (in tk_wino_products for the kernel sizes where Winograd3x3's products run there).
                let blocks = WinogradStride2.nonzeroBlocks(xi), first = blocks.lowerBound * LC, k = blocks.count * LC
                if Winograd3x3.runsOwnProducts(depth: K, lanesO: LO) {
                    tk_wino_products(v + xi * vStride + first, 0, K, u + xi * K * LO + first * LO, k, LO, m + xi * mStride, 0, T, 1)
                } else {
                    BLAS.gemm(transA: false, transB: false, m: T, n: LO, k: k, a: v + xi * vStride + first, lda: K,
                              b: u + xi * K * LO + first * LO, ldb: LO, c: m + xi * mStride, ldc: LO)
                }
            }
            for (i, s) in images.enumerated() {
                epilogue.withImage(s, stride: planeOut) { e in
                    transformOutput(m + i * tilesPerImage * LO, xiStride: mStride, into: y + s * planeOut, tile: tile, epilogue: e)
                }
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
    /// k = block(r, q)·lanesC + c (zero for the padded channels), on all threads (split over the
    /// input channels). w: [O, C, 3, 3]; u: [25, depth, lanesO] followed by scratch for w as
    /// [C, 3, 3, lanesO].
    func transformWeights(_ w: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>) {
        let C = geo.channels, O = outChannels, LC = lanesC, LO = lanesO, KO = depth * LO
        let wt = u + 25 * KO
        if LC > C { u.update(repeating: 0, count: 25 * KO) }
        if LO > O { wt.update(repeating: 0, count: 9 * C * LO) }
        Parallel.forRanges(C, parts: Parallel.parts(for: C * O, minimum: 4096)) { channels in
            tk_wino_s2_weights(w, C, O, LC, LO, channels.lowerBound, channels.upperBound, u, wt)
        }
    }

    /// xs[r + 2, q + 2, c] = x[c, r, q]: the image channels-last inside the zero border.
    /// x: [C, H, W], xs: [inputRows, inputColumns, lanesC].
    func copyChannelsLast(_ x: UnsafePointer<Float>, into xs: UnsafeMutablePointer<Float>) {
        tk_wino_s2_channels_last(x, geo.channels, geo.height, geo.width, lanesC, inputColumns, xs)
    }

    /// One image's windows, Bᵀ d B, a vector of channels at a time, into rows 0 ..< tilesPerImage
    /// of v: 25 matrices [·, depth], xiStride apart.  xs: [inputRows, inputColumns, lanesC].
    func transformInput(_ xs: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>, xiStride: Int) {
        tk_wino_s2_input(xs, lanesC, inputColumns, tilesH, tilesW, v, xiStride)
    }

    /// One image's output tiles, Aᵀ M A, a vector of output channels at a time, from rows
    /// 0 ..< tilesPerImage of m: 25 matrices [·, lanesO], xiStride apart, into y: [O, outH, outW],
    /// through `tile` ([16, lanesO], in L1).
    func transformOutput(_ m: UnsafePointer<Float>, xiStride: Int, into y: UnsafeMutablePointer<Float>,
                         tile: UnsafeMutablePointer<Float>, epilogue: UnsafePointer<tk_conv_epilogue>? = nil) {
        tk_wino_s2_output(m, lanesO, outChannels, xiStride, tilesH, tilesW, geo.outH, geo.outW, y, tile, epilogue)
    }
}
