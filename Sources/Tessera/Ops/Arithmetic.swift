import CTesseraKernels

// Arithmetic with NumPy broadcasting, unary math, selection and comparisons. Each op's backward
// sits beside its forward; gradients of broadcast operands are summed back to the operand's shape.

extension Tensor {
    /// Sums a broadcast gradient back to `target` (the shape of the operand it belongs to).
    func sumToShape(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        var axes = Array(0..<lead)
        for d in 0..<target.count where target[d] == 1 && shape[lead + d] != 1 { axes.append(lead + d) }
        return sum(axes: axes, keepDims: true).reshaped(target)
    }

    /// `op(self)` with the backward `g ↦ backward(g, input, output)`, the input and output detached.
    private func unaryOp(_ op: tk_unary_op, _ name: String, _ p0: Float = 0, _ p1: Float = 0,
                         backward: @escaping (_ g: Tensor, _ x: Tensor, _ y: Tensor) -> Tensor) -> Tensor {
        let out = Elementwise.unary(op, self, p0, p1)
        guard Tensor.isRecording(self) else { return out }
        let x = detach(), y = out
        return out.recorded(name, input: self) { g in backward(g, x, y) }
    }

    /// `kernel(g, saved)`: the common backward of a unary op, one elementwise pass.
    private static func gradient(_ op: tk_binary_op, _ g: Tensor, _ saved: Tensor, _ p0: Float = 0, _ p1: Float = 0) -> Tensor {
        Elementwise.binary(op, g, saved, name: "backward", p0, p1)
    }

    // MARK: Arithmetic

