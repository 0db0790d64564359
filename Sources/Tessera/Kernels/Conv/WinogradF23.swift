import CTesseraKernels

// Winograd F(2×2, 3×3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015) for 3×3, stride-1, undilated, ungrouped convolutions.
//
// Each 2×2 output tile is Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A, where d is the 4×4 input tile under it and
// g a 3×3 kernel. Summed over input channels, the 16 elementwise products of a tile become 16
// independent GEMMs  M_ξ[T, O] = V_ξ[T, C] · U_ξ[C, O]  over T tiles: 16 multiplications per
// tile and channel pair instead of im2col's 36, and they still run in sgemm. A batch is
// transformed a few images at a time, so that V and M stay in cache between the transforms and
// the GEMMs (the GEMMs then run near the core's peak, where im2col's long skinny GEMMs do not).
//
// Inside the kernel each image is channels-last (transposed in and out 8×8 at a time), so every
// transform runs on vectors of channels at the kernel variant's full width, whatever the image
// size: on NCHW planes the vectors ran along a row of tiles, which is only 4 to 16 tiles long in
// a CIFAR ResNet. V and M are 16 matrices [tiles, lanes] (one row per tile); lanes is the channel
// count rounded up to whole vectors (``vectorLanes(_:)``), and the GEMMs read only the real channels.
//
//     Bᵀ = | 1  0 −1  0 |     G = | 1    0    0  |     Aᵀ = | 1  1  1  0 |
//          | 0  1  1  0 |         | ½    ½    ½  |          | 0  1 −1 −1 |
//          | 0 −1  1  0 |         | ½   −½    ½  |
//          | 0  1  0 −1 |         | 0    0    1  |
//
// The transforms use only additions (and halvings in G), so the result differs from im2col's by
// rounding only: about 1e-6 of the output's scale (the tests allow 1e-4). A non-finite input
// value, though, spreads through the transforms (∞ − ∞) to the whole 2×2 output tile around it.

/// The Winograd F(2×2, 3×3) kernels over raw buffers: the forward pass and the weight gradient
/// (the input gradient is a forward pass of the flipped convolution, see ``ConvPlan``).
/// x: [N, C, H, W], w: [O, C, 3, 3], y and dy: [N, O, outH, outW].
struct WinogradF23 {
    let geo: ConvGeometry
    let n: Int, outChannels: Int
    /// Tiles along the output height and width (the last ones may hang over an odd edge).
    let tilesH: Int, tilesW: Int
    /// Channels and output channels rounded up to whole vectors (the extra ones are zero).
    let lanesC: Int, lanesO: Int

    /// Cache budget for one chunk's V and M matrices (per thread). 1 MiB keeps both in the L2 of a
    /// Zen 4 core; the images per chunk follow from it. One image is the smallest chunk, so a large
    /// image may take more (up to 16 MiB, see ``applies(_:groups:outChannels:)``), and so may a chunk
    /// of a layer with a large kernel (see ``winogradChunk(bytesPerImage:tilesPerImage:kernelFloats:images:parts:)``).
    static let chunkBytes = 1 << 20

    /// Whether Winograd F(2×2, 3×3) can run the convolution: 3×3, stride 1, undilated,
    /// ungrouped, and an image whose tiles fit a generous per-thread budget (a whole image's tiles
    /// form the smallest chunk; larger images go to im2col, whose chunks need no such workspace).
    /// Whether it is also worth it is ``ConvPlan``'s decision.
    static func applies(_ geo: ConvGeometry, groups: Int, outChannels: Int) -> Bool {
        guard groups == 1, geo.kh == 3, geo.kw == 3, geo.sh == 1, geo.sw == 1, geo.dh == 1, geo.dw == 1 else { return false }
        let tiles = ((geo.outH + 1) / 2) * ((geo.outW + 1) / 2)
        return 16 * (vectorLanes(geo.channels) + vectorLanes(outChannels)) * tiles * 4 <= 16 * WinogradF23.chunkBytes
    }

