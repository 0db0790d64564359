import CTesseraKernels

// Winograd F(m×m, 3×3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015) for 3×3, stride-1, undilated, ungrouped convolutions, with output tiles of
// m = 2 or 4.
//
// Each m×m output tile is Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A, where d is the α×α input tile under it
// (α = m + 2) and g a 3×3 kernel. Summed over input channels, the α² elementwise products of a
// tile become α² independent GEMMs  M_ξ[T, O] = V_ξ[T, C] · U_ξ[C, O]  over T tiles:
// F(2×2, 3×3) makes 16 multiplications per tile and channel pair for 4 outputs (2.25× fewer than
// im2col), F(4×4, 3×3) 36 for 16 outputs (4× fewer), and they run as GEMMs: in tk_wino_products
// for kernels up to 128 × 128, in sgemm above (``runsOwnProducts(depth:lanesO:)``). A batch is
// transformed a few images at a time, so that V and M stay in cache between the transforms and
// the GEMMs (the GEMMs then run near the core's peak, where im2col's long skinny GEMMs do not).
//
// Inside the kernel each image is channels-last (transposed in and out 8×8 at a time), so every
// transform runs on vectors of channels at the kernel variant's full width, whatever the image
// size: on NCHW planes the vectors ran along a row of tiles, which is only 4 to 16 tiles long in
// a CIFAR ResNet. V and M are α² matrices [tiles, lanes] (one row per tile); lanes is the channel
// count rounded up to whole vectors (``vectorLanes(_:)``), and the GEMMs read only the real channels.
// The matrices B, G and A are in body/winograd23.h and body/winograd43.h.
//
// F(2×2, 3×3)'s transforms use only additions (and halvings in G), so its result differs from
// im2col's by rounding only: about 1e-6 of the output's scale (the tests allow 1e-4).
// F(4×4, 3×3)'s have factors up to 8 in A and 1/24 in G, and round a few times more: 3–5e-6 of
// the output's scale on random data (the tests allow 1e-3). A non-finite input value, though, spreads through the
// transforms (∞ − ∞) to the whole output tile around it.

/// The Winograd F(2×2, 3×3) and F(4×4, 3×3) kernels over raw buffers: the forward pass and the
/// weight gradient (the input gradient is a forward pass of the flipped convolution, see
/// ``ConvPlan``). x: [N, C, H, W], w: [O, C, 3, 3], y and dy: [N, O, outH, outW].
struct Winograd3x3 {
    let geo: ConvGeometry
    let n: Int, outChannels: Int
    /// Outputs per tile side: 2 for F(2×2, 3×3), 4 for F(4×4, 3×3).
    let tile: Int
    /// Tiles along the output height and width (the last ones may hang over the edge).
    let tilesH: Int, tilesW: Int
    /// Channels and output channels rounded up to whole vectors (the extra ones are zero).
    let lanesC: Int, lanesO: Int

    /// Cache budget for one chunk's V and M matrices (per thread). 1 MiB keeps both in the L2 of a
    /// Zen 4 core; the images per chunk follow from it. One image is the smallest chunk, so a large
    /// image may take more (up to 16 MiB, see ``applies(_:groups:outChannels:tile:)``), and so may a chunk
    /// of a layer with a large kernel (see ``winogradChunk(bytesPerImage:tilesPerImage:kernelFloats:images:parts:)``).
    static let chunkBytes = 1 << 20

    /// The transformed tile's side α = m + 2, and its α² elements: one GEMM each.
    static func matrices(tile: Int) -> Int { (tile + 2) * (tile + 2) }
    var matrices: Int { Winograd3x3.matrices(tile: tile) }

    /// Whether Winograd F(tile×tile, 3×3) can run the convolution: 3×3, stride 1, undilated,
    /// ungrouped, and an image whose tiles fit a generous per-thread budget (a whole image's tiles
    /// form the smallest chunk; larger images go to im2col, whose chunks need no such workspace).
    /// Whether it is also worth it is ``ConvPlan``'s decision.
    static func applies(_ geo: ConvGeometry, groups: Int, outChannels: Int, tile: Int = 2) -> Bool {
        guard tile == 2 || tile == 4 else { return false }
        guard groups == 1, geo.kh == 3, geo.kw == 3, geo.sh == 1, geo.sw == 1, geo.dh == 1, geo.dw == 1 else { return false }
        let tiles = ((geo.outH + tile - 1) / tile) * ((geo.outW + tile - 1) / tile)
        return matrices(tile: tile) * (vectorLanes(geo.channels) + vectorLanes(outChannels)) * tiles * 4 <= 16 * Winograd3x3.chunkBytes
    }

