/// Geometry of one 2-D convolution or pooling window sweep.
struct ConvGeometry: Sendable, Equatable {
    let channels: Int, height: Int, width: Int
    let kh: Int, kw: Int, sh: Int, sw: Int, ph: Int, pw: Int, dh: Int, dw: Int
    let outH: Int, outW: Int

    init(channels: Int, height: Int, width: Int, kernel: Size2, stride: Size2, padding: Size2, dilation: Size2, op: String, ceilMode: Bool = false) {
        precondition(kernel.h > 0 && kernel.w > 0 && stride.h > 0 && stride.w > 0 && dilation.h > 0 && dilation.w > 0 && padding.h >= 0 && padding.w >= 0,
                     "\(op): kernel \(kernel), stride \(stride) and dilation \(dilation) must be positive and padding \(padding) non-negative")
        self.channels = channels; self.height = height; self.width = width
        kh = kernel.h; kw = kernel.w; sh = stride.h; sw = stride.w; ph = padding.h; pw = padding.w; dh = dilation.h; dw = dilation.w
        let spanH = height + 2 * ph - dh * (kh - 1) - 1, spanW = width + 2 * pw - dw * (kw - 1) - 1
        precondition(spanH >= 0 && spanW >= 0,
                     "\(op): kernel \(kernel) with dilation \(dilation) does not fit input \(height)×\(width) padded by \(padding)")
        if ceilMode {
            var oh = (spanH + sh - 1) / sh + 1, ow = (spanW + sw - 1) / sw + 1
            // The last window must start inside the input or the left padding (PyTorch's rule).
            if (oh - 1) * sh >= height + ph { oh -= 1 }
            if (ow - 1) * sw >= width + pw { ow -= 1 }
            outH = oh; outW = ow
        } else {
            outH = spanH / sh + 1; outW = spanW / sw + 1
        }
    }

    /// Rows of the column matrix: channels · kh · kw.
    var patch: Int { channels * kh * kw }
    /// Columns per image: outH · outW.
    var positions: Int { outH * outW }
    var isPointwise: Bool { kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 }
    /// Stride 2 (undilated) over an even-sized image with an output of half its size, as the
    /// downsampling 3×3 convolutions of a ResNet: im2col then reads four phase planes (see
    /// ``im2col(_:_:_:ldc:phases:)``).
    var usesPhasePlanes: Bool {
        sh == 2 && sw == 2 && dh == 1 && dw == 1 && height % 2 == 0 && width % 2 == 0
            && outH == height / 2 && outW == width / 2 && (kh > 1 || kw > 1)   // a 1×1 kernel reads one phase only
    }

    /// For kernel column `j`: the input column offset of output column 0, and the output columns
    /// `lo..<hi` whose input column falls inside the image (the rest read padding).
    @inline(__always)
    func validColumns(tap j: Int) -> (offset: Int, lo: Int, hi: Int) {
        let off = j * dw - pw
        let lo = off >= 0 ? 0 : Swift.min(outW, (-off + sw - 1) / sw)
        let hi = Swift.max(lo, Swift.min(outW, (width - off + sw - 1) / sw))
        return (off, lo, hi)
    }
}
