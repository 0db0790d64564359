import Foundation
import XCTest
import TesseraTestSupport
import Tessera
@testable import TesseraNN
@testable import TesseraModels

/// Full-size resnet18 interop in both directions, through a live PyTorch. Runs only where
/// `python3 -c "import torch, safetensors"` works; skipped (visibly) elsewhere. The committed
/// tiny-ResNet fixtures (ModelTests) cover the PyTorch → Tessera direction without PyTorch.
final class TorchInteropTests: XCTestCase {
    private func requireTorch() throws {
        try Python.require("torch, safetensors", for: "the live resnet18 interop check")
    }

    private var script: String { JSONFixture.url("torch_models.py", in: .module).path }

    /// Gives batch-norm layers non-trivial statistics so that eval-mode logits depend on every buffer.
    private func randomizeBatchNorm(_ model: Module, generator g: inout SeededGenerator) {
        withNoGrad {
            for (_, m) in model.namedModules() {
                guard let bn = m as? BatchNorm, let w = bn.weight, let b = bn.bias,
                      let rm = bn.runningMean, let rv = bn.runningVar else { continue }
                let c = bn.numFeatures
                w.assign(Tensor.randn([c], mean: 1, std: 0.2, generator: &g))
                b.assign(Tensor.randn([c], std: 0.1, generator: &g))
                rm.assign(Tensor.randn([c], std: 0.1, generator: &g))
                rv.assign(Tensor.rand([c], low: 0.5, high: 1.5, generator: &g))
                bn.numBatchesTracked?.assign(Tensor(scalar: 17))
            }
        }
    }

    func testTesseraResNet18CheckpointGivesTheSameLogitsInPyTorch() throws {
        try requireTorch()
        let dir = try TestPaths.temporaryDirectory(self)
        GlobalRandom.seed(2024)
        var g = SeededGenerator(seed: 2024)
        let model = resnet18(classes: 10)
        randomizeBatchNorm(model, generator: &g)
        model.eval()
        let x = Tensor.randn([2, 3, 32, 32], generator: &g)
        let logits = withNoGrad { model(x) }
        let weights = dir.appendingPathComponent("resnet18.safetensors"), input = dir.appendingPathComponent("input.safetensors")
        try model.save(to: weights)
        var inputDict = StateDict()
        inputDict.set("input", x)
        try Safetensors.save(inputDict, to: input)

        let r = try Python.run([script, "logits", "resnet18", "10", "0", weights.path, input.path])
        XCTAssertEqual(r.status, 0, r.error)
        guard r.status == 0, let obj = try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any] else {
            return XCTFail("no JSON from PyTorch: \(r.output) \(r.error)")
        }
        let torchLogits = (obj["logits"] as! [NSNumber]).map(\.floatValue)
        XCTAssertEqual((obj["shape"] as! [NSNumber]).map(\.intValue), [2, 10])
        TensorCheck.close(logits.scalars, torchLogits, rtol: 1e-4, atol: 1e-5, "Tessera → PyTorch (\(obj["impl"] ?? "?")) resnet18 logits")
    }

    func testPyTorchResNet18CheckpointGivesTheSameLogitsInTessera() throws {
        try requireTorch()
        let dir = try TestPaths.temporaryDirectory(self)
        let weights = dir.appendingPathComponent("torch.safetensors"), expected = dir.appendingPathComponent("torch.json")
        let r = try Python.run([script, "export", "resnet18", "10", "0", "7", weights.path, expected.path])
        XCTAssertEqual(r.status, 0, r.error)
        guard r.status == 0 else { return }
        let model = withSkippedInitialization { resnet18(classes: 10) }
        try model.load(from: weights)          // strict: every torchvision key matches
        model.eval()
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: expected)) as! [String: Any]
        let logits = withNoGrad { model(JSONFixture.tensor(obj["input"])) }
        TensorCheck.close(logits, JSONFixture.tensor(obj["logits"]), rtol: 1e-4, atol: 1e-5, "PyTorch → Tessera resnet18 logits")
    }
}
