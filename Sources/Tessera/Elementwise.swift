import Foundation

// Elementwise kernels with NumPy broadcasting. Each op's backward sits beside its forward;
// gradients of broadcast operands are summed back to the operand's shape.

extension Tensor {
    /// `f` applied to the elements of `a` and `b` broadcast together; the result is contiguous.
    /// Runs on the calling thread, where `f` inlines; hot ops use the kernel-type overload, which
    /// also splits across threads.
    @inline(__always)
    static func zipMap(_ a: Tensor, _ b: Tensor, op: String, _ f: (Float, Float) -> Float) -> Tensor {
        let shape = a.shape == b.shape ? a.shape : Shape.broadcast(a.shape, b.shape, op: op)
        let out = Tensor(empty: shape)
        let pa = a.storage.pointer, pb = b.storage.pointer, po = out.storage.pointer
        if a.isContiguous && b.isContiguous && a.shape == b.shape {
            let qa = pa + a.offset, qb = pb + b.offset
            for i in 0..<out.count { po[i] = f(qa[i], qb[i]) }
            return out
        }
        Strided.forEachRow3(shape: shape, Strided.broadcastStrides(a, to: shape),
                            Strided.broadcastStrides(b, to: shape), out.strides,
                            a.offset, b.offset, 0) { oa, ob, oo, n, ia, ib, _ in
            if ia == 1 && ib == 1 {
                for i in 0..<n { po[oo + i] = f(pa[oa + i], pb[ob + i]) }
            } else if ia == 1 && ib == 0 {
                let y = pb[ob]
                for i in 0..<n { po[oo + i] = f(pa[oa + i], y) }
            } else if ia == 0 && ib == 1 {
                let x = pa[oa]
                for i in 0..<n { po[oo + i] = f(x, pb[ob + i]) }
            } else {
                for i in 0..<n { po[oo + i] = f(pa[oa + i * ia], pb[ob + i * ib]) }
            }
        }
        return out
    }

    /// `f` applied to every element; the result is contiguous and has no gradient history.
    @inline(__always)
    func map(_ f: (Float) -> Float) -> Tensor {
        let out = Tensor(empty: shape)
        let po = out.storage.pointer, pa = storage.pointer
        if isContiguous {
            let qa = pa + offset
            for i in 0..<out.count { po[i] = f(qa[i]) }
            return out
        }
        Strided.forEachRow3(shape: shape, strides, out.strides, out.strides, offset, 0, 0) { oa, oo, _, n, ia, _, _ in
            for i in 0..<n { po[oo + i] = f(pa[oa + i * ia]) }
        }
        return out
    }

    /// Sums a broadcast gradient back to `target` (the shape of the operand it belongs to).
    func sumToShape(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        var axes = Array(0..<lead)
        for d in 0..<target.count where target[d] == 1 && shape[lead + d] != 1 { axes.append(lead + d) }
        return sum(axes: axes, keepDims: true).reshaped(target)
    }

    // MARK: Arithmetic

