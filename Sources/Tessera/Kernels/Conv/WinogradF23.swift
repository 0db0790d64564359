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
        /// Scratch for one zero-padded plane.
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
    ///     per part: V: 16 × [C, T] | M: 16 × [O, T] | padded: [paddedH, paddedW]
    private func forEachChunk(parts: Int, shared: Int,
                              prepare: (UnsafeMutablePointer<Float>) -> Void,
                              finish: (UnsafeMutablePointer<Float>) -> Void = { _ in },
                              _ body: (Int, Chunk, UnsafeMutablePointer<Float>) -> Void) {
        let C = geo.channels, O = outChannels
        let B = chunk, T = B * tilesPerImage
        // The 16 matrices of V and of M are staggered by one cache line more than their size, so
        // the 16 streams a transform writes or reads do not all map to the same cache sets.
        let vStride = C * T + 16, mStride = O * T + 16
        let perPart = 16 * (vStride + mStride) + paddedH * paddedW
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

    /// dw[o, c] += Gᵀ dU[·, o, c] G, the adjoint of ``transformWeights(_:into:)``.
    /// du: [16, O, C], dw: [O, C, 3, 3].
    func accumulateWeightGradient(_ du: UnsafePointer<Float>, into dw: UnsafeMutablePointer<Float>) {
        let C = geo.channels, O = outChannels, OC = O * C
        // Split over the output channels (each writes its own rows of dw), on all threads.
        Parallel.forRanges(O, parts: Parallel.parts(for: O * C, minimum: 4096)) { outputs in
            for o in outputs {
                for c in 0..<C {
                    let src = du + o * C + c
                    @inline(__always) func d(_ k: Int, _ l: Int) -> Float { src[(4 * k + l) * OC] }
                    // Gᵀ down the columns: rows i = 0, 1, 2 of Gᵀ dU (4 columns each) …
                    var r = (SIMD4<Float>(), SIMD4<Float>(), SIMD4<Float>())
                    for l in 0..<4 {
                        let x0 = d(0, l), x1 = d(1, l), x2 = d(2, l), x3 = d(3, l)
                        r.0[l] = x0 + 0.5 * (x1 + x2)
                        r.1[l] = 0.5 * (x1 - x2)
                        r.2[l] = 0.5 * (x1 + x2) + x3
                    }
                    // … then G along each row.
                    let g = dw + (o * C + c) * 9
                    @inline(__always) func addRow(_ row: SIMD4<Float>, _ i: Int) {
                        g[3 * i] += row[0] + 0.5 * (row[1] + row[2])
                        g[3 * i + 1] += 0.5 * (row[1] - row[2])
                        g[3 * i + 2] += 0.5 * (row[1] + row[2]) + row[3]
                    }
                    addRow(r.0, 0)
                    addRow(r.1, 1)
                    addRow(r.2, 2)
                }
            }
        }
    }

    /// One image's output-gradient tiles, A dY Aᵀ (4×4 from each 2×2 tile, zero past an odd edge),
    /// into columns firstTile ..< firstTile + tilesPerImage of m: 16 matrices [O, ld], xiStride apart.
    /// dy: [O, outH, outW]; padded: scratch of paddedH × paddedW.
    ///
    ///     A = | 1  0 |
    ///         | 1  1 |
    ///         | 1 −1 |
    ///         | 0 −1 |
    func transformOutputGradient(_ dy: UnsafePointer<Float>, into m: UnsafeMutablePointer<Float>, ld: Int, xiStride xs: Int,
                                 firstTile: Int, padded: UnsafeMutablePointer<Float>) {
        let O = outChannels, OH = geo.outH, OW = geo.outW, TW = tilesW
        // An odd edge is padded with zeros to whole tiles, in a copy of the plane.
        let even = OH % 2 == 0 && OW % 2 == 0
        let rowStride = even ? OW : 2 * TW
        if !even { padded.update(repeating: 0, count: 2 * tilesH * rowStride) }
        for o in 0..<O {
            var plane = dy + o * OH * OW
            if !even {
                for r in 0..<OH { (padded + r * rowStride).update(from: plane + r * OW, count: OW) }
                plane = UnsafePointer(padded)
            }
            let out = m + o * ld + firstTile
            for tr in 0..<tilesH {
                let top = plane + 2 * tr * rowStride, bottom = top + rowStride
                let dst = out + tr * TW
                // Four tiles at a time (their columns 0/1 are the even/odd lanes of 8-wide loads), then one by one.
                var tc = 0
                while tc + 4 <= TW {
                    let p = load8(top + 2 * tc), q = load8(bottom + 2 * tc)
                    adjointTile(p.evenHalf, p.oddHalf, q.evenHalf, q.oddHalf, dst + tc, xs)
                    tc += 4
                }
                while tc < TW {
                    adjointTile(top[2 * tc], top[2 * tc + 1], bottom[2 * tc], bottom[2 * tc + 1], dst + tc, xs)
                    tc += 1
                }
            }
        }
    }

    /// u[ξ, o, c] = (G g Gᵀ)[ξ / 4, ξ % 4] for g = w[o, c].  w: [O, C, 3, 3], u: [16, O, C].
    func transformWeights(_ w: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>) {
        let C = geo.channels, O = outChannels, OC = O * C
        // Split over the output channels (each writes its own columns of u), on all threads.
        Parallel.forRanges(O, parts: Parallel.parts(for: O * C, minimum: 4096)) { outputs in
            for o in outputs {
                for c in 0..<C {
                    let g = w + (o * C + c) * 9
                    // Gg: [4, 3], G applied down each column of the kernel; then Gᵀ along each row of Gg.
                    let dst = u + o * C + c
                    for k in 0..<4 {
                        let r0, r1, r2: Float
                        switch k {
                        case 0: r0 = g[0]; r1 = g[1]; r2 = g[2]
                        case 1: r0 = 0.5 * (g[0] + g[3] + g[6]); r1 = 0.5 * (g[1] + g[4] + g[7]); r2 = 0.5 * (g[2] + g[5] + g[8])
                        case 2: r0 = 0.5 * (g[0] - g[3] + g[6]); r1 = 0.5 * (g[1] - g[4] + g[7]); r2 = 0.5 * (g[2] - g[5] + g[8])
                        default: r0 = g[6]; r1 = g[7]; r2 = g[8]
                        }
                        dst[(4 * k) * OC] = r0
                        dst[(4 * k + 1) * OC] = 0.5 * (r0 + r1 + r2)
                        dst[(4 * k + 2) * OC] = 0.5 * (r0 - r1 + r2)
                        dst[(4 * k + 3) * OC] = r2
                    }
                }
            }
        }
    }

    /// One image's input tiles, Bᵀ d B, into columns firstTile ..< firstTile + tilesPerImage of
    /// v: [16, C, ld].  x: [C, H, W]; padded: scratch of paddedH × paddedW.
    func transformInput(_ x: UnsafePointer<Float>, into v: UnsafeMutablePointer<Float>, ld: Int, xiStride xs: Int, firstTile: Int,
                        padded: UnsafeMutablePointer<Float>) {
        let C = geo.channels, H = geo.height, W = geo.width, PH = paddedH, PW = paddedW, TW = tilesW
        /// Bᵀ along the columns of four tiles of row k: p holds tile columns 0–1 (even, odd
        /// lanes), q the columns 2–3, of tiles tc ..< tc + 4. Writes V[4k + l][tc ..< tc + 4].
        @inline(__always) func store(_ p: SIMD8<Float>, _ q: SIMD8<Float>, to out: UnsafeMutablePointer<Float>, k: Int) {
            let a0 = p.evenHalf, a1 = p.oddHalf, a2 = q.evenHalf, a3 = q.oddHalf
            let v0 = out + 4 * k * xs
            store4(a0 - a2, v0)
            store4(a1 + a2, v0 + xs)
            store4(a2 - a1, v0 + 2 * xs)
            store4(a1 - a3, v0 + 3 * xs)
        }
        // The padded plane holds the whole input: PH = 2·tilesH + 2 ≥ outH + 2 = H + 2·ph, and
        // likewise PW ≥ W + 2·pw.
        padded.update(repeating: 0, count: PH * PW)
        for c in 0..<C {
            // padded[r, q] = x[c, r − ph, q − pw] (zero outside); only the interior is rewritten,
            // so the zero border from above stays valid for every channel.
            let plane = x + c * H * W
            for r in 0..<H {
                (padded + (r + geo.ph) * PW + geo.pw).update(from: plane + r * W, count: W)
            }
            let cv = v + c * ld + firstTile
            for tr in 0..<tilesH {
                let d0 = padded + 2 * tr * PW, d1 = d0 + PW, d2 = d1 + PW, d3 = d2 + PW
                let out = cv + tr * TW
                // Four tiles at a time: columns j ..< j + 10 of the four rows, as two 8-wide loads.
                var tc = 0
                while tc + 4 <= TW {
                    let j = 2 * tc
                    let p0 = load8(d0 + j), p1 = load8(d1 + j), p2 = load8(d2 + j), p3 = load8(d3 + j)
                    let q0 = load8(d0 + j + 2), q1 = load8(d1 + j + 2), q2 = load8(d2 + j + 2), q3 = load8(d3 + j + 2)
                    // Bᵀ down the columns: row k of Bᵀ d (columns j… and j + 2…).
                    let pk = (p0 - p2, p1 + p2, p2 - p1, p1 - p3), qk = (q0 - q2, q1 + q2, q2 - q1, q1 - q3)
                    store(pk.0, qk.0, to: out + tc, k: 0)
                    store(pk.1, qk.1, to: out + tc, k: 1)
                    store(pk.2, qk.2, to: out + tc, k: 2)
                    store(pk.3, qk.3, to: out + tc, k: 3)
                    tc += 4
                }
                while tc < TW {
                    let j = 2 * tc
                    for k in 0..<4 {
                        @inline(__always) func row(_ q: Int) -> Float {
                            switch k {
                            case 0: return d0[j + q] - d2[j + q]
                            case 1: return d1[j + q] + d2[j + q]
                            case 2: return d2[j + q] - d1[j + q]
                            default: return d1[j + q] - d3[j + q]
                            }
                        }
                        let a0 = row(0), a1 = row(1), a2 = row(2), a3 = row(3)
                        let v0 = out + tc + 4 * k * xs
                        v0[0] = a0 - a2
                        v0[xs] = a1 + a2
                        v0[2 * xs] = a2 - a1
                        v0[3 * xs] = a1 - a3
                    }
                    tc += 1
                }
            }
        }
    }

    /// One image's outputs, Aᵀ M A, from columns firstTile ..< firstTile + tilesPerImage of
    /// m: [16, O, ld].  y: [O, outH, outW].
    func transformOutput(_ m: UnsafePointer<Float>, ld: Int, xiStride xs: Int, firstTile: Int, into y: UnsafeMutablePointer<Float>) {
        let O = outChannels, OH = geo.outH, OW = geo.outW, TW = tilesW
        let fullW = OW / 2   // tiles whose two columns are both inside the output
        for o in 0..<O {
            let plane = y + o * OH * OW
            let mo = m + o * ld + firstTile
            for tr in 0..<tilesH {
                let p = mo + tr * TW
                let m0 = p, m1 = m0 + xs, m2 = m1 + xs, m3 = m2 + xs, m4 = m3 + xs, m5 = m4 + xs
                let m6 = m5 + xs, m7 = m6 + xs, m8 = m7 + xs, m9 = m8 + xs, m10 = m9 + xs
                let m11 = m10 + xs, m12 = m11 + xs, m13 = m12 + xs, m14 = m13 + xs, m15 = m14 + xs
                let row0 = plane + 2 * tr * OW
                let hasRow1 = 2 * tr + 1 < OH
                let row1 = hasRow1 ? row0 + OW : row0   // written only when it exists
                @inline(__always) func tile(_ tc: Int) -> (Float, Float, Float, Float) {
                    // Aᵀ down the columns: s_a,l; then along the rows.
                    let s00 = m0[tc] + m4[tc] + m8[tc], s01 = m1[tc] + m5[tc] + m9[tc]
                    let s02 = m2[tc] + m6[tc] + m10[tc], s03 = m3[tc] + m7[tc] + m11[tc]
                    let s10 = m4[tc] - m8[tc] - m12[tc], s11 = m5[tc] - m9[tc] - m13[tc]
                    let s12 = m6[tc] - m10[tc] - m14[tc], s13 = m7[tc] - m11[tc] - m15[tc]
                    return (s00 + s01 + s02, s01 - s02 - s03, s10 + s11 + s12, s11 - s12 - s13)
                }
                // Four whole tiles at a time, then one by one.
                var tc = 0
                while tc + 4 <= fullW {
                    let s00 = load4(m0 + tc) + load4(m4 + tc) + load4(m8 + tc), s01 = load4(m1 + tc) + load4(m5 + tc) + load4(m9 + tc)
                    let s02 = load4(m2 + tc) + load4(m6 + tc) + load4(m10 + tc), s03 = load4(m3 + tc) + load4(m7 + tc) + load4(m11 + tc)
                    let y00 = s00 + s01 + s02, y01 = s01 - s02 - s03
                    store8(interleave(y00, y01), row0 + 2 * tc)
                    if hasRow1 {
                        let s10 = load4(m4 + tc) - load4(m8 + tc) - load4(m12 + tc), s11 = load4(m5 + tc) - load4(m9 + tc) - load4(m13 + tc)
                        let s12 = load4(m6 + tc) - load4(m10 + tc) - load4(m14 + tc), s13 = load4(m7 + tc) - load4(m11 + tc) - load4(m15 + tc)
                        store8(interleave(s10 + s11 + s12, s11 - s12 - s13), row1 + 2 * tc)
                    }
                    tc += 4
                }
                while tc < fullW {
                    let (y00, y01, y10, y11) = tile(tc)
                    row0[2 * tc] = y00; row0[2 * tc + 1] = y01
                    if hasRow1 { row1[2 * tc] = y10; row1[2 * tc + 1] = y11 }
                    tc += 1
                }
                if fullW < TW {   // odd width: the last tile's left column only
                    let (y00, _, y10, _) = tile(fullW)
                    row0[2 * fullW] = y00
                    if hasRow1 { row1[2 * fullW] = y10 }
                }
            }
        }
    }
}