    /// The kernel for a convolution ``applies(_:groups:outChannels:)`` accepts.
    init(geo: ConvGeometry, n: Int, outChannels: Int) {
        precondition(WinogradF23.applies(geo, groups: 1, outChannels: outChannels), "WinogradF23: geometry \(geo) does not apply")
        (self.geo, self.n, self.outChannels) = (geo, n, outChannels)
        (tilesH, tilesW, lanesC, lanesO) = winogradTiling(geo, outChannels: outChannels, tile: 2)
    }

    var tilesPerImage: Int { tilesH * tilesW }

    /// Images per chunk: as many as fit ``chunkBytes`` of V and M, or more for large kernels (see
    /// ``winogradChunk(bytesPerImage:tilesPerImage:kernelFloats:images:parts:)``), and no more than
    /// one thread gets.
    var chunk: Int {
        winogradChunk(bytesPerImage: 16 * (lanesC + lanesO) * tilesPerImage * 4, tilesPerImage: tilesPerImage,
                      kernelFloats: outChannels * geo.channels, images: n, parts: parts)
    }

    /// The zero-bordered channels-last copy of one input image every tile reads from: rows and
    /// columns −ph ..< 2·tiles + 2 − ph of the input, lanesC floats each.
    var paddedH: Int { 2 * tilesH + 2 }
    var paddedW: Int { 2 * tilesW + 2 }
    /// The channels-last output (or output gradient) of one image: 2·tiles rows and columns.
    var outputScratch: Int { 4 * tilesH * tilesW * lanesO }

    /// One thread's share of the work: its chunk buffers, and the images it walks.
    struct Chunk {
        /// 16 matrices [T, lanesC], `vStride` apart: the transformed input tiles.
        let v: UnsafeMutablePointer<Float>
        /// 16 matrices [T, lanesO], `mStride` apart: the products (forward) or transformed output gradient.
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
    ///     per part: V: 16 × [T, lanesC] | M: 16 × [T, lanesO] | xs: [paddedH, paddedW, lanesC] | ys: [2·tilesH, 2·tilesW, lanesO]
    private func forEachChunk(parts: Int, shared: Int,
                              prepare: (UnsafeMutablePointer<Float>) -> Void,
                              finish: (UnsafeMutablePointer<Float>) -> Void = { _ in },
                              _ body: (Int, Chunk, UnsafeMutablePointer<Float>) -> Void) {
        let B = chunk, T = B * tilesPerImage
        // The 16 matrices of V and of M are staggered by one cache line more than their size, so
        // the 16 streams a transform writes or reads do not all map to the same cache sets.
        let vStride = T * lanesC + 16, mStride = T * lanesO + 16
        let images = paddedH * paddedW * lanesC + outputScratch
        let perPart = 16 * (vStride + mStride) + images
        forEachWinogradChunk(images: n, parts: parts, chunk: B, shared: shared, perPart: perPart, prepare: prepare, finish: finish,
                             startPart: { scratch in (scratch + 16 * (vStride + mStride)).update(repeating: 0, count: images) }) { part, range, base, shared in
            let xs = base + 16 * (vStride + mStride)
            let c = Chunk(v: base, m: base + 16 * vStride, xs: xs, ys: xs + paddedH * paddedW * lanesC,
                          vStride: vStride, mStride: mStride, first: range.lowerBound, count: range.count)
            body(part, c, shared)
        }
    }

    /// The input tiles of the chunk's images, transformed into `c.v`.  x: [N, C, H, W].
    private func transformInputs(_ x: UnsafePointer<Float>, _ c: Chunk) {
        let plane = geo.channels * geo.height * geo.width
        for i in 0..<c.count {
            tk_wino23_input(x + (c.first + i) * plane, geo.channels, geo.height, geo.width, geo.ph, geo.pw, tilesH, tilesW,
                            lanesC, c.xs, c.v, c.vStride, i * tilesPerImage)
        }
    }