    /// Elementwise sum with broadcasting.
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let out = zipMap(a, b, op: "add", kernel: AddKernel())
        guard isRecording(a, b) else { return out }
        return out.recorded("add", (a, { $0.sumToShape(a.shape) }), (b, { $0.sumToShape(b.shape) }))
    }

    /// Elementwise difference with broadcasting.
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let out = zipMap(a, b, op: "sub", kernel: SubKernel())
        guard isRecording(a, b) else { return out }
        return out.recorded("sub", (a, { $0.sumToShape(a.shape) }), (b, { (-$0).sumToShape(b.shape) }))
    }

    /// Elementwise product with broadcasting.
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let out = zipMap(a, b, op: "mul", kernel: MulKernel())
        guard isRecording(a, b) else { return out }
        let ad = a.detach(), bd = b.detach()
        return out.recorded("mul", (a, { ($0 * bd).sumToShape(a.shape) }), (b, { ($0 * ad).sumToShape(b.shape) }))
    }

    /// Elementwise quotient with broadcasting.
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let out = zipMap(a, b, op: "div", kernel: DivKernel())
        guard isRecording(a, b) else { return out }
        let ad = a.detach(), bd = b.detach()
        return out.recorded("div", (a, { ($0 / bd).sumToShape(a.shape) }),
                            (b, { (-$0 * ad / (bd * bd)).sumToShape(b.shape) }))
    }

    /// Negation.
    public static prefix func - (a: Tensor) -> Tensor {
        let out = a.map(kernel: NegKernel())
        guard isRecording(a) else { return out }
        return out.recorded("neg", (a, { -$0 }))
    }

    /// Adds a scalar to every element.
    public static func + (a: Tensor, s: Float) -> Tensor {
        let out = a.map(kernel: ShiftKernel(s: s))
        guard isRecording(a) else { return out }
        return out.recorded("add_scalar", (a, { $0 }))
    }
    /// Adds a scalar to every element.
    public static func + (s: Float, a: Tensor) -> Tensor { a + s }
    /// Subtracts a scalar from every element.
    public static func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
    /// Subtracts every element from a scalar.
    public static func - (s: Float, a: Tensor) -> Tensor { (-a) + s }

    /// Multiplies every element by a scalar.
    public static func * (a: Tensor, s: Float) -> Tensor {
        let out = a.map(kernel: ScaleKernel(s: s))
        guard isRecording(a) else { return out }
        return out.recorded("mul_scalar", (a, { $0 * s }))
    }
    /// Multiplies every element by a scalar.
    public static func * (s: Float, a: Tensor) -> Tensor { a * s }
    /// Divides every element by a scalar.
    public static func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }
    /// Divides a scalar by every element.
    public static func / (s: Float, a: Tensor) -> Tensor {
        let out = a.map { s / $0 }
        guard isRecording(a) else { return out }
        let ad = a.detach()
        return out.recorded("rdiv_scalar", (a, { g in Tensor.zipMap(g, ad, op: "rdiv_backward") { g, x in -g * s / (x * x) } }))
    }

    // MARK: Unary math

    /// eˣ elementwise.
    public func exp() -> Tensor {
        let out = map { Foundation.exp($0) }
        guard Tensor.isRecording(self) else { return out }
        let y = out
        return out.recorded("exp", (self, { $0 * y }))
    }

    /// Natural logarithm elementwise.
    public func log() -> Tensor {
        let out = map { Foundation.log($0) }
        guard Tensor.isRecording(self) else { return out }
        let x = detach()
        return out.recorded("log", (self, { $0 / x }))
    }

    /// Square root elementwise.
    public func sqrt() -> Tensor {
        let out = map { $0.squareRoot() }
        guard Tensor.isRecording(self) else { return out }
        let y = out
        return out.recorded("sqrt", (self, { g in Tensor.zipMap(g, y, op: "sqrt_backward") { g, y in g / (2 * y) } }))
    }

    /// Raises every element to the power `p`.
    public func pow(_ p: Float) -> Tensor {
        let out: Tensor
        if p == 2 { out = map { $0 * $0 } } else { out = map { Foundation.pow($0, p) } }
        guard Tensor.isRecording(self) else { return out }
        let x = detach()
        return out.recorded("pow", (self, { g in Tensor.zipMap(g, x, op: "pow_backward") { g, x in
            p == 2 ? 2 * x * g : g * p * Foundation.pow(x, p - 1) } }))
    }

    /// Raises elements to elementwise powers, with broadcasting.
    public func pow(_ exponent: Tensor) -> Tensor {
        let base = self
        let out = Tensor.zipMap(base, exponent, op: "pow") { Foundation.pow($0, $1) }
        guard Tensor.isRecording(base, exponent) else { return out }
        let x = base.detach(), e = exponent.detach(), y = out
        return out.recorded("pow", (base, { g in (g * e * x.pow(e - 1)).sumToShape(x.shape) }),
                            (exponent, { g in (g * y * x.log()).sumToShape(e.shape) }))
    }

    /// Absolute value elementwise (gradient 0 at 0, as PyTorch).
    public func abs() -> Tensor {
        let out = map { Swift.abs($0) }
        guard Tensor.isRecording(self) else { return out }
        let x = detach()
        return out.recorded("abs", (self, { g in Tensor.zipMap(g, x, op: "abs_backward") { g, x in x > 0 ? g : (x < 0 ? -g : 0) } }))
    }

    /// Limits every element to `[min, max]`; the gradient passes where the input was inside.
    public func clamp(min lo: Float = -.infinity, max hi: Float = .infinity) -> Tensor {
        precondition(lo <= hi, "clamp: min \(lo) is greater than max \(hi)")
        let out = map { Swift.min(Swift.max($0, lo), hi) }
        guard Tensor.isRecording(self) else { return out }
        let x = detach()
        return out.recorded("clamp", (self, { g in Tensor.zipMap(g, x, op: "clamp_backward") { g, x in x >= lo && x <= hi ? g : 0 } }))
    }

    // MARK: Binary selection

    /// Elementwise maximum with broadcasting (ties send the gradient to `self`).
    public func maximum(_ other: Tensor) -> Tensor { Tensor.select(self, other, op: "maximum") { $0 >= $1 } }
    /// Elementwise minimum with broadcasting (ties send the gradient to `self`).
    public func minimum(_ other: Tensor) -> Tensor { Tensor.select(self, other, op: "minimum") { $0 <= $1 } }

    private static func select(_ a: Tensor, _ b: Tensor, op: String, _ pickA: @escaping (Float, Float) -> Bool) -> Tensor {
        let out = zipMap(a, b, op: op) { pickA($0, $1) ? $0 : $1 }
        guard isRecording(a, b) else { return out }
        let mask = zipMap(a, b, op: op) { pickA($0, $1) ? 1 : 0 }
        return out.recorded(op, (a, { ($0 * mask).sumToShape(a.shape) }),
                            (b, { ($0 * (1 - mask)).sumToShape(b.shape) }))
    }

    /// Picks `a` where `condition` is non-zero and `b` elsewhere, with broadcasting of all three.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let shape = Shape.broadcast(Shape.broadcast(condition.shape, a.shape, op: "where"), b.shape, op: "where")
        let c = condition.expanded(to: shape).contiguous()
        let ae = a.expanded(to: shape), be = b.expanded(to: shape)
        // out = b + c * (a - b), computed exactly by selection.
        let picked = zipMap(zipMap(c, ae, op: "where") { $0 != 0 ? $1 : 0 }, zipMap(c, be, op: "where") { $0 != 0 ? 0 : $1 }, op: "where", +)
        guard isRecording(a, b) else { return picked }
        let cd = c.detach()
        return picked.recorded("where", (a, { g in Tensor.zipMap(g, cd, op: "where_backward") { $1 != 0 ? $0 : 0 }.sumToShape(a.shape) }),
                               (b, { g in Tensor.zipMap(g, cd, op: "where_backward") { $1 != 0 ? 0 : $0 }.sumToShape(b.shape) }))
    }

    // MARK: Comparisons (masks of 0 and 1; not differentiable)

    /// 1 where `a == b`, else 0.
    public static func .== (a: Tensor, b: Tensor) -> Tensor { zipMap(a, b, op: "eq") { $0 == $1 ? 1 : 0 } }
    /// 1 where `a != b`, else 0.
    public static func .!= (a: Tensor, b: Tensor) -> Tensor { zipMap(a, b, op: "ne") { $0 != $1 ? 1 : 0 } }
    /// 1 where `a < b`, else 0.
    public static func .< (a: Tensor, b: Tensor) -> Tensor { zipMap(a, b, op: "lt") { $0 < $1 ? 1 : 0 } }
    /// 1 where `a <= b`, else 0.
    public static func .<= (a: Tensor, b: Tensor) -> Tensor { zipMap(a, b, op: "le") { $0 <= $1 ? 1 : 0 } }
    /// 1 where `a > b`, else 0.
    public static func .> (a: Tensor, b: Tensor) -> Tensor { zipMap(a, b, op: "gt") { $0 > $1 ? 1 : 0 } }
    /// 1 where `a >= b`, else 0.
    public static func .>= (a: Tensor, b: Tensor) -> Tensor { zipMap(a, b, op: "ge") { $0 >= $1 ? 1 : 0 } }
    /// 1 where the element equals `s`, else 0.
    public static func .== (a: Tensor, s: Float) -> Tensor { a.map { $0 == s ? 1 : 0 } }
    /// 1 where the element is less than `s`, else 0.
    public static func .< (a: Tensor, s: Float) -> Tensor { a.map { $0 < s ? 1 : 0 } }
    /// 1 where the element is greater than `s`, else 0.
    public static func .> (a: Tensor, s: Float) -> Tensor { a.map { $0 > s ? 1 : 0 } }
}
