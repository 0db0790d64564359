import Tessera
import TesseraNN

/// Test-time augmentation: the logits of a batch averaged over transformed copies of it.
public enum TestTimeAugmentation: Int, CaseIterable, Sendable {
    /// The images as they are.
    case none = 0
    /// The mean of the logits of the images and of their mirror images.
    case flip = 1
    /// Half the flip mean of the images, plus half the mean of the flip means of the images
    /// translated one pixel up-left and one pixel down-right (reflect padding): six views.
    case flipTranslate = 2

    /// The model's logits [N, classes] for `images` [N, C, H, W] under this augmentation
    /// (call it in evaluation mode, inside `withNoGrad`).
    public func logits(of model: Module, _ images: Tensor) -> Tensor {
        func mirrored(_ x: Tensor) -> Tensor { (model(x) + model(x.flippedHorizontally())) * 0.5 }
        switch self {
        case .none: return model(images)
        case .flip: return mirrored(images)
        case .flipTranslate:
            let shifted = (mirrored(images.translatedReflecting(dy: -1, dx: -1)) + mirrored(images.translatedReflecting(dy: 1, dx: 1))) * 0.5
            return (mirrored(images) + shifted) * 0.5
        }
    }
}

extension Tensor {
    /// The images [N, C, H, W] mirrored left to right.
    public func flippedHorizontally() -> Tensor {
        precondition(rank == 4, "flippedHorizontally: expects images [N, C, H, W], got \(shape)")
        let c = contiguous()
        let w = shape[3], rows = count / Swift.max(w, 1)
        return Tensor(shape: shape) { out in
            c.withUnsafeBufferPointer { src in
                for r in 0..<rows { for x in 0..<w { out[r * w + x] = src[r * w + w - 1 - x] } }
            }
        }
    }

    /// The images [N, C, H, W] moved by (`dy`, `dx`) pixels (output pixel (y, x) is input pixel
    /// (y + dy, x + dx)), the uncovered border filled by reflection as with reflect padding:
    /// `F.pad(x, (1, 1, 1, 1), mode: "reflect")[:, :, 1 + dy:, 1 + dx:]` cropped to H×W for |d| ≤ 1.
    public func translatedReflecting(dy: Int, dx: Int) -> Tensor {
        precondition(rank == 4 && Swift.abs(dy) < shape[2] && Swift.abs(dx) < shape[3],
                     "translatedReflecting: expects images [N, C, H, W] larger than the shift (\(dy), \(dx)), got \(shape)")
        let c = contiguous()
        let h = shape[2], w = shape[3], planes = count / Swift.max(h * w, 1)
        func reflect(_ i: Int, _ n: Int) -> Int { i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i) }
        let xs = (0..<w).map { reflect($0 + dx, w) }
        return Tensor(shape: shape) { out in
            c.withUnsafeBufferPointer { src in
                for p in 0..<planes {
                    for y in 0..<h {
                        let srcRow = src.baseAddress! + (p * h + reflect(y + dy, h)) * w
                        let dstRow = out.baseAddress! + (p * h + y) * w
                        for x in 0..<w { dstRow[x] = srcRow[xs[x]] }
                    }
                }
            }
        }
    }
}
