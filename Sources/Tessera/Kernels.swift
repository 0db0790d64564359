// Elementwise kernels as value types. A generic loop over a kernel type is specialized by the
// compiler, so `apply` inlines into the loop even when the loop runs inside a parallel closure
// (a closure argument would cost an indirect call per element there).

/// f(a, b) for one pair of elements.
protocol BinaryKernel {
    func apply(_ a: Float, _ b: Float) -> Float
}

/// f(x) for one element.
protocol UnaryKernel {
    func apply(_ x: Float) -> Float
}

struct AddKernel: BinaryKernel { @inline(__always) func apply(_ a: Float, _ b: Float) -> Float { a + b } }
struct SubKernel: BinaryKernel { @inline(__always) func apply(_ a: Float, _ b: Float) -> Float { a - b } }
struct MulKernel: BinaryKernel { @inline(__always) func apply(_ a: Float, _ b: Float) -> Float { a * b } }
struct DivKernel: BinaryKernel { @inline(__always) func apply(_ a: Float, _ b: Float) -> Float { a / b } }
/// g where y > 0, else 0 (the ReLU backward from its output).
struct ReLUMaskKernel: BinaryKernel { @inline(__always) func apply(_ g: Float, _ y: Float) -> Float { y > 0 ? g : 0 } }

struct ReLUKernel: UnaryKernel { @inline(__always) func apply(_ x: Float) -> Float { x > 0 ? x : 0 } }
struct NegKernel: UnaryKernel { @inline(__always) func apply(_ x: Float) -> Float { -x } }
struct ScaleKernel: UnaryKernel { let s: Float; @inline(__always) func apply(_ x: Float) -> Float { x * s } }
struct ShiftKernel: UnaryKernel { let s: Float; @inline(__always) func apply(_ x: Float) -> Float { x + s } }

extension Tensor {
    /// `kernel` applied to `a` and `b` broadcast together; the result is contiguous.
    @inline(__always)
    static func zipMap<K: BinaryKernel>(_ a: Tensor, _ b: Tensor, op: String, kernel: K) -> Tensor {
        let shape = a.shape == b.shape ? a.shape : Shape.broadcast(a.shape, b.shape, op: op)
        let out = Tensor(empty: shape)
        let pa = a.storage.pointer, pb = b.storage.pointer, po = out.storage.pointer
        if a.isContiguous && b.isContiguous && a.shape == b.shape {
            let qa = pa + a.offset, qb = pb + b.offset
            Parallel.forRanges(out.count, parts: Parallel.parts(for: out.count, minimum: Parallel.minimumElements)) { r in
                for i in r { po[i] = kernel.apply(qa[i], qb[i]) }
            }
            return out
        }
        Strided.forEachRow3(shape: shape, Strided.broadcastStrides(a, to: shape),
                            Strided.broadcastStrides(b, to: shape), out.strides,
                            a.offset, b.offset, 0, parallel: true) { oa, ob, oo, n, ia, ib, _ in
            if ia == 1 && ib == 1 {
                for i in 0..<n { po[oo + i] = kernel.apply(pa[oa + i], pb[ob + i]) }
            } else if ia == 1 && ib == 0 {
                let y = pb[ob]
                for i in 0..<n { po[oo + i] = kernel.apply(pa[oa + i], y) }
            } else if ia == 0 && ib == 1 {
                let x = pa[oa]
                for i in 0..<n { po[oo + i] = kernel.apply(x, pb[ob + i]) }
            } else {
                for i in 0..<n { po[oo + i] = kernel.apply(pa[oa + i * ia], pb[ob + i * ib]) }
            }
        }
        return out
    }

    /// `kernel` applied to every element; the result is contiguous.
    @inline(__always)
    func map<K: UnaryKernel>(kernel: K) -> Tensor {
        let out = Tensor(empty: shape)
        let po = out.storage.pointer, pa = storage.pointer
        if isContiguous {
            let qa = pa + offset
            Parallel.forRanges(out.count, parts: Parallel.parts(for: out.count, minimum: Parallel.minimumElements)) { r in
                for i in r { po[i] = kernel.apply(qa[i]) }
            }
            return out
        }
        Strided.forEachRow3(shape: shape, strides, out.strides, out.strides, offset, 0, 0, parallel: true) { oa, oo, _, n, ia, _, _ in
            for i in 0..<n { po[oo + i] = kernel.apply(pa[oa + i * ia]) }
        }
        return out
    }
}

// MARK: - Vectorized row reductions (eight partial sums, so the loop vectorizes)

enum RowSums {
    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// Σ p[k] for k < n.
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var k = 0
        while k + 8 <= n { acc += load8(p + k); k += 8 }
        var s = acc.sum()
        while k < n { s += p[k]; k += 1 }
        return s
    }

    /// Σ (p[k] − m)² for k < n.
    @inline(__always)
    static func squaredDeviation(_ p: UnsafePointer<Float>, _ n: Int, mean m: Float) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        let mv = SIMD8<Float>(repeating: m)
        var k = 0
        while k + 8 <= n { let d = load8(p + k) - mv; acc += d * d; k += 8 }
        var s = acc.sum()
        while k < n { let d = p[k] - m; s += d * d; k += 1 }
        return s
    }

    /// (Σ g[k], Σ g[k]·(x[k] − m)) for k < n.
    @inline(__always)
    static func gradientSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, mean m: Float) -> (Float, Float) {
        var a = SIMD8<Float>(repeating: 0), b = SIMD8<Float>(repeating: 0)
        let mv = SIMD8<Float>(repeating: m)
        var k = 0
        while k + 8 <= n { let gv = load8(g + k); a += gv; b += gv * (load8(x + k) - mv); k += 8 }
        var sa = a.sum(), sb = b.sum()
        while k < n { sa += g[k]; sb += g[k] * (x[k] - m); k += 1 }
        return (sa, sb)
    }

    /// ``gradientSums(_:_:_:mean:)`` of g masked to where y > 0 (the gradient through a ReLU
    /// whose output is y).
    @inline(__always)
    static func gradientSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, mean m: Float,
                             where y: UnsafePointer<Float>) -> (Float, Float) {
        var a = SIMD8<Float>(repeating: 0), b = SIMD8<Float>(repeating: 0)
        let mv = SIMD8<Float>(repeating: m), zero = SIMD8<Float>(repeating: 0)
        var k = 0
        while k + 8 <= n {
            let gv = load8(g + k).replacing(with: 0, where: .!(load8(y + k) .> zero))   // as the scalar tail: NaN masked
            a += gv; b += gv * (load8(x + k) - mv); k += 8
        }
        var sa = a.sum(), sb = b.sum()
        while k < n { let gk = y[k] > 0 ? g[k] : 0; sa += gk; sb += gk * (x[k] - m); k += 1 }
        return (sa, sb)
    }
}