    /// The kernel for a convolution ``applies(_:groups:outChannels:tile:)`` accepts.
    init(geo: ConvGeometry, n: Int, outChannels: Int, tile: Int) {
        precondition(Winograd3x3.applies(geo, groups: 1, outChannels: outChannels, tile: tile),
                     "Winograd3x3: geometry \(geo) does not apply with \(tile)×\(tile) tiles")
        (self.geo, self.n, self.outChannels, self.tile) = (geo, n, outChannels, tile)
        (tilesH, tilesW, lanesC, lanesO) = winogradTiling(geo, outChannels: outChannels, tile: tile)
    }

    /// The kernel an algorithm of ``ConvPlan`` names (``ConvPlan/Algorithm/winogradF23`` or
    /// ``ConvPlan/Algorithm/winogradF43``).
    init(_ algorithm: ConvPlan.Algorithm, geo: ConvGeometry, n: Int, outChannels: Int) {
        precondition(algorithm == .winogradF23 || algorithm == .winogradF43, "Winograd3x3: \(algorithm) is not a Winograd F(m×m, 3×3)")
        self.init(geo: geo, n: n, outChannels: outChannels, tile: algorithm == .winogradF43 ? 4 : 2)
    }

    var tilesPerImage: Int { tilesH * tilesW }

    /// Images per chunk: as many as fit ``chunkBytes`` of V and M, or more for large kernels (see
    /// ``winogradChunk(bytesPerImage:tilesPerImage:kernelFloats:images:parts:)``), and no more than
    /// one thread gets.
    var chunk: Int {
        winogradChunk(bytesPerImage: matrices * (lanesC + lanesO) * tilesPerImage * 4, tilesPerImage: tilesPerImage,
                      kernelFloats: outChannels * geo.channels, images: n, parts: parts)
    }

    /// The zero-bordered channels-last copy of one input image every tile reads from: rows and
    /// columns −ph ..< m·tiles + 2 − ph of the input, lanesC floats each.
    var paddedH: Int { tile * tilesH + 2 }
    var paddedW: Int { tile * tilesW + 2 }
    /// The channels-last output (or output gradient) of one image: m·tiles rows and columns.
    var outputScratch: Int { tile * tilesH * tile * tilesW * lanesO }

    /// One thread's share of the work: its chunk buffers, and the images it walks.
    struct Chunk {
        /// α² matrices [T, lanesC], `vStride` apart: the transformed input tiles.
        let v: UnsafeMutablePointer<Float>
        /// α² matrices [T, lanesO], `mStride` apart: the products (forward) or transformed output gradient.
        let m: UnsafeMutablePointer<Float>
        /// One input image channels-last inside its zero border, and one output image channels-last.
        let xs: UnsafeMutablePointer<Float>, ys: UnsafeMutablePointer<Float>
        let vStride: Int, mStride: Int
        /// First image of the chunk and the number of images in it.
        let first: Int, count: Int
    }

    /// Threads the batch is split across: one range of images each.
    var parts: Int { Parallel.parts(for: n, minimum: 1) }

    /// Walks the batch in chunks of ``chunk`` images (see ``forEachWinogradChunk``), handing each
    /// chunk its buffers; each part's image buffers start at zero (their borders and padded
    /// channels stay so).
    ///
    ///     per part: V: α² × [T, lanesC] | M: α² × [T, lanesO] | xs: [paddedH, paddedW, lanesC] | ys: [m·tilesH, m·tilesW, lanesO]
    private func forEachChunk(parts: Int, shared: Int,
                              prepare: (UnsafeMutablePointer<Float>) -> Void,
                              finish: (UnsafeMutablePointer<Float>) -> Void = { _ in },
                              _ body: (Int, Chunk, UnsafeMutablePointer<Float>) -> Void) {
        let B = chunk, T = B * tilesPerImage, X = matrices
        // The matrices of V and of M are staggered by one cache line more than their size, so
        // the α² streams a transform writes or reads do not all map to the same cache sets.
        let vStride = T * lanesC + 16, mStride = T * lanesO + 16
        let images = paddedH * paddedW * lanesC + outputScratch
        let perPart = X * (vStride + mStride) + images
        forEachWinogradChunk(images: n, parts: parts, chunk: B, shared: shared, perPart: perPart, prepare: prepare, finish: finish,
                             startPart: { scratch in (scratch + X * (vStride + mStride)).update(repeating: 0, count: images) }) { part, range, base, shared in
            let xs = base + X * (vStride + mStride)
            let c = Chunk(v: base, m: base + X * vStride, xs: xs, ys: xs + paddedH * paddedW * lanesC,
                          vStride: vStride, mStride: mStride, first: range.lowerBound, count: range.count)
            body(part, c, shared)
        }
    }

