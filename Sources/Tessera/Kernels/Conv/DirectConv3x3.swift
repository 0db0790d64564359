import CTesseraKernels

// The direct forward kernel of 3×3 convolutions with padding 1, stride 1 or 2 (body/direct3x3.h).
//
// Each image is packed zero-bordered (stride 2: into its four phase planes) so that every tap of
// every output position is a fixed offset from the position's index along "extended" rows one or
// two columns wider than the output; the kernel then multiplies blocks of 4 output channels by 2
// vectors of positions with no edge cases, and the unpacking drops the extra columns and applies
// the epilogue. No GEMM is involved, so nothing is paid per call to OpenBLAS (packing, zeroing C),
// which at batch 1 costs more than the arithmetic; and a thin input (the RGB stem's 3 channels)
// gives no GEMM a depth too small to run well. Where the batch is large and the channels many,
// Winograd's fewer multiplications win (ConvPlan decides; figures in docs/BENCHMARKS.md).
//
// Threads: a batch of at least as many images as threads is split by images, each thread packing
// its own; a smaller one (batch 1: latency) is split into bands of output rows.

/// The direct 3×3 forward kernel over raw buffers. x: [N, C, H, W], w: [O, C, 3, 3],
/// y: [N, O, OH, OW].
struct DirectConv3x3 {
    let geo: ConvGeometry
    let n: Int, outChannels: Int

    /// Whether the kernel can run the convolution: 3×3, padding 1, undilated and ungrouped, with
    /// stride 1, or stride 2 over an even image. Whether it is worth it is ``ConvPlan``'s decision.
    static func applies(_ geo: ConvGeometry, groups: Int, outChannels: Int) -> Bool {
        guard groups == 1, geo.kh == 3, geo.kw == 3, geo.dh == 1, geo.dw == 1, geo.ph == 1, geo.pw == 1,
              geo.channels > 0, outChannels > 0 else { return false }
        if geo.sh == 1 && geo.sw == 1 { return true }
        return geo.sh == 2 && geo.sw == 2 && geo.height % 2 == 0 && geo.width % 2 == 0
    }

    init(geo: ConvGeometry, n: Int, outChannels: Int) {
        precondition(DirectConv3x3.applies(geo, groups: 1, outChannels: outChannels), "DirectConv3x3: geometry \(geo) does not apply")
        (self.geo, self.n, self.outChannels) = (geo, n, outChannels)
    }

    var stride: Int { geo.sh }
    /// Width of an extended output row: the padded input's (stride 1) or a phase plane's (stride 2).
    var extendedWidth: Int { stride == 1 ? geo.width + 2 : geo.outW + 1 }
    /// Extended positions of one output channel.
    var extendedPositions: Int { geo.outH * extendedWidth }
    /// Row stride of the extended output, room for the kernel's last block included.
    var ldy: Int { (extendedPositions + Int(TK_DIRECT_ROUND) - 1) / Int(TK_DIRECT_ROUND) * Int(TK_DIRECT_ROUND) }
    /// Floats of one packed input channel (rounded to a cache line).
    var channelStride: Int {
        let count = stride == 1 ? (geo.height + 2) * (geo.width + 2) : 4 * (geo.outH + 1) * (geo.outW + 1)
        return (count + 15) / 16 * 16
    }
    /// Groups of four output channels.
    var blocks: Int { (outChannels + 3) / 4 }
    /// Floats of one packed image, with the kernel's overreach.
    var packedImageCount: Int { geo.channels * channelStride + Int(TK_DIRECT_SLACK) }
    /// Floats of one image's extended output.
    var extendedOutputCount: Int { 4 * blocks * ldy }
    /// Floats of the packed weights (``transformWeights(_:into:)``).
    var transformedWeightCount: Int { blocks * geo.channels * 36 }

    /// Offsets of the nine taps (row-major) from an extended position, in a packed channel.
    var taps: [Int] {
        (0..<9).map { t in
            let ky = t / 3, kx = t % 3
            if stride == 1 { return ky * extendedWidth + kx }
            let plane = (geo.outH + 1) * (geo.outW + 1)
            return (2 * (ky & 1) + (kx & 1)) * plane + (ky >> 1) * extendedWidth + (kx >> 1)
        }
    }

