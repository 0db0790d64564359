import Tessera
import TesseraNN

// FLOP counts of models, from the model itself: one evaluation-mode forward of a single image
// records every layer's shapes, then each Conv2d and Linear is counted. Multiply–adds count as
// two FLOPs; batch norm, activations, pooling and the rest are not counted (memory-bound, a few
// per cent of the arithmetic), as in the usual GFLOP figures of these models.

/// Floating-point operations of `model` per image.
struct ModelFLOPs {
    /// One forward pass: 2·(Cin/groups)·Cout·kh·kw·Hout·Wout per convolution, 2·in·out per
    /// row of a linear layer.
    let forward: Double
    /// A training step: forward, input gradient and weight gradient, each as costly as the
    /// forward — 3× (the stem's input gradient, which is never computed, included, as usual).
    var training: Double { 3 * forward }

    /// Counts `model` for one input of `inputShape` (without the batch dimension, e.g. [3, 32, 32]).
    /// The model runs one forward in evaluation mode without gradients and is put back in the
    /// mode it was in (evaluation mode leaves batch-norm statistics alone).
    init(_ model: Module, inputShape: [Int]) {
        let wasTraining = model.isTraining
        model.eval()
        withNoGrad { _ = model(Tensor.zeros([1] + inputShape)) }
        model.train(wasTraining)
        var total = 0.0
        for (_, m) in model.namedModules() {
            if let conv = m as? Conv2d {
                guard let s = conv.lastInputShape, s.count == 4 else { continue }
                let (oh, ow) = (Self.outputSide(s[2], conv.kernelSize.h, conv.stride.h, conv.padding.h, conv.dilation.h),
                                Self.outputSide(s[3], conv.kernelSize.w, conv.stride.w, conv.padding.w, conv.dilation.w))
                let perOutput = 2 * Double(conv.inChannels / conv.groups * conv.kernelSize.h * conv.kernelSize.w)
                total += perOutput * Double(conv.outChannels * oh * ow)   // the batch is the one image
            } else if let fc = m as? Linear, let out = m.lastOutputShape {
                let rows = out.reduce(1, *) / fc.outFeatures
                total += 2 * Double(fc.inFeatures * fc.outFeatures * rows)
            }
        }
        forward = total
    }

    /// Output size of a convolution along one axis.
    static func outputSide(_ input: Int, _ kernel: Int, _ stride: Int, _ padding: Int, _ dilation: Int) -> Int {
        (input + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
    }
}

/// Builds a fresh zoo model and counts its FLOPs per 3×32×32 image.
func zooModelFLOPs(_ name: String) -> ModelFLOPs {
    GlobalRandom.seed(0)
    return ModelFLOPs(zooModel(name), inputShape: [3, 32, 32])
}
