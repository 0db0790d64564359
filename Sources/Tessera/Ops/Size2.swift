/// A pair of sizes (height, width) for kernel sizes, strides, paddings and dilations.
/// Write `2` for (2, 2) or `[2, 1]` for (2, 1).
public struct Size2: ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Size along the height.
    public var h: Int
    /// Size along the width.
    public var w: Int

    /// (h, w).
    public init(_ h: Int, _ w: Int) { self.h = h; self.w = w }
    /// (v, v).
    public init(integerLiteral v: Int) { self.init(v, v) }
    /// `[h, w]` or `[v]`.
    public init(arrayLiteral elements: Int...) {
        precondition(elements.count == 1 || elements.count == 2, "Size2: expects 1 or 2 values, got \(elements)")
        self.init(elements[0], elements.count == 2 ? elements[1] : elements[0])
    }

    public var description: String { h == w ? "\(h)" : "(\(h), \(w))" }
}
