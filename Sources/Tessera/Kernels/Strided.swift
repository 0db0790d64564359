/// Iteration over strided layouts: the outer dimensions are walked with an index counter and
/// the innermost (after merging dimensions that are laid out back to back) is handed to a
/// tight kernel as (offsets, length, strides).
enum Strided {
    /// Merges neighbouring dimensions that every operand steps through contiguously, so a
    /// bias add over [N, C, H, W] + [1, C, 1, 1] becomes an inner loop of H·W.
    static func coalesce(_ shape: [Int], _ strides: [[Int]]) -> ([Int], [[Int]]) {
        var shp: [Int] = []
        var str: [[Int]] = Array(repeating: [], count: strides.count)
        for d in 0..<shape.count where shape[d] != 1 {
            if let last = shp.last, strides.indices.allSatisfy({ strides[$0][d] * shape[d] == str[$0].last! }) {
                shp[shp.count - 1] = last * shape[d]
                for k in strides.indices { str[k][str[k].count - 1] = strides[k][d] }
            } else {
                shp.append(shape[d])
                for k in strides.indices { str[k].append(strides[k][d]) }
            }
        }
        if shp.isEmpty { return ([1], strides.map { _ in [1] }) }
        return (shp, str)
    }

    /// Calls `body(o0, o1, o2, n, s0, s1, s2)` for each innermost row of `shape`, where `oK`
    /// is operand K's offset of the row's first element and `sK` its inner stride.
    ///
    /// With `parallel`, rows are split across threads (for large tensors); `body` must then
    /// write only to places no other row writes.
    @inline(__always)
    static func forEachRow3(shape: [Int], _ s0: [Int], _ s1: [Int], _ s2: [Int],
                            _ base0: Int, _ base1: Int, _ base2: Int, parallel: Bool = false,
                            _ body: (Int, Int, Int, Int, Int, Int, Int) -> Void) {
        let total = Shape.count(shape)
        if total == 0 { return }
        let (shp, st) = coalesce(shape, [s0, s1, s2])
        let rows = total / shp[shp.count - 1]
        let parts = parallel ? Swift.min(Parallel.parts(for: total, minimum: Parallel.minimumElements), rows) : 1
        if parts <= 1 {
            walkRows(shp, st, base0, base1, base2, 0..<rows, body)
        } else {
            Parallel.forRanges(rows, parts: parts) { range in walkRows(shp, st, base0, base1, base2, range, body) }
        }
    }

    /// Visits rows `range` (row-major order of the outer dimensions) of a coalesced layout.
    @inline(__always)
    private static func walkRows(_ shp: [Int], _ st: [[Int]], _ base0: Int, _ base1: Int, _ base2: Int, _ range: Range<Int>,
                                 _ body: (Int, Int, Int, Int, Int, Int, Int) -> Void) {
        let r = shp.count
        let n = shp[r - 1]
        let i0 = st[0][r - 1], i1 = st[1][r - 1], i2 = st[2][r - 1]
        if r == 1 { body(base0, base1, base2, n, i0, i1, i2); return }
        // Multi-index and offsets of the first row of the range.
        var idx = [Int](repeating: 0, count: r - 1)
        var o0 = base0, o1 = base1, o2 = base2
        var rem = range.lowerBound
        for d in stride(from: r - 2, through: 0, by: -1) {
            idx[d] = rem % shp[d]
            rem /= shp[d]
            o0 += idx[d] * st[0][d]; o1 += idx[d] * st[1][d]; o2 += idx[d] * st[2][d]
        }
        for _ in range {
            body(o0, o1, o2, n, i0, i1, i2)
            var d = r - 2
            while d >= 0 {
                idx[d] += 1
                o0 += st[0][d]; o1 += st[1][d]; o2 += st[2][d]
                if idx[d] < shp[d] { break }
                o0 -= st[0][d] * shp[d]; o1 -= st[1][d] * shp[d]; o2 -= st[2][d] * shp[d]
                idx[d] = 0
                d -= 1
            }
        }
    }

    /// Strides of `t` read as if broadcast to `shape` (0 along broadcast dimensions).
    static func broadcastStrides(_ t: Tensor, to shape: [Int]) -> [Int] {
        let lead = shape.count - t.rank
        var out = [Int](repeating: 0, count: shape.count)
        for d in 0..<t.rank where t.shape[d] != 1 || shape[lead + d] == 1 {
            out[lead + d] = t.shape[d] == 1 ? 0 : t.strides[d]
        }
        return out
    }
}