    /// Floats of the transformed weights U (``transformWeights(_:into:)``): 16 matrices [C, lanesO].
    var transformedWeightCount: Int { 16 * geo.channels * lanesO }

    /// y = conv(x, w), overwritten.  x: [N, C, H, W], w: [O, C, 3, 3], y: [N, O, outH, outW].
    /// `transformed`: U computed earlier by ``transformWeights(_:into:)`` (an inference pass
    /// reuses it), or nil to transform w here.
    func forward(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                 transformed: UnsafePointer<Float>? = nil, epilogue: ConvEpilogue? = nil) {
        let C = geo.channels, O = outChannels, LC = lanesC, LO = lanesO
        if n == 0 { return }
        if n == 1 && Runtime.threads > 1 && tilesH > 1 {
            forwardInBands(x: x, w: w, y: y, transformed: transformed, epilogue: epilogue)
            return
        }
        // Shared: u = G w Gᵀ, 16 matrices [C, lanesO] (unless given).
        forEachChunk(parts: parts, shared: transformed == nil ? transformedWeightCount : 0,
                     prepare: { u in if transformed == nil { transformWeights(w, into: u) } }) { _, c, shared in
            let u = transformed ?? UnsafePointer(shared)
            transformInputs(x, c)
            let T = c.count * tilesPerImage
            for xi in 0..<16 {
                // M_ξ[T, O] = V_ξ[T, C] · U_ξ[C, O]
                BLAS.gemm(transA: false, transB: false, m: T, n: O, k: C, a: c.v + xi * c.vStride, lda: LC,
                          b: u + xi * C * LO, ldb: LO, c: c.m + xi * c.mStride, ldc: LO)
            }
            for i in 0..<c.count {
                let image = c.first + i, at = image * O * geo.positions
                epilogue.withImage(image, stride: O * geo.positions) { e in
                    tk_wino23_output(c.m, LO, c.mStride, i * tilesPerImage, O, geo.outH, geo.outW, tilesH, tilesW, c.ys, y + at, e)
                }
            }
        }
    }

    /// ``forward(x:w:y:transformed:epilogue:)`` of a single image on every thread: the image is cut
    /// into bands of tile rows, one per thread, and each band transforms its input rows, runs its
    /// rows of the 16 GEMMs (single-threaded) and writes its output rows, without waiting for the
    /// others (batch-1 inference, where splitting by images would leave all but one thread idle).
    ///
    ///     workspace: U (unless given) | V: 16 × [T, lanesC] | M: 16 × [T, lanesO] | per band: xs, ys
    private func forwardInBands(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                transformed: UnsafePointer<Float>?, epilogue: ConvEpilogue?) {
        let C = geo.channels, O = outChannels, LC = lanesC, LO = lanesO, T = tilesPerImage
        let bands = Swift.min(Runtime.threads, tilesH), bandRows = (tilesH + bands - 1) / bands
        let vStride = T * LC + 16, mStride = T * LO + 16
        let xsCount = (2 * bandRows + 2) * paddedW * LC, ysCount = 2 * bandRows * 2 * tilesW * LO
        let perBand = (xsCount + ysCount + 15) / 16 * 16
        let uCount = transformed == nil ? (transformedWeightCount + 15) / 16 * 16 : 0
        BufferPool.withScratch(uCount + 16 * (vStride + mStride) + bands * perBand) { ws in
            if transformed == nil { transformWeights(w, into: ws) }
            let u = transformed ?? UnsafePointer(ws)
            let v = ws + uCount, m = v + 16 * vStride
            BLAS.useOpenBLASThreads(1)
            Parallel.run(parts: bands) { b in
                let tr0 = tilesH * b / bands, tr1 = tilesH * (b + 1) / bands
                let xs = m + 16 * mStride + b * perBand, ys = xs + xsCount
                xs.update(repeating: 0, count: xsCount)   // the border and padded channels read as zeros
                tk_wino23_input_band(x, C, geo.height, geo.width, geo.ph, geo.pw, tilesW, LC, tr0, tr1, xs, v, vStride, 0)
                let first = tr0 * tilesW, rows = (tr1 - tr0) * tilesW
                for xi in 0..<16 {
                    // Rows first ..< first + rows of M_ξ[T, O] = V_ξ[T, C] · U_ξ[C, O]
                    BLAS.gemm(transA: false, transB: false, m: rows, n: O, k: C, a: v + xi * vStride + first * LC, lda: LC,
                              b: u + xi * C * LO, ldb: LO, c: m + xi * mStride + first * LO, ldc: LO)
                }
                epilogue.withImage(0, stride: O * geo.positions) { e in
                    tk_wino23_output_band(m, LO, mStride, 0, O, geo.outH, geo.outW, tilesW, tr0, tr1, ys, y, e)
                }
            }
        }
    }