/// (a0, b0, a1, b1, a2, b2, a3, b3).
@inline(__always) private func interleave(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD8<Float> {
    SIMD8(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3])
}

/// Tile values a transform loop works on: one tile (`Float`) or four side by side (`SIMD4<Float>`).
private protocol TileLanes {
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static prefix func - (a: Self) -> Self
    /// Writes the lanes to p, p + 1, ….
    func store(to p: UnsafeMutablePointer<Float>)
}
extension Float: TileLanes {
    @inline(__always) fileprivate func store(to p: UnsafeMutablePointer<Float>) { p[0] = self }
}
extension SIMD4: TileLanes where Scalar == Float {
    @inline(__always) fileprivate func store(to p: UnsafeMutablePointer<Float>) { store4(self, p) }
}

/// A dY Aᵀ for the 2×2 output-gradient tile(s) (a0 a1 / b0 b1): row k of A dY is (z0, z1) =
/// (a0, a1), (a0 + b0, a1 + b1), (a0 − b0, a1 − b1), (−b0, −b1), and A along it writes
/// M[4k + l] = z0, z0 + z1, z0 − z1, −z1 to d + (4k + l)·xs.
@inline(__always) private func adjointTile<V: TileLanes>(_ a0: V, _ a1: V, _ b0: V, _ b1: V, _ d: UnsafeMutablePointer<Float>, _ xs: Int) {
    @inline(__always) func row(_ z0: V, _ z1: V, _ k: Int) {
        let r = d + 4 * k * xs
        z0.store(to: r)
        (z0 + z1).store(to: r + xs)
        (z0 - z1).store(to: r + 2 * xs)
        (-z1).store(to: r + 3 * xs)
    }
    row(a0, a1, 0)
    row(a0 + b0, a1 + b1, 1)
    row(a0 - b0, a1 - b1, 2)
    row(-b0, -b1, 3)
}