    /// Tile rows tr0 ..< tr1 of one image's input tiles into rows firstTile ..< of v (α² matrices,
    /// `stride` apart). x: [C, H, W]; xs: the band's zero-bordered scratch.
    private func transformInput(_ x: UnsafePointer<Float>, rows tr0: Int, _ tr1: Int, xs: UnsafeMutablePointer<Float>,
                                v: UnsafeMutablePointer<Float>, stride: Int, firstTile: Int) {
        let f = tile == 4 ? tk_wino43_input_band : tk_wino23_input_band
        f(x, geo.channels, geo.height, geo.width, geo.ph, geo.pw, tilesW, lanesC, tr0, tr1, xs, v, stride, firstTile)
    }

    /// Tile rows tr0 ..< tr1 of one image's outputs from rows firstTile ..< of m into y [O, outH,
    /// outW] through the epilogue; ys: the band's scratch.
    private func transformOutput(_ m: UnsafePointer<Float>, stride: Int, firstTile: Int, rows tr0: Int, _ tr1: Int,
                                 ys: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, _ e: UnsafePointer<tk_conv_epilogue>?) {
        let f = tile == 4 ? tk_wino43_output_band : tk_wino23_output_band
        f(m, lanesO, stride, firstTile, outChannels, geo.outH, geo.outW, tilesW, tr0, tr1, ys, y, e)
    }

    /// The input tiles of the chunk's images, transformed into `c.v`.  x: [N, C, H, W].
    private func transformInputs(_ x: UnsafePointer<Float>, _ c: Chunk) {
        let plane = geo.channels * geo.height * geo.width
        for i in 0..<c.count {
            transformInput(x + (c.first + i) * plane, rows: 0, tilesH, xs: c.xs, v: c.v, stride: c.vStride, firstTile: i * tilesPerImage)
        }
    }

    /// Floats of the transformed weights U (``transformWeights(_:into:)``): α² matrices [C, lanesO].
    var transformedWeightCount: Int { matrices * geo.channels * lanesO }

    /// y = conv(x, w), overwritten.  x: [N, C, H, W], w: [O, C, 3, 3], y: [N, O, outH, outW].
    /// `transformed`: U computed earlier by ``transformWeights(_:into:)`` (an inference pass
    /// reuses it), or nil to transform w here.
    func forward(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                 transformed: UnsafePointer<Float>? = nil, epilogue: ConvEpilogue? = nil) {
        let O = outChannels
        if n == 0 { return }
        if n == 1 && Runtime.threads > 1 && tilesH > 1 {
            forwardInBands(x: x, w: w, y: y, transformed: transformed, epilogue: epilogue)
            return
        }
        // Shared: u = G w Gᵀ, α² matrices [C, lanesO] (unless given).
        forEachChunk(parts: parts, shared: transformed == nil ? transformedWeightCount : 0,
                     prepare: { u in if transformed == nil { transformWeights(w, into: u) } }) { _, c, shared in
            let u = transformed ?? UnsafePointer(shared)
            transformInputs(x, c)
            products(v: c.v, vStride: c.vStride, u: u, m: c.m, mStride: c.mStride, rows: c.count * tilesPerImage)
            for i in 0..<c.count {
                let image = c.first + i, at = image * O * geo.positions
                epilogue.withImage(image, stride: O * geo.positions) { e in
                    transformOutput(c.m, stride: c.mStride, firstTile: i * tilesPerImage, rows: 0, tilesH, ys: c.ys, y: y + at, e)
                }
            }
        }
    }

