import CTesseraKernels

// Winograd F(2×2, 3×3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015) for 3×3, stride-1, undilated, ungrouped convolutions.
//
// Each 2×2 output tile is Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A, where d is the 4×4 input tile under it and
// g a 3×3 kernel. Summed over input channels, the 16 elementwise products of a tile become 16
// independent GEMMs  M_ξ[O, T] = U_ξ[O, C] · V_ξ[C, T]  over T tiles: 16 multiplications per
// tile and channel pair instead of im2col's 36, and they still run in sgemm. A batch is
// transformed a few images at a time, so that V and M stay in cache between the transforms and
// the GEMMs (the GEMMs then run near the core's peak, where im2col's long skinny GEMMs do not).
//
//     Bᵀ = | 1  0 −1  0 |     G = | 1    0    0  |     Aᵀ = | 1  1  1  0 |
//          | 0  1  1  0 |         | ½    ½    ½  |          | 0  1 −1 −1 |
//          | 0 −1  1  0 |         | ½   −½    ½  |
//          | 0  1  0 −1 |         | 0    0    1  |
//
// The transforms use only additions (and halvings in G), so the result differs from im2col's by
// rounding only: about 1e-6 of the output's scale (the tests allow 1e-4). A non-finite input
// value, though, spreads through the transforms (∞ − ∞) to the whole 2×2 output tile around it.

/// The Winograd F(2×2, 3×3) forward kernel over raw buffers.
/// x: [N, C, H, W], w: [O, C, 3, 3], y: [N, O, outH, outW].
struct WinogradF23 {
    let geo: ConvGeometry
    let n: Int, outChannels: Int
    /// Tiles along the output height and width (the last ones may hang over an odd edge).
    let tilesH: Int, tilesW: Int

    /// Cache budget for one chunk's V and M matrices (per thread). 1 MiB keeps both in the L2 of a
    /// Zen 4 core; the images per chunk follow from it. One image is the smallest chunk, so a large
    /// image may take more (up to 16 MiB, see the guard in `init`), and so may a chunk of a layer
    /// with a large kernel (see ``winogradChunk(bytesPerImage:tilesPerImage:kernelFloats:images:parts:)``).
    static let chunkBytes = 1 << 20

    /// Whether Winograd F(2×2, 3×3) can run the convolution: 3×3, stride 1, undilated,
    /// ungrouped, and an image whose tiles fit a generous per-thread budget (a whole image's tiles
    /// form the smallest chunk; larger images go to im2col, whose chunks need no such workspace).
    /// Whether it is also worth it is ``ConvPlan``'s decision.
    static func applies(_ geo: ConvGeometry, groups: Int, outChannels: Int) -> Bool {
        guard groups == 1, geo.kh == 3, geo.kw == 3, geo.sh == 1, geo.sw == 1, geo.dh == 1, geo.dw == 1 else { return false }
        let tiles = ((geo.outH + 1) / 2) * ((geo.outW + 1) / 2)
        return 16 * (geo.channels + outChannels) * tiles * 4 <= 16 * WinogradF23.chunkBytes
    }

    /// The kernel for a convolution ``applies(_:groups:outChannels:)`` accepts.
    init(geo: ConvGeometry, n: Int, outChannels: Int) {
        precondition(WinogradF23.applies(geo, groups: 1, outChannels: outChannels), "WinogradF23: geometry \(geo) does not apply")
        self.geo = geo
        self.n = n
        self.outChannels = outChannels
        tilesH = (geo.outH + 1) / 2
        tilesW = (geo.outW + 1) / 2
    }

    var tilesPerImage: Int { tilesH * tilesW }

    /// Images per chunk: as many as fit ``chunkBytes`` of V [16, C, T] and M [16, O, T], or more
    /// for large kernels (see ``winogradChunk(bytesPerImage:tilesPerImage:kernelFloats:images:parts:)``),
    /// and no more than one thread gets.
    var chunk: Int {
        winogradChunk(bytesPerImage: 16 * (geo.channels + outChannels) * tilesPerImage * 4, tilesPerImage: tilesPerImage,
                      kernelFloats: outChannels * geo.channels, images: n, parts: parts)
    }

    /// Side of the zero-padded copy of one input plane that every tile reads from: rows and
    /// columns −ph ..< 2·tiles + 2 − ph of the input.
    var paddedH: Int { 2 * tilesH + 2 }
    var paddedW: Int { 2 * tilesW + 2 }

