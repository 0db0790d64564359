import Foundation

extension Tensor: CustomStringConvertible, CustomDebugStringConvertible {
    /// The values in PyTorch's layout (nested brackets, aligned columns, `...` when there are
    /// more than 1,000 elements) followed by the shape, e.g.
    /// `tensor([[1.0000, 2.5000],\n        [3.0000, 4.0000]], shape=[2, 2])`.
    public var description: String {
        let c = contiguous()
        let values = UnsafeBufferPointer(start: c.storage.pointer + c.offset, count: c.count)
        let summarize = count > 1000
        let edge = 3
        // Choose one number format for the whole tensor, as PyTorch does.
        var shown: [Float] = []
        if summarize { collectShown(values, dim: 0, base: 0, edge: edge, into: &shown) } else { shown = Array(values) }
        let finite = shown.filter { $0.isFinite }
        let allIntegers = finite.allSatisfy { $0 == $0.rounded() }
        let maxAbs = finite.map { Swift.abs($0) }.max() ?? 0
        let minAbs = finite.filter { $0 != 0 }.map { Swift.abs($0) }.min() ?? 1
        let scientific = !allIntegers && (maxAbs >= 1e8 || minAbs < 1e-4 || (maxAbs / Swift.max(minAbs, 1e-30)) > 1e3 && maxAbs >= 1e3)
        func format(_ v: Float) -> String {
            if v.isNaN { return "nan" }
            if v.isInfinite { return v > 0 ? "inf" : "-inf" }
            if allIntegers { return maxAbs >= 1e8 ? String(format: "%.4e", Double(v)) : String(format: "%.0f.", Double(v)) }
            return String(format: scientific ? "%.4e" : "%.4f", Double(v))
        }
        let width = shown.map { format($0).count }.max() ?? 1
        func pad(_ v: Float) -> String { let s = format(v); return String(repeating: " ", count: width - s.count) + s }

        let prefix = "tensor("
        var body: String
        if rank == 0 {
            body = format(values[0])
        } else {
            body = render(values, dim: 0, base: 0, indent: prefix.count + 1, summarize: summarize, edge: edge, pad: pad)
        }
        var extras = ["shape=\(shape)"]
        if requiresGrad { extras.append(isLeaf ? "requiresGrad=true" : "gradFn=\(node!.op)") }
        return prefix + body + ", " + extras.joined(separator: ", ") + ")"
    }

    /// Same as ``description``.
    public var debugDescription: String { description }

    private func collectShown(_ v: UnsafeBufferPointer<Float>, dim: Int, base: Int, edge: Int, into out: inout [Float]) {
        let stride = shape[(dim + 1)...].reduce(1, *)
        for i in visibleIndices(shape[dim], summarize: true, edge: edge) {
            guard let i else { continue }
            if dim == rank - 1 { out.append(v[base + i]) } else { collectShown(v, dim: dim + 1, base: base + i * stride, edge: edge, into: &out) }
        }
    }

    private func visibleIndices(_ n: Int, summarize: Bool, edge: Int) -> [Int?] {
        if !summarize || n <= 2 * edge { return Array(0..<n) }
        return Array(0..<edge) + [nil] + Array((n - edge)..<n)
    }

    private func render(_ v: UnsafeBufferPointer<Float>, dim: Int, base: Int, indent: Int, summarize: Bool, edge: Int, pad: (Float) -> String) -> String {
        let stride = shape[(dim + 1)...].reduce(1, *)
        let idx = visibleIndices(shape[dim], summarize: summarize, edge: edge)
        if dim == rank - 1 {
            return "[" + idx.map { $0.map { pad(v[base + $0]) } ?? "..." }.joined(separator: ", ") + "]"
        }
        let newlines = String(repeating: "\n", count: rank - 1 - dim)
        let sep = "," + newlines + String(repeating: " ", count: indent)
        let parts = idx.map { i -> String in
            guard let i else { return "..." }
            return render(v, dim: dim + 1, base: base + i * stride, indent: indent + 1, summarize: summarize, edge: edge, pad: pad)
        }
        return "[" + parts.joined(separator: sep) + "]"
    }
}