    /// Whether the products of a transformed kernel U_ξ of `depth` rows (input channels) and
    /// `lanesO` columns (padded output channels) run in ``tk_wino_products`` rather than sgemm: up to
    /// 128 × 128 (64 KiB), the sizes it was measured faster at.
    ///
    /// Measured on a Zen 3 (docs/BENCHMARKS.md, "Winograd F(4×4, 3×3)"), forward without gradients,
    /// time with tk_wino_products / time with sgemm, both tile sizes: 32 → 32 at 16² 0.40–0.48 at
    /// batch 64 and 0.70–0.82 at batch 128, 64 → 64 0.55–0.82, 128 → 128 at 16² 0.64–0.89,
    /// 96 → 160 at 12² 0.65–1.37; but 256 → 256 at 8² 1.03–1.75 and 512 → 512 at 4² 1.04–2.1, where
    /// U_ξ no longer stays in cache while the tiles stream past it (sgemm packs it in blocks that do).
    static func runsOwnProducts(depth: Int, lanesO: Int) -> Bool { depth <= 128 && lanesO <= 128 }

    /// M_ξ[rows, O] = V_ξ[rows, C] · U_ξ[C, O] for every ξ, overwritten: rows of V (stride lanesC)
    /// and M (stride lanesO) from the given starts, `vStride` and `mStride` between matrices.
    private func products(v: UnsafePointer<Float>, vStride: Int, u: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
                          mStride: Int, rows: Int) {
        let C = geo.channels, O = outChannels, LC = lanesC, LO = lanesO
        if Winograd3x3.runsOwnProducts(depth: C, lanesO: LO) {
            tk_wino_products(v, vStride, LC, u, C, LO, m, mStride, rows, matrices)
            return
        }
        for xi in 0..<matrices {
            // M_ξ[T, O] = V_ξ[T, C] · U_ξ[C, O]
            BLAS.gemm(transA: false, transB: false, m: rows, n: O, k: C, a: v + xi * vStride, lda: LC,
                      b: u + xi * C * LO, ldb: LO, c: m + xi * mStride, ldc: LO)
        }
    }

    /// ``forward(x:w:y:transformed:epilogue:)`` of a single image on every thread: the image is cut
    /// into bands of tile rows, one per thread, and each band transforms its input rows, runs its
    /// rows of the α² GEMMs (single-threaded) and writes its output rows, without waiting for the
    /// others (batch-1 inference, where splitting by images would leave all but one thread idle).
    ///
    ///     workspace: U (unless given) | V: α² × [T, lanesC] | M: α² × [T, lanesO] | per band: xs, ys
    private func forwardInBands(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                transformed: UnsafePointer<Float>?, epilogue: ConvEpilogue?) {
        let O = outChannels, LC = lanesC, LO = lanesO, T = tilesPerImage, X = matrices
        let bands = Swift.min(Runtime.threads, tilesH), bandRows = (tilesH + bands - 1) / bands
        let vStride = T * LC + 16, mStride = T * LO + 16
        let xsCount = (tile * bandRows + 2) * paddedW * LC, ysCount = tile * bandRows * tile * tilesW * LO
        let perBand = (xsCount + ysCount + 15) / 16 * 16
        let uCount = transformed == nil ? (transformedWeightCount + 15) / 16 * 16 : 0
        BufferPool.withScratch(uCount + X * (vStride + mStride) + bands * perBand) { ws in
            if transformed == nil { transformWeights(w, into: ws) }
            let u = transformed ?? UnsafePointer(ws)
            let v = ws + uCount, m = v + X * vStride
            BLAS.useOpenBLASThreads(1)
            Parallel.run(parts: bands) { b in
                let tr0 = tilesH * b / bands, tr1 = tilesH * (b + 1) / bands
                let xs = m + X * mStride + b * perBand, ys = xs + xsCount
                xs.update(repeating: 0, count: xsCount)   // the border and padded channels read as zeros
                transformInput(x, rows: tr0, tr1, xs: xs, v: v, stride: vStride, firstTile: 0)
                let first = tr0 * tilesW
                products(v: v + first * LC, vStride: vStride, u: u, m: m + first * LO, mStride: mStride, rows: (tr1 - tr0) * tilesW)
                epilogue.withImage(0, stride: O * geo.positions) { e in
                    transformOutput(m, stride: mStride, firstTile: 0, rows: tr0, tr1, ys: ys, y: y, e)
                }
            }
        }
    }

