// im2col / col2im and the phase-plane split of stride-2 convolutions, over raw buffers.

/// One tap of an unfold whose output is as wide as its input: dst[oh·W + ow] = plane[oh + offH,
/// ow + offW] (0 outside) for oh < OH — one shifted copy of the plane plus zeroed borders (one
/// memcpy, not one per row).  plane: [H, W], dst: [OH, W].
@inline(__always)
func shiftedCopy(_ plane: UnsafePointer<Float>, height H: Int, width W: Int, outHeight OH: Int, offH: Int, offW: Int,
                 into dst: UnsafeMutablePointer<Float>) {
    // Rows and columns whose source lies inside the plane: oh in [ohLo, ohHi), ow in [owLo, owHi).
    let ohLo = Swift.min(OH, Swift.max(0, -offH)), ohHi = Swift.max(ohLo, Swift.min(OH, H - offH))
    let owLo = Swift.min(W, Swift.max(0, -offW)), owHi = Swift.max(owLo, Swift.min(W, W - offW))
    let delta = offH * W + offW
    if ohLo > 0 { dst.update(repeating: 0, count: ohLo * W) }
    if ohHi < OH { (dst + ohHi * W).update(repeating: 0, count: (OH - ohHi) * W) }
    // Copy the valid rows in one go, clipped to the plane; the columns that wrapped are zeroed next.
    let k0 = Swift.max(ohLo * W, -delta), k1 = Swift.min(ohHi * W, H * W - delta)
    if k1 > k0 { (dst + k0).update(from: plane + k0 + delta, count: k1 - k0) }
    if owLo > 0 || owHi < W {
        for oh in ohLo..<ohHi {
            let d = dst + oh * W
            for ow in 0..<owLo { d[ow] = 0 }
            for ow in owHi..<W { d[ow] = 0 }
        }
    }
}

