// Subclasses TesseraNN's Optimizer from another package: sign-SGD with a decaying step, written
// with public Tensor ops only. Trains y = 3x₁ − 2x₂ + 1 with a two-layer model of typed
// properties and exits non-zero unless both the loss and the state-dict names are as expected.
import Foundation
import Tessera
import TesseraNN

/// p ← p − lr · sign(g), with the step count kept in the optimizer's per-parameter state.
final class SignSGD: Optimizer {
    override func update(_ u: inout ParameterUpdate) {
        let g = u.gradient
        let sign = (g .> Tensor(scalar: 0)) - (g .< Tensor(scalar: 0))
        let decay = 1 / Float(u.state.step).squareRoot()
        u.parameter.assign(u.parameter - sign * (u.lr * decay))
    }
}

/// A small model declared the way Tessera's own are: typed children, PyTorch names.
final class Regressor: Module {
    @Child var hidden = Linear(2, 8)
    @Child var activation: Module = Tanh()
    @Child var output = Linear(8, 1)

    override func forward(_ x: Tensor) -> Tensor { output(activation(hidden(x))) }
}

GlobalRandom.seed(7)
let model = Regressor()
let names = model.stateDict().keys
guard names == ["hidden.weight", "hidden.bias", "output.weight", "output.bias"] else {
    print("CustomOptimizer: FAILED: unexpected state-dict names \(names)")
    exit(1)
}
var gen = SeededGenerator(seed: 1)
let x = Tensor.randn([64, 2], generator: &gen)
let target = (x.slice(axis: 1, 0, 1) * 3 - x.slice(axis: 1, 1, 2) * 2) + 1
let optimizer = SignSGD(model, lr: 0.05)
let first = withNoGrad { mseLoss(model(x), target).item() }
for _ in 0..<300 {
    optimizer.zeroGrad()
    mseLoss(model(x), target).backward()
    optimizer.step()
}
let last = withNoGrad { mseLoss(model(x), target).item() }
print(String(format: "CustomOptimizer: loss %.4f -> %.4f after 300 sign-SGD steps", first, last))
guard last < first / 10, optimizer.state["output.bias"]?.step == 300 else {
    print("CustomOptimizer: FAILED: the loss did not fall tenfold, or the state did not count the steps")
    exit(1)
}
print("CustomOptimizer: OK")
