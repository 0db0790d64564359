import CTesseraKernels

// The one elementwise path: every unary and binary op runs a C kernel (tk_unary / tk_binary,
// vectorized per instruction set) over rows of its operands, split across Tessera's threads once
// a tensor has at least `Parallel.minimumElements` elements. Broadcasting and strided views
// reach the kernels as rows with their inner strides (see `Strided`).

enum Elementwise {
    /// op(x) elementwise; the result is contiguous.  x: any layout → [x.shape].
    static func unary(_ op: tk_unary_op, _ x: Tensor, _ p0: Float = 0, _ p1: Float = 0) -> Tensor {
        let out = Tensor(empty: x.shape)
        let po = out.ptr, px = x.storage.pointer
        if x.isContiguous {
            let base = px + x.offset
            Parallel.forElements(out.count) { r in
                tk_unary(op, r.count, base + r.lowerBound, 1, po + r.lowerBound, 1, p0, p1)
            }
        } else {
            Strided.forEachRow3(shape: x.shape, x.strides, out.strides, out.strides, x.offset, 0, 0, parallel: true) { ox, oo, _, n, ix, io, _ in
                tk_unary(op, n, px + ox, ix, po + oo, io, p0, p1)
            }
        }
        return out
    }

    /// op(a, b) with NumPy broadcasting; the result is contiguous.
    /// a: [*], b: [*] → [broadcast(a.shape, b.shape)].
    static func binary(_ op: tk_binary_op, _ a: Tensor, _ b: Tensor, name: String, _ p0: Float = 0, _ p1: Float = 0) -> Tensor {
        let shape = a.shape == b.shape ? a.shape : Shape.broadcast(a.shape, b.shape, op: name)
        let out = Tensor(empty: shape)
        let pa = a.storage.pointer, pb = b.storage.pointer, po = out.ptr
        if a.shape == b.shape && a.isContiguous && b.isContiguous {
            let qa = pa + a.offset, qb = pb + b.offset
            Parallel.forElements(out.count) { r in
                let i = r.lowerBound
                tk_binary(op, r.count, qa + i, 1, qb + i, 1, po + i, 1, p0, p1)
            }
            return out
        }
        Strided.forEachRow3(shape: shape, Strided.broadcastStrides(a, to: shape), Strided.broadcastStrides(b, to: shape),
                            out.strides, a.offset, b.offset, 0, parallel: true) { oa, ob, oo, n, ia, ib, io in
            tk_binary(op, n, pa + oa, ia, pb + ob, ib, po + oo, io, p0, p1)
        }
        return out
    }

    /// c != 0 ? a : b with all three broadcast together; the result is contiguous.
    static func select(_ c: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let shape = Shape.broadcast(Shape.broadcast(c.shape, a.shape, op: "where"), b.shape, op: "where")
        let cc = c.expanded(to: shape).contiguous(), ac = a.expanded(to: shape).contiguous(), bc = b.expanded(to: shape).contiguous()
        let out = Tensor(empty: shape)
        let pc = cc.ptr, pa = ac.ptr, pb = bc.ptr, po = out.ptr
        Parallel.forElements(out.count) { r in
            let i = r.lowerBound
            tk_select(r.count, pc + i, pa + i, pb + i, po + i)
        }
        return out
    }
}
