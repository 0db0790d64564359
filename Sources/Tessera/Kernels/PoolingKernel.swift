import CTesseraKernels

/// 2-D pooling over raw buffers (tk_*pool*), planes split across threads.
/// x, dx: [P, H, W] with P = N·C; y, dy: [P, OH, OW].
struct PoolingKernel {
    let planes: Int, H: Int, W: Int, OH: Int, OW: Int

    private func forPlanes(work: Int, _ body: (_ p0: Int, _ p1: Int) -> Void) {
        Parallel.forRanges(planes, parts: Parallel.parts(for: work, minimum: Parallel.minimumElements)) { r in
            body(r.lowerBound, r.upperBound)
        }
    }

    static func window(_ g: ConvGeometry) -> tk_window2d {
        tk_window2d(kh: g.kh, kw: g.kw, sh: g.sh, sw: g.sw, ph: g.ph, pw: g.pw, dh: g.dh, dw: g.dw, out_h: g.outH, out_w: g.outW)
    }

    /// y = window maxima (overwritten), `indices` [P·OH·OW] their flat positions in each plane.
    func maxForward(x: Tensor, geometry: ConvGeometry, y: Tensor, indices: IndexBuffer) {
        var window = PoolingKernel.window(geometry)
        let xp = x.ptr, yp = y.ptr
        let ip = indices.pointer
        forPlanes(work: planes * H * W) { p0, p1 in tk_maxpool2d_forward(p0, p1, H, W, &window, xp, yp, ip) }
    }

    /// dx = dy routed to the positions in `indices`, 0 elsewhere (overwritten).
    func maxBackward(dy: Tensor, indices: IndexBuffer, geometry: ConvGeometry, dx: Tensor) {
        var window = PoolingKernel.window(geometry)
        let gp = dy.ptr, dp = dx.ptr, ip = indices.pointer
        forPlanes(work: planes * H * W) { p0, p1 in tk_maxpool2d_backward(p0, p1, H, W, &window, gp, ip, dp) }
    }

    /// Averages over precomputed windows (the same for every plane): bounds [OH·OW, 4] as
    /// (h0, h1, w0, w1), scales [OH·OW]. Overwrites y.
    func averageForward(x: Tensor, bounds: [Int32], scales: [Float], y: Tensor) {
        let xp = x.ptr, yp = y.ptr, n = scales.count
        bounds.withUnsafeBufferPointer { b in
            scales.withUnsafeBufferPointer { s in
                forPlanes(work: planes * H * W) { p0, p1 in tk_avgpool2d_forward(p0, p1, H, W, n, b.baseAddress, s.baseAddress, xp, yp) }
            }
        }
    }

    /// The adjoint of ``averageForward(x:bounds:scales:y:)``; accumulates into dx.
    func averageBackward(dy: Tensor, bounds: [Int32], scales: [Float], dx: Tensor) {
        let gp = dy.ptr, dp = dx.ptr, n = scales.count
        bounds.withUnsafeBufferPointer { b in
            scales.withUnsafeBufferPointer { s in
                forPlanes(work: planes * H * W) { p0, p1 in tk_avgpool2d_backward(p0, p1, H, W, n, b.baseAddress, s.baseAddress, gp, dp) }
            }
        }
    }

    /// y[p] = mean of plane p; overwrites.
    func globalForward(x: Tensor, y: Tensor) {
        let xp = x.ptr, yp = y.ptr
        forPlanes(work: planes * H * W) { p0, p1 in tk_global_avgpool_forward(p0, p1, H * W, xp, yp) }
    }

    /// dx[p, :] = dy[p] / (H·W); overwrites.
    func globalBackward(dy: Tensor, dx: Tensor) {
        let gp = dy.ptr, dp = dx.ptr
        forPlanes(work: planes * H * W) { p0, p1 in tk_global_avgpool_backward(p0, p1, H * W, gp, dp) }
    }
}

/// Flat indices of pooling maxima, kept by max pooling's backward; from the buffer pool, as an
/// activation of the same size would be (a fresh buffer each step would be page-faulted in).
final class IndexBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int32>
    let count: Int
    private var bytes: Int { Swift.max(count, 1) * MemoryLayout<Int32>.stride }
    init(count: Int) {
        self.count = count
        pointer = BufferPool.allocate(bytes: Swift.max(count, 1) * MemoryLayout<Int32>.stride)
            .bindMemory(to: Int32.self, capacity: Swift.max(count, 1))
    }
    deinit { BufferPool.release(UnsafeMutableRawPointer(pointer), bytes: bytes) }
}