    /// Packs w [O, C, 3, 3] into u (``transformedWeightCount`` floats), output channels in fours.
    func transformWeights(_ w: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>) {
        tk_direct3x3_pack_weights(w, outChannels, geo.channels, u)
    }

    /// y = epilogue(conv(x, w)), overwritten. `transformed`: w packed earlier by
    /// ``transformWeights(_:into:)`` (an inference pass reuses it), or nil to pack it here.
    func forward(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                 transformed: UnsafePointer<Float>? = nil, epilogue: ConvEpilogue? = nil) {
        if n == 0 { return }
        let C = geo.channels, H = geo.height, W = geo.width, O = outChannels, OH = geo.outH, OW = geo.outW
        let planeIn = C * H * W, planeOut = O * OH * OW
        let packedW = transformed == nil ? transformedWeightCount : 0
        let cs = channelStride, P = extendedPositions, L = ldy, wext = extendedWidth, st = Int32(stride)
        let tapOffsets = taps
        let threads = Runtime.threads
        // The kernel never calls OpenBLAS; its threads are parked so they do not spin beside ours.
        BLAS.useOpenBLASThreads(1)
        tapOffsets.withUnsafeBufferPointer { tp in
            let tp = tp.baseAddress!
            if n >= threads || geo.outH == 1 {
                // By images: each part packs and convolves its own.
                let parts = Parallel.parts(for: n, minimum: 1)
                let perPart = (packedImageCount + extendedOutputCount + 15) / 16 * 16
                BufferPool.withScratch(packedW + parts * perPart) { ws in
                    if transformed == nil { transformWeights(w, into: ws) }
                    let wp = transformed ?? UnsafePointer(ws)
                    Parallel.run(parts: parts) { part in
                        let xp = ws + packedW + part * perPart, ye = xp + packedImageCount
                        for s in (n * part / parts)..<(n * (part + 1) / parts) {
                            tk_direct3x3_pack(x + s * planeIn, C, H, W, st, cs, xp)
                            tk_direct3x3(xp, C, cs, tp, P, wp, 0, blocks, ye, L)
                            epilogue.withImage(s, stride: planeOut) { e in
                                tk_direct3x3_unpack(ye, L, wext, 0, O, OH, OW, OH * OW, y + s * planeOut, e)
                            }
                        }
                    }
                }
                return
            }
            // Fewer images than threads (batch 1: latency): every image is cut into bands of output
            // rows, one per part. The parts first pack disjoint ranges of channels, then each
            // convolves its band into its own extended output and unpacks it. (Splitting the
            // output channels instead made every core read the whole packed image and ran slower
            // on two threads than on one.)
            let bands = Swift.max(1, Swift.min(OH, threads / n)), units = n * bands
            let images = (packedImageCount + 15) / 16 * 16
            let bandRows = (OH + bands - 1) / bands
            let bandLd = (bandRows * wext + Int(TK_DIRECT_ROUND) - 1) / Int(TK_DIRECT_ROUND) * Int(TK_DIRECT_ROUND)
            let outputs = 4 * blocks * bandLd
            BufferPool.withScratch(packedW + n * images + units * outputs) { ws in
                if transformed == nil { transformWeights(w, into: ws) }
                let wp = transformed ?? UnsafePointer(ws)
                let xps = ws + packedW, yes = xps + n * images
                Parallel.run(parts: units) { unit in
                    let s = unit / bands, k = unit % bands, c0 = C * k / bands, c1 = C * (k + 1) / bands
                    if c1 > c0 { tk_direct3x3_pack(x + s * planeIn + c0 * H * W, c1 - c0, H, W, st, cs, xps + s * images + c0 * cs) }
                }
                Parallel.run(parts: units) { unit in
                    let s = unit / bands, k = unit % bands
                    let r0 = Swift.min(OH, k * bandRows), r1 = Swift.min(OH, r0 + bandRows)
                    if r1 <= r0 { return }
                    let ye = yes + unit * outputs
                    tk_direct3x3(xps + s * images + r0 * wext, C, cs, tp, (r1 - r0) * wext, wp, 0, blocks, ye, bandLd)
                    epilogue.withImage(s, stride: planeOut, offset: r0 * OW) { e in
                        tk_direct3x3_unpack(ye, bandLd, wext, 0, O, r1 - r0, OW, OH * OW, y + s * planeOut + r0 * OW, e)
                    }
                }
            }
        }
    }
}