    /// dw += ∂L/∂w for the output gradient dy.  dy: [N, O, outH, outW], x: [N, C, H, W], dw: [O, C, 3, 3].
    ///
    /// The adjoint of ``forward(x:w:y:)``: each output-gradient tile goes through A (dM = A dY Aᵀ),
    /// 16 GEMMs dU_ξ[C, O] += V_ξ[T, C]ᵀ · dM_ξ[T, O] sum over the tiles, and dw += Gᵀ dU G.
    func backwardWeight(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>) {
        let C = geo.channels, O = outChannels, LC = lanesC, LO = lanesO, UC = 16 * C * LO, parts = self.parts
        if n == 0 { return }
        // Shared: one dU (16 matrices [C, lanesO]) per thread, summed into the first at the end.
        forEachChunk(parts: parts, shared: parts * UC, prepare: { du in du.update(repeating: 0, count: parts * UC) }, finish: { du in
            for part in 1..<Swift.max(parts, 1) {
                tk_binary(TK_BINARY_ADD, UC, du, 1, du + part * UC, 1, du, 1, 0, 0)
            }
            accumulateWeightGradient(du, into: dw)
        }) { part, c, du in
            transformInputs(x, c)
            for i in 0..<c.count {
                tk_wino23_output_gradient(dy + (c.first + i) * O * geo.positions, O, geo.outH, geo.outW, tilesH, tilesW, LO,
                                          c.ys, c.m, c.mStride, i * tilesPerImage)
            }
            let acc = du + part * UC, T = c.count * tilesPerImage
            for xi in 0..<16 {
                // dU_ξ[C, O] += V_ξ[T, C]ᵀ · dM_ξ[T, O]
                BLAS.gemm(transA: true, transB: false, m: C, n: O, k: T, a: c.v + xi * c.vStride, lda: LC,
                          b: c.m + xi * c.mStride, ldb: LO, beta: 1, c: acc + xi * C * LO, ldc: LO)
            }
        }
    }

    /// dw[o, c] += Gᵀ dU[·, c, o] G, the adjoint of ``transformWeights(_:into:)``, on all threads
    /// (each part writes its own input channels).  du: 16 matrices [C, lanesO], dw: [O, C, 3, 3].
    func accumulateWeightGradient(_ du: UnsafePointer<Float>, into dw: UnsafeMutablePointer<Float>) {
        let C = geo.channels, O = outChannels, LO = lanesO
        Parallel.forRanges(C, parts: Parallel.parts(for: O * C, minimum: 4096)) { channels in
            tk_wino23_weight_gradient(du, O, C, LO, channels.lowerBound, channels.upperBound, dw)
        }
    }

    /// u[ξ, c, o] = (G g Gᵀ)[ξ / 4, ξ % 4] for g = w[o, c], on all threads (split over the input
    /// channels).  w: [O, C, 3, 3], u: 16 matrices [C, lanesO].
    func transformWeights(_ w: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>) {
        let C = geo.channels, O = outChannels, LO = lanesO
        Parallel.forRanges(C, parts: Parallel.parts(for: O * C, minimum: 4096)) { channels in
            tk_wino23_weights(w, O, C, LO, channels.lowerBound, channels.upperBound, u)
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
