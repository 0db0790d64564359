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
// Threads: a batch of at least as many images as threads is split by images, a smaller one (batch
// 1: latency) into bands of output rows; each thread packs what its images or band read.

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
    /// `count` rounded up to the kernel's blocks (the row stride of an extended output).
    func roundedToBlocks(_ count: Int) -> Int { (count + Int(TK_DIRECT_ROUND) - 1) / Int(TK_DIRECT_ROUND) * Int(TK_DIRECT_ROUND) }
    /// Packed rows that `rows` output rows read: padded rows (stride 1) or phase-plane rows (stride 2).
    func packedRows(_ rows: Int) -> Int { stride == 1 ? rows + 2 : rows + 1 }
    /// Floats of one packed input channel for `rows` output rows (rounded to a cache line).
    func channelStride(rows: Int) -> Int {
        let count = stride == 1 ? packedRows(rows) * extendedWidth : 4 * packedRows(rows) * extendedWidth
        return (count + 15) / 16 * 16
    }
    /// Groups of four output channels.
    var blocks: Int { (outChannels + 3) / 4 }
    /// Floats of the packed weights (``transformWeights(_:into:)``).
    var transformedWeightCount: Int { blocks * geo.channels * 36 }

    /// taps[t] ← the offset of tap t (row-major) from an extended position, in a channel packed
    /// for `rows` output rows.
    func writeTaps(rows: Int, into taps: UnsafeMutablePointer<Int>) {
        let plane = packedRows(rows) * extendedWidth
        for t in 0..<9 {
            let ky = t / 3, kx = t % 3
            taps[t] = stride == 1 ? ky * extendedWidth + kx
                : (2 * (ky & 1) + (kx & 1)) * plane + (ky >> 1) * extendedWidth + (kx >> 1)
        }
    }

    /// Packs w [O, C, 3, 3] into u (``transformedWeightCount`` floats), output channels in fours.
    func transformWeights(_ w: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>) {
        tk_direct3x3_pack_weights(w, outChannels, geo.channels, u)
    }

    /// y = epilogue(conv(x, w)), overwritten. `transformed`: w packed earlier by
    /// ``transformWeights(_:into:)`` (an inference pass reuses it), or nil to pack it here.
    ///
    /// The work is cut into units of (image, band of output rows): whole images when there are at
    /// least as many as threads, else each image in bands, one per thread (batch 1: latency). A
    /// unit packs the input rows its band reads into its own buffer, convolves them into its own
    /// extended output and unpacks that into y: nothing written by one thread is read by another.
    /// (Packing once and splitting the output channels, or packing by channel ranges first, made
    /// every core read what the other had written and ran no faster on two threads than on one.)
    func forward(x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                 transformed: UnsafePointer<Float>? = nil, epilogue: ConvEpilogue? = nil) {
        if n == 0 { return }
        let C = geo.channels, H = geo.height, W = geo.width, O = outChannels, OH = geo.outH, OW = geo.outW
        let planeIn = C * H * W, planeOut = O * OH * OW
        let packedW = transformed == nil ? transformedWeightCount : 0
        let wext = extendedWidth, st = Int32(stride), threads = Runtime.threads
        let bands = n >= threads ? 1 : Swift.max(1, Swift.min(OH, threads / n))
        let bandRows = (OH + bands - 1) / bands
        let cs = channelStride(rows: bandRows), ldy = roundedToBlocks(bandRows * wext)
        let inputCount = C * cs + Int(TK_DIRECT_SLACK), outputCount = 4 * blocks * ldy
        let perPart = (inputCount + outputCount + 15) / 16 * 16
        let units = n * bands, parts = Swift.min(units, Swift.max(1, threads))
        // The kernel never calls OpenBLAS; its threads are parked so they do not spin beside ours.
        BLAS.useOpenBLASThreads(1)
        BufferPool.withScratch(packedW + parts * perPart) { ws in
            if transformed == nil { transformWeights(w, into: ws) }
            let wp = transformed ?? UnsafePointer(ws)
            Parallel.run(parts: parts) { part in
                let xp = ws + packedW + part * perPart, ye = xp + inputCount
                withUnsafeTemporaryAllocation(of: Int.self, capacity: 9) { taps in
                    let taps = taps.baseAddress!
                    for unit in (units * part / parts)..<(units * (part + 1) / parts) {
                        let s = unit / bands, r0 = Swift.min(OH, (unit % bands) * bandRows), r1 = Swift.min(OH, r0 + bandRows)
                        if r1 <= r0 { continue }
                        writeTaps(rows: r1 - r0, into: taps)
                        tk_direct3x3_pack(x + s * planeIn, C, H, W, st, r0, packedRows(r1 - r0), cs, xp)
                        tk_direct3x3(xp, C, cs, taps, (r1 - r0) * wext, wp, 0, blocks, ye, ldy)
                        epilogue.withImage(s, stride: planeOut, offset: r0 * OW) { e in
                            tk_direct3x3_unpack(ye, ldy, wext, 0, O, r1 - r0, OW, OH * OW, y + s * planeOut + r0 * OW, e)
                        }
                    }
                }
            }
        }
    }
}