/// Unfolds one image's channels into columns: col[(c·kh + i)·kw + j, colOffset + oh·outW + ow]
/// = x[c, oh·sh − ph + i·dh, ow·sw − pw + j·dw] (0 outside). `ldc` is the row stride of col.
/// x: [channels, height, width] contiguous. `phases`: scratch of channels·height·width floats,
/// used when ``ConvGeometry/usesPhasePlanes``.
///
/// Stride 1 with the output as wide as the input: every kernel tap is one shifted copy of the
/// plane. Stride 2 over an even image is brought to the same case: the input is split once into
/// its four phase planes (even/odd rows × even/odd columns, each [H/2, W/2], the output's size),
/// and input row 2·oh − ph + i is row oh + ⌊(i − ph)/2⌋ of the phase (i − ph) mod 2.
@inline(__always)
func im2col(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ col: UnsafeMutablePointer<Float>, ldc: Int,
            phases: UnsafeMutablePointer<Float>? = nil) {
    let H = g.height, W = g.width, OH = g.outH, OW = g.outW
    if g.usesPhasePlanes, let phases {
        let h2 = H / 2, w2 = W / 2, plane2 = h2 * w2
        // phases: [C, 2 (row phase), 2 (column phase), H/2, W/2]
        for c in 0..<g.channels {
            for r in 0..<H {
                let src = x + (c * H + r) * W
                let even = phases + ((c * 2 + (r & 1)) * 2) * plane2 + (r >> 1) * w2, odd = even + plane2
                var m = 0
                while m + 4 <= w2 {
                    let v = UnsafeRawPointer(src + 2 * m).loadUnaligned(as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(even + m).storeBytes(of: v.evenHalf, as: SIMD4<Float>.self)
                    UnsafeMutableRawPointer(odd + m).storeBytes(of: v.oddHalf, as: SIMD4<Float>.self)
                    m += 4
                }
                while m < w2 { even[m] = src[2 * m]; odd[m] = src[2 * m + 1]; m += 1 }
            }
        }
        var row = 0
        for c in 0..<g.channels {
            for i in 0..<g.kh {
                let ri = i - g.ph, rowPhase = ri & 1, offH = (ri - rowPhase) / 2
                for j in 0..<g.kw {
                    let rj = j - g.pw, colPhase = rj & 1, offW = (rj - colPhase) / 2
                    shiftedCopy(phases + ((c * 2 + rowPhase) * 2 + colPhase) * plane2, height: h2, width: w2, outHeight: h2,
                                offH: offH, offW: offW, into: col + row * ldc)
                    row += 1
                }
            }
        }
        return
    }
    let sameWidth = g.sw == 1 && g.sh == 1 && OW == W
    var row = 0
    for c in 0..<g.channels {
        let plane = x + c * H * W
        for i in 0..<g.kh {
            for j in 0..<g.kw {
                let dst = col + row * ldc
                if sameWidth {
                    shiftedCopy(plane, height: H, width: W, outHeight: OH, offH: i * g.dh - g.ph, offW: j * g.dw - g.pw, into: dst)
                    row += 1
                    continue
                }
                let (offW, owLo, owHi) = g.validColumns(tap: j)
                for oh in 0..<OH {
                    let ih = oh * g.sh - g.ph + i * g.dh
                    let d = dst + oh * OW
                    if ih < 0 || ih >= H {
                        d.update(repeating: 0, count: OW)
                        continue
                    }
                    let src = plane + ih * W + offW
                    if owLo > 0 { d.update(repeating: 0, count: owLo) }
                    if g.sw == 1 {
                        (d + owLo).update(from: src + owLo, count: owHi - owLo)
                    } else if g.sw == 2 {
                        // Every other input column: the even lanes of 8-wide loads, while a load
                        // stays inside the input row.
                        var ow = owLo
                        while ow + 4 <= owHi && offW + 2 * ow + 8 <= W {
                            UnsafeMutableRawPointer(d + ow).storeBytes(of: UnsafeRawPointer(src + 2 * ow).loadUnaligned(as: SIMD8<Float>.self).evenHalf,
                                                                       as: SIMD4<Float>.self)
                            ow += 4
                        }
                        while ow < owHi { d[ow] = src[2 * ow]; ow += 1 }
                    } else {
                        for ow in owLo..<owHi { d[ow] = src[ow * g.sw] }
                    }
                    if owHi < OW { (d + owHi).update(repeating: 0, count: OW - owHi) }
                }
                row += 1
            }
        }
    }
}

/// Folds columns back into an image, adding overlapping contributions: the adjoint of ``im2col``.
/// dx: [channels, height, width] contiguous, accumulated into (+=).
@inline(__always)
func col2im(_ col: UnsafePointer<Float>, ldc: Int, _ g: ConvGeometry, _ dx: UnsafeMutablePointer<Float>) {
    let H = g.height, W = g.width, OH = g.outH, OW = g.outW
    var row = 0
    for c in 0..<g.channels {
        let plane = dx + c * H * W
        for i in 0..<g.kh {
            for j in 0..<g.kw {
                let src = col + row * ldc
                let (offW, owLo, owHi) = g.validColumns(tap: j)
                for oh in 0..<OH {
                    let ih = oh * g.sh - g.ph + i * g.dh
                    if ih < 0 || ih >= H { continue }
                    let s = src + oh * OW
                    let d = plane + ih * W + offW
                    if g.sw == 1 {
                        for ow in owLo..<owHi { d[ow] += s[ow] }
                    } else if g.sw == 2 {
                        // Into every other column: 8-wide read-modify-writes adding (s, 0, s, 0, …),
                        // while they stay inside the row.
                        var ow = owLo
                        while ow + 4 <= owHi && offW + 2 * ow + 8 <= W {
                            let v = UnsafeRawPointer(s + ow).loadUnaligned(as: SIMD4<Float>.self)
                            let raw = UnsafeMutableRawPointer(d + 2 * ow)
                            let sum = raw.loadUnaligned(as: SIMD8<Float>.self) + SIMD8(v[0], 0, v[1], 0, v[2], 0, v[3], 0)
                            raw.storeBytes(of: sum, as: SIMD8<Float>.self)
                            ow += 4
                        }
                        while ow < owHi { d[2 * ow] += s[ow]; ow += 1 }
                    } else {
                        for ow in owLo..<owHi { d[ow * g.sw] += s[ow] }
                    }
                }
                row += 1
            }
        }
    }
}