    /// dw += ∂L/∂w for the output gradient dy.  dy: [N, O, outH, outW], x: [N, C, H, W], dw: [O, C, 3, 3].
    ///
    /// The adjoint of ``forward(x:w:y:)``: each output-gradient tile goes through A (dM = A dY Aᵀ),
    /// α² GEMMs dU_ξ[C, O] += V_ξ[T, C]ᵀ · dM_ξ[T, O] sum over the tiles, and dw += Gᵀ dU G.
    func backwardWeight(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>) {
        let C = geo.channels, O = outChannels, LC = lanesC, LO = lanesO, UC = matrices * C * LO, parts = self.parts
        if n == 0 { return }
        let outputGradient = tile == 4 ? tk_wino43_output_gradient : tk_wino23_output_gradient
        // Shared: one dU (α² matrices [C, lanesO]) per thread, summed into the first at the end.
        forEachChunk(parts: parts, shared: parts * UC, prepare: { du in du.update(repeating: 0, count: parts * UC) }, finish: { du in
            for part in 1..<Swift.max(parts, 1) {
                tk_binary(TK_BINARY_ADD, UC, du, 1, du + part * UC, 1, du, 1, 0, 0)
            }
            accumulateWeightGradient(du, into: dw)
        }) { part, c, du in
            transformInputs(x, c)
            for i in 0..<c.count {
                outputGradient(dy + (c.first + i) * O * geo.positions, O, geo.outH, geo.outW, tilesH, tilesW, LO,
                               c.ys, c.m, c.mStride, i * tilesPerImage)
            }
            let acc = du + part * UC, T = c.count * tilesPerImage
            for xi in 0..<matrices {
                // dU_ξ[C, O] += V_ξ[T, C]ᵀ · dM_ξ[T, O]
                BLAS.gemm(transA: true, transB: false, m: C, n: O, k: T, a: c.v + xi * c.vStride, lda: LC,
                          b: c.m + xi * c.mStride, ldb: LO, beta: 1, c: acc + xi * C * LO, ldc: LO)
            }
        }
    }

    /// dw[o, c] += Gᵀ dU[·, c, o] G, the adjoint of ``transformWeights(_:into:)``, on all threads
    /// (each part writes its own input channels).  du: α² matrices [C, lanesO], dw: [O, C, 3, 3].
    func accumulateWeightGradient(_ du: UnsafePointer<Float>, into dw: UnsafeMutablePointer<Float>) {
        let C = geo.channels, O = outChannels, LO = lanesO
        let f = tile == 4 ? tk_wino43_weight_gradient : tk_wino23_weight_gradient
        Parallel.forRanges(C, parts: Parallel.parts(for: O * C, minimum: 4096)) { channels in
            f(du, O, C, LO, channels.lowerBound, channels.upperBound, dw)
        }
    }

    /// u[ξ, c, o] = (G g Gᵀ)[ξ / α, ξ % α] for g = w[o, c], on all threads (split over the input
    /// channels).  w: [O, C, 3, 3], u: α² matrices [C, lanesO].
    func transformWeights(_ w: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>) {
        let C = geo.channels, O = outChannels, LO = lanesO
        let f = tile == 4 ? tk_wino43_weights : tk_wino23_weights
        Parallel.forRanges(C, parts: Parallel.parts(for: O * C, minimum: 4096)) { channels in
            f(w, O, C, LO, channels.lowerBound, channels.upperBound, u)
        }
    }
}

/// Tiles of `tile` × `tile` outputs along the height and width (the last may hang over the edge),
/// and the channels and output channels rounded up to whole vectors (``vectorLanes(_:)``).
func winogradTiling(_ geo: ConvGeometry, outChannels: Int, tile: Int) -> (tilesH: Int, tilesW: Int, lanesC: Int, lanesO: Int) {
    ((geo.outH + tile - 1) / tile, (geo.outW + tile - 1) / tile, vectorLanes(geo.channels), vectorLanes(outChannels))
}

/// `n` channels rounded up to whole vectors of the channels-last Winograd kernels: a multiple of
/// 8 (their 8×8 transposes) and of the kernel variant's width.
func vectorLanes(_ n: Int) -> Int {
    let v = Swift.max(8, Runtime.isa.lanes)
    return (n + v - 1) / v * v
}