    /// Elementwise sum with broadcasting.
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let profile = Profiler.begin(.add); defer { Profiler.end(profile) }
        let out = Elementwise.binary(TK_BINARY_ADD, a, b, name: "add")
        guard isRecording(a, b) else { return out }
        let sa = a.shape, sb = b.shape
        return out.recorded("add", inputs: [a, b]) { g, needs in
            [needs[0] ? g.sumToShape(sa) : nil, needs[1] ? g.sumToShape(sb) : nil]
        }
    }

    /// Elementwise difference with broadcasting.
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let out = Elementwise.binary(TK_BINARY_SUB, a, b, name: "sub")
        guard isRecording(a, b) else { return out }
        let sa = a.shape, sb = b.shape
        return out.recorded("sub", inputs: [a, b]) { g, needs in
            [needs[0] ? g.sumToShape(sa) : nil, needs[1] ? (-g).sumToShape(sb) : nil]
        }
    }

    /// Elementwise product with broadcasting.
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let out = Elementwise.binary(TK_BINARY_MUL, a, b, name: "mul")
        guard isRecording(a, b) else { return out }
        let ad = a.detach(), bd = b.detach()
        return out.recorded("mul", inputs: [a, b]) { g, needs in
            [needs[0] ? (g * bd).sumToShape(ad.shape) : nil, needs[1] ? (g * ad).sumToShape(bd.shape) : nil]
        }
    }

    /// Elementwise quotient with broadcasting.
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let out = Elementwise.binary(TK_BINARY_DIV, a, b, name: "div")
        guard isRecording(a, b) else { return out }
        let ad = a.detach(), bd = b.detach()
        return out.recorded("div", inputs: [a, b]) { g, needs in
            [needs[0] ? (g / bd).sumToShape(ad.shape) : nil, needs[1] ? (-g * ad / (bd * bd)).sumToShape(bd.shape) : nil]
        }
    }

    /// Negation.
    public static prefix func - (a: Tensor) -> Tensor {
        a.unaryOp(TK_UNARY_NEG, "neg") { g, _, _ in -g }
    }

    /// Adds a scalar to every element.
    public static func + (a: Tensor, s: Float) -> Tensor {
        a.unaryOp(TK_UNARY_AFFINE, "add_scalar", 1, s) { g, _, _ in g }
    }
    /// Adds a scalar to every element.
    public static func + (s: Float, a: Tensor) -> Tensor { a + s }
    /// Subtracts a scalar from every element.
    public static func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
    /// Subtracts every element from a scalar.
    public static func - (s: Float, a: Tensor) -> Tensor { (-a) + s }

    /// Multiplies every element by a scalar.
    public static func * (a: Tensor, s: Float) -> Tensor {
        a.unaryOp(TK_UNARY_AFFINE, "mul_scalar", s, 0) { g, _, _ in g * s }
    }
    /// Multiplies every element by a scalar.
    public static func * (s: Float, a: Tensor) -> Tensor { a * s }
    /// Divides every element by a scalar.
    public static func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }
    /// Divides a scalar by every element.
    public static func / (s: Float, a: Tensor) -> Tensor {
        a.unaryOp(TK_UNARY_RECIPROCAL, "rdiv_scalar", s) { g, x, _ in gradient(TK_BINARY_RECIPROCAL_BACKWARD, g, x, s) }
    }

    // MARK: Unary math

    /// eˣ elementwise.
    public func exp() -> Tensor {
        unaryOp(TK_UNARY_EXP, "exp") { g, _, y in g * y }
    }

    /// Natural logarithm elementwise.
    public func log() -> Tensor {
        unaryOp(TK_UNARY_LOG, "log") { g, x, _ in g / x }
    }

    /// Square root elementwise.
    public func sqrt() -> Tensor {
        unaryOp(TK_UNARY_SQRT, "sqrt") { g, _, y in Tensor.gradient(TK_BINARY_SQRT_BACKWARD, g, y) }
    }

    /// Raises every element to the power `p`.
    public func pow(_ p: Float) -> Tensor {
        unaryOp(p == 2 ? TK_UNARY_SQUARE : TK_UNARY_POW, "pow", p) { g, x, _ in Tensor.gradient(TK_BINARY_POW_BACKWARD, g, x, p) }
    }

    /// Raises elements to elementwise powers, with broadcasting.
    public func pow(_ exponent: Tensor) -> Tensor {
        let out = Elementwise.binary(TK_BINARY_POW, self, exponent, name: "pow")
        guard Tensor.isRecording(self, exponent) else { return out }
        let x = detach(), e = exponent.detach(), y = out
        return out.recorded("pow", inputs: [self, exponent]) { g, needs in
            [needs[0] ? (g * e * x.pow(e - 1)).sumToShape(x.shape) : nil,
             needs[1] ? (g * y * x.log()).sumToShape(e.shape) : nil]
        }
    }

    /// Absolute value elementwise (gradient 0 at 0, as PyTorch).
    public func abs() -> Tensor {
        unaryOp(TK_UNARY_ABS, "abs") { g, x, _ in Tensor.gradient(TK_BINARY_ABS_BACKWARD, g, x) }
    }

    /// Limits every element to `[min, max]`; the gradient passes where the input was inside.
    public func clamp(min lo: Float = -.infinity, max hi: Float = .infinity) -> Tensor {
        precondition(lo <= hi, "clamp: min \(lo) is greater than max \(hi)")
        return unaryOp(TK_UNARY_CLAMP, "clamp", lo, hi) { g, x, _ in Tensor.gradient(TK_BINARY_CLAMP_BACKWARD, g, x, lo, hi) }
    }

    /// The element where it is finite, 0 where it is ±∞ or NaN (not differentiable).
    func finiteOrZero() -> Tensor { Elementwise.unary(TK_UNARY_FINITE_OR_ZERO, detach()) }

    // MARK: Binary selection

    /// Elementwise maximum with broadcasting (ties send the gradient to `self`).
    public func maximum(_ other: Tensor) -> Tensor {
        Tensor.select(self, other, op: "maximum", value: TK_BINARY_MAXIMUM, pickA: TK_BINARY_GREATER_EQUAL)
    }
    /// Elementwise minimum with broadcasting (ties send the gradient to `self`).
    public func minimum(_ other: Tensor) -> Tensor {
        Tensor.select(self, other, op: "minimum", value: TK_BINARY_MINIMUM, pickA: TK_BINARY_LESS_EQUAL)
    }

    private static func select(_ a: Tensor, _ b: Tensor, op: String, value: tk_binary_op, pickA: tk_binary_op) -> Tensor {
        let out = Elementwise.binary(value, a, b, name: op)
        guard isRecording(a, b) else { return out }
        let mask = Elementwise.binary(pickA, a, b, name: op)
        let sa = a.shape, sb = b.shape
        return out.recorded(op, inputs: [a, b]) { g, needs in
            [needs[0] ? (g * mask).sumToShape(sa) : nil, needs[1] ? (g * (1 - mask)).sumToShape(sb) : nil]
        }
    }

    /// Picks `a` where `condition` is non-zero and `b` elsewhere, with broadcasting of all three.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let picked = Elementwise.select(condition, a, b)
        guard isRecording(a, b) else { return picked }
        let c = condition.detach().expanded(to: picked.shape).contiguous()
        let zeros = Tensor.zeros([1])
        let sa = a.shape, sb = b.shape
        return picked.recorded("where", inputs: [a, b]) { g, needs in
            [needs[0] ? Elementwise.select(c, g, zeros).sumToShape(sa) : nil,
             needs[1] ? Elementwise.select(c, zeros, g).sumToShape(sb) : nil]
        }
    }

    // MARK: Comparisons (masks of 0 and 1; not differentiable)

    /// 1 where `a == b`, else 0.
    public static func .== (a: Tensor, b: Tensor) -> Tensor { Elementwise.binary(TK_BINARY_EQUAL, a, b, name: "eq") }
    /// 1 where `a != b`, else 0.
    public static func .!= (a: Tensor, b: Tensor) -> Tensor { Elementwise.binary(TK_BINARY_NOT_EQUAL, a, b, name: "ne") }
    /// 1 where `a < b`, else 0.
    public static func .< (a: Tensor, b: Tensor) -> Tensor { Elementwise.binary(TK_BINARY_LESS, a, b, name: "lt") }
    /// 1 where `a <= b`, else 0.
    public static func .<= (a: Tensor, b: Tensor) -> Tensor { Elementwise.binary(TK_BINARY_LESS_EQUAL, a, b, name: "le") }
    /// 1 where `a > b`, else 0.
    public static func .> (a: Tensor, b: Tensor) -> Tensor { Elementwise.binary(TK_BINARY_GREATER, a, b, name: "gt") }
    /// 1 where `a >= b`, else 0.
    public static func .>= (a: Tensor, b: Tensor) -> Tensor { Elementwise.binary(TK_BINARY_GREATER_EQUAL, a, b, name: "ge") }
    /// 1 where the element equals `s`, else 0.
    public static func .== (a: Tensor, s: Float) -> Tensor { Elementwise.unary(TK_UNARY_EQUAL, a, s) }
    /// 1 where the element is less than `s`, else 0.
    public static func .< (a: Tensor, s: Float) -> Tensor { Elementwise.unary(TK_UNARY_LESS, a, s) }
    /// 1 where the element is greater than `s`, else 0.
    public static func .> (a: Tensor, s: Float) -> Tensor { Elementwise.unary(TK_UNARY_GREATER, a, s) }
}