    /// One thread's share of the work: its chunk buffers, and the images it walks.
    struct Chunk {
        /// 16 matrices [C, ld], `vStride` apart: the transformed input tiles.
        let v: UnsafeMutablePointer<Float>
        /// 16 matrices [O, ld], `mStride` apart: the products (forward) or transformed output gradient.
        let m: UnsafeMutablePointer<Float>
        /// Scratch for one zero-padded plane and four rows of its width.
        let padded: UnsafeMutablePointer<Float>
        let ld: Int, vStride: Int, mStride: Int
        /// First image of the chunk and the number of images in it.
        let first: Int, count: Int
    }

    /// Threads the batch is split across: one range of images each.
    var parts: Int { Parallel.parts(for: n, minimum: 1) }

    /// Walks the batch in chunks of ``chunk`` images (see ``forEachWinogradChunk``), handing each
    /// chunk its V, M and padded-plane buffers.
    ///
    ///     per part: V: 16 × [C, T] | M: 16 × [O, T] | padded: [paddedH + 4, paddedW]
    private func forEachChunk(parts: Int, shared: Int,
                              prepare: (UnsafeMutablePointer<Float>) -> Void,
                              finish: (UnsafeMutablePointer<Float>) -> Void = { _ in },
                              _ body: (Int, Chunk, UnsafeMutablePointer<Float>) -> Void) {
        let C = geo.channels, O = outChannels
        let B = chunk, T = B * tilesPerImage
        // The 16 matrices of V and of M are staggered by one cache line more than their size, so
        // the 16 streams a transform writes or reads do not all map to the same cache sets.
        let vStride = C * T + 16, mStride = O * T + 16
        let perPart = 16 * (vStride + mStride) + (paddedH + 4) * paddedW
        forEachWinogradChunk(images: n, parts: parts, chunk: B, shared: shared, perPart: perPart,
                             prepare: prepare, finish: finish) { part, images, base, shared in
            let c = Chunk(v: base, m: base + 16 * vStride, padded: base + 16 * (vStride + mStride),
                          ld: T, vStride: vStride, mStride: mStride, first: images.lowerBound, count: images.count)
            body(part, c, shared)
        }
    }

    /// The input tiles of the chunk's images, transformed into `c.v`.  x: [N, C, H, W].
    private func transformInputs(_ x: UnsafePointer<Float>, _ chunk: Chunk) {
        let plane = geo.channels * geo.height * geo.width
        for i in 0..<chunk.count {
            transformInput(x + (chunk.first + i) * plane, into: chunk.v, ld: chunk.ld, xiStride: chunk.vStride,
                           firstTile: i * tilesPerImage, padded: chunk.padded)
        }
    }

    /// y = conv(x, w), overwritten.  x: [N, C, H, W], w: [O, C, 3, 3], y: [N, O, outH, outW].
    func forward(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let C = geo.channels, O = outChannels
        if n == 0 { return }
        // Shared: u = G w Gᵀ, [16, O, C].
        forEachChunk(parts: parts, shared: 16 * O * C, prepare: { u in transformWeights(w, into: u) }) { _, chunk, u in
            transformInputs(x, chunk)
            for xi in 0..<16 {
                // M_ξ[O, t] = U_ξ[O, C] · V_ξ[C, t]
                BLAS.gemm(transA: false, transB: false, m: O, n: chunk.count * tilesPerImage, k: C,
                          a: u + xi * O * C, lda: C, b: chunk.v + xi * chunk.vStride, ldb: chunk.ld,
                          c: chunk.m + xi * chunk.mStride, ldc: chunk.ld)
            }
            for i in 0..<chunk.count {
                transformOutput(chunk.m, ld: chunk.ld, xiStride: chunk.mStride, firstTile: i * tilesPerImage,
                                into: y + (chunk.first + i) * O * geo.positions)
            }
        }
    }

