import CTesseraKernels

// im2col / col2im and the phase-plane split of stride-2 convolutions: the loops are C kernels
// (tk_im2col, tk_col2im); these wrappers hand them the geometry.
//
// Stride 1 with the output as wide as the input: every kernel tap is one shifted copy of the
// plane. Stride 2 over an even image is brought to the same case: the input is split once into
// its four phase planes (even/odd rows × even/odd columns, each [H/2, W/2], the output's size),
// and input row 2·oh − ph + i is row oh + ⌊(i − ph)/2⌋ of the phase (i − ph) mod 2.

extension ConvGeometry {
    /// The geometry as the C kernels take it.
    var kernelGeometry: tk_conv_geometry {
        tk_conv_geometry(channels: channels, height: height, width: width, kh: kh, kw: kw, sh: sh, sw: sw, ph: ph, pw: pw,
                         dh: dh, dw: dw, out_h: outH, out_w: outW, uses_phase_planes: usesPhasePlanes ? 1 : 0)
    }
}

/// Unfolds one image's channels into columns: col[(c·kh + i)·kw + j, oh·outW + ow] =
/// x[c, oh·sh − ph + i·dh, ow·sw − pw + j·dw] (0 outside), overwritten; `ldc` is the row stride of
/// col. x: [channels, height, width] contiguous. `phases`: scratch of channels·height·width floats,
/// used when ``ConvGeometry/usesPhasePlanes``.
@inline(__always)
func im2col(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ col: UnsafeMutablePointer<Float>, ldc: Int,
            phases: UnsafeMutablePointer<Float>? = nil) {
    var geometry = g.kernelGeometry
    tk_im2col(x, &geometry, col, ldc, phases)
}

/// Folds columns back into an image, adding overlapping contributions: the adjoint of ``im2col``.
/// dx: [channels, height, width] contiguous, accumulated into (+=).
@inline(__always)
func col2im(_ col: UnsafePointer<Float>, ldc: Int, _ g: ConvGeometry, _ dx: UnsafeMutablePointer<Float>) {
    var geometry = g.kernelGeometry
    tk_col2im(col, ldc, &geometry, dx)
}