    /// dw += ∂L/∂w for the output gradient dy.  dy: [N, O, outH, outW], x: [N, C, H, W], dw: [O, C, 3, 3].
    ///
    /// The adjoint of ``forward(x:w:y:)``: each output-gradient tile goes through A (dM = A dY Aᵀ),
    /// 16 GEMMs dU_ξ[O, C] += dM_ξ[O, t] · V_ξ[C, t]ᵀ sum over the tiles, and dw += Gᵀ dU G.
    func backwardWeight(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>) {
        let C = geo.channels, O = outChannels, UC = 16 * O * C, parts = self.parts
        if n == 0 { return }
        // Shared: one dU [16, O, C] per thread, summed into the first at the end.
        forEachChunk(parts: parts, shared: parts * UC, prepare: { du in du.update(repeating: 0, count: parts * UC) }, finish: { du in
            for part in 1..<Swift.max(parts, 1) {
                let src = du + part * UC
                for i in 0..<UC { du[i] += src[i] }
            }
            accumulateWeightGradient(du, into: dw)
        }) { part, chunk, du in
            transformInputs(x, chunk)
            for i in 0..<chunk.count {
                transformOutputGradient(dy + (chunk.first + i) * O * geo.positions, into: chunk.m, ld: chunk.ld,
                                        xiStride: chunk.mStride, firstTile: i * tilesPerImage, padded: chunk.padded)
            }
            let acc = du + part * UC
            for xi in 0..<16 {
                // dU_ξ[O, C] += dM_ξ[O, t] · V_ξ[C, t]ᵀ
                BLAS.gemm(transA: false, transB: true, m: O, n: C, k: chunk.count * tilesPerImage,
                          a: chunk.m + xi * chunk.mStride, lda: chunk.ld, b: chunk.v + xi * chunk.vStride, ldb: chunk.ld,
                          beta: 1, c: acc + xi * O * C, ldc: C)
            }
        }
    }

    /// dw[o, c] += Gᵀ dU[·, o, c] G, the adjoint of ``transformWeights(_:into:)``, on all threads
    /// (each part writes its own output channels).  du: [16, O, C], dw: [O, C, 3, 3].
    func accumulateWeightGradient(_ du: UnsafePointer<Float>, into dw: UnsafeMutablePointer<Float>) {
        let C = geo.channels, O = outChannels
        Parallel.forRanges(O, parts: Parallel.parts(for: O * C, minimum: 4096)) { outputs in
            tk_wino23_weight_gradient(du, O, C, outputs.lowerBound, outputs.upperBound, dw)
        }
    }

    /// One image's output-gradient tiles A dY Aᵀ (4×4 from each 2×2 tile, zero past an odd edge),
    /// into columns firstTile ..< firstTile + tilesPerImage of m: 16 matrices [O, ld], xiStride apart.
    /// dy: [O, outH, outW]; padded: scratch of paddedH × paddedW.
    func transformOutputGradient(_ dy: UnsafePointer<Float>, into m: UnsafeMutablePointer<Float>, ld: Int, xiStride xs: Int,
                                 firstTile: Int, padded: UnsafeMutablePointer<Float>) {
        tk_wino23_output_gradient(dy, outChannels, geo.outH, geo.outW, tilesH, tilesW, m, ld, xs, firstTile, padded)
    }

    /// u[ξ, o, c] = (G g Gᵀ)[ξ / 4, ξ % 4] for g = w[o, c], on all threads (split over the output
    /// channels).  w: [O, C, 3, 3], u: [16, O, C].
    func transformWeights(_ w: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>) {
        let C = geo.channels, O = outChannels
        Parallel.forRanges(O, parts: Parallel.parts(for: O * C, minimum: 4096)) { outputs in
            tk_wino23_weights(w, O, C, outputs.lowerBound, outputs.upperBound, u)
        }
    }

    /// One image's input tiles Bᵀ d B into columns firstTile ..< firstTile + tilesPerImage of
    /// v: [16, C, ld].  x: [C, H, W]; padded: scratch of (paddedH + 4) × paddedW.
    func transformInput(_ x: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>, ld: Int, xiStride xs: Int, firstTile: Int,
                        padded: UnsafeMutablePointer<Float>) {
        tk_wino23_input(x, geo.channels, geo.height, geo.width, geo.ph, geo.pw, tilesH, tilesW, v, ld, xs, firstTile, padded)
    }

    /// One image's outputs Aᵀ M A from columns firstTile ..< firstTile + tilesPerImage of
    /// m: [16, O, ld] into y: [O, outH, outW].
    func transformOutput(_ m: UnsafePointer<Float>, ld: Int, xiStride xs: Int, firstTile: Int, into y: UnsafeMutablePointer<Float>) {
        tk_wino23_output(m, ld, xs, firstTile, outChannels, geo.outH, geo.outW, tilesH, tilesW, y)
    }
}
