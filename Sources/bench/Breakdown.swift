import Foundation
import Tessera
import TesseraModels
import TesseraNN

// `bench --breakdown`: where a training step's time goes, per op class, from Tessera's
// Profiler (Sources/Tessera/Runtime/Profiler.swift): each op's time is taken at its entry and
// exit on the calling thread (its parallel parts inside), the outermost instrumented op only;
// the rest of the step's wall time — ops of no class (reshapes, slices, the zero-padding
// shortcut, scalar multiplications), autograd's ordering and bookkeeping, allocation — is the
// wall time minus the classes' sum.

/// The op classes in table order, with their labels.
let breakdownClasses: [(OpClass, String)] = [
    (.convForward, "convolution forward"),
    (.convInputGradient, "convolution input gradient"),
    (.convWeightGradient, "convolution weight gradient"),
    (.batchNormForward, "batch norm forward"),
    (.batchNormBackward, "batch norm backward"),
    (.activation, "activations (fwd + bwd)"),
    (.add, "add (fwd + bwd)"),
    (.pooling, "pooling (fwd + bwd)"),
    (.linear, "linear (fwd + bwd)"),
    (.loss, "loss (fwd + bwd)"),
    (.optimizer, "optimizer (zero_grad + step)"),
    (.gradientAccumulation, "gradient accumulation"),
]

/// A model's training step broken down by op class over `steps` profiled steps.
struct StepBreakdown {
    let model: String
    let batch: Int
    let warmup: Int
    /// The sum of the profiles of the timed steps.
    let total: Profile
    /// Wall time of each timed step, seconds.
    let stepSeconds: [Double]
    let flops: ModelFLOPs
    let peakGFLOPS: Double

    var steps: Int { stepSeconds.count }
    /// Mean wall time of a step, ms.
    var stepMs: Double { 1000 * total.wallSeconds / Double(steps) }
    func ms(_ c: OpClass) -> Double { 1000 * total[c] / Double(steps) }
    var restMs: Double { 1000 * total.restSeconds / Double(steps) }
    var imagesPerSecond: Double { Double(batch) * 1000 / stepMs }
    var gflops: Double { imagesPerSecond * flops.training / 1e9 }

    /// Runs `warmup` + `steps` training steps (zero_grad, forward, cross-entropy, backward, SGD
    /// with momentum 0.9 and weight decay 5e-4) of a zoo model on synthetic data, profiling each
    /// timed one. A model initialized from data (fastnet's whitening) is initialized from the batch.
    static func measure(model name: String, batch: Int, warmup: Int, steps: Int, peakGFLOPS: Double) -> StepBreakdown {
        let flops = zooModelFLOPs(name)
        GlobalRandom.seed(0)
        let model = zooModel(name)
        model.train()
        let optimizer = paperSGD(model)
        let (x, y) = syntheticBatch(batch, seed: 3)
        // fastnet's whitening filters come from the data and are then frozen, as in the recipe
        // (its weight gradient is never computed).
        if let m = model as? DataInitializedModel {
            do { try m.initialize(fromData: x) } catch { FileHandle.standardError.write(Data("bench: \(name): \(error)\n".utf8)) }
        }
        for _ in 0..<warmup { trainStep(model, optimizer, x, y) }
        var total = Profile()
        var walls: [Double] = []
        for _ in 0..<steps {
            let p = Profiler.measure { trainStep(model, optimizer, x, y) }.profile
            total = total + p
            walls.append(p.wallSeconds)
        }
        return StepBreakdown(model: name, batch: batch, warmup: warmup, total: total, stepSeconds: walls, flops: flops, peakGFLOPS: peakGFLOPS)
    }

    func printTable() {
        let wall = Measurement(samples: stepSeconds.map { $0 * 1000 })
        print("\(model) training step, N=\(batch), SGD (momentum 0.9, wd 5e-4): mean of \(steps) profiled steps after \(warmup) warm-up")
        func line(_ label: String, _ ms: Double, _ extra: String) {
            print("  " + label.padding(toLength: 42, withPad: " ", startingAt: 0)
                  + String(format: "%9.1f  %6.1f%%", ms, 100 * ms / stepMs) + extra)
        }
        print("  " + "op class".padding(toLength: 42, withPad: " ", startingAt: 0) + "  ms/step  of step  calls/step")
        for (c, label) in breakdownClasses {
            line(label, ms(c), String(format: "  %10.0f", Double(total.calls(c)) / Double(steps)))
        }
        line("rest (untimed ops, autograd, allocation)", restMs, "")
        line("step (wall)", stepMs, String(format: "   median %.1f ms, spread %.0f%%", wall.median, 100 * wall.spread))
        print(String(format: "  %.0f images/s; %.3f GFLOP per image (3× the forward's %.4f): %.1f GFLOPS, %.1f%% of the %.0f GFLOPS FMA peak",
                     imagesPerSecond, flops.training / 1e9, flops.forward / 1e9, gflops, 100 * gflops / peakGFLOPS, peakGFLOPS))
    }

    var json: [String: Any] {
        var classes: [String: Any] = [:]
        for (c, _) in breakdownClasses {
            classes[c.description] = ["ms": ms(c), "percent": 100 * ms(c) / stepMs, "calls_per_step": Double(total.calls(c)) / Double(steps)]
        }
        let wall = Measurement(samples: stepSeconds.map { $0 * 1000 })
        return ["model": model, "batch": batch, "warmup": warmup, "steps": steps, "optimizer": "SGD momentum 0.9, weight decay 5e-4",
                "step_ms": stepMs, "step_ms_median": wall.median, "step_spread": wall.spread,
                "rest_ms": restMs, "rest_percent": 100 * restMs / stepMs, "classes": classes,
                "images_per_s": imagesPerSecond, "flop_per_image": flops.training, "forward_flop_per_image": flops.forward,
                "gflops": gflops, "percent_of_peak": 100 * gflops / peakGFLOPS]
    }
}

/// `bench --breakdown`: ResNet-20 at batch 128 (bench's training workload) and fastnet at batch
/// 1024 (the fast recipe's), each model whose name contains `filter` when given; then the
/// memory-bound kernels alone. With `json`, the tables and the machine go there too.
func runBreakdown(warmup: Int, repeats: Int, json: String?, filter: String?) throws {
    let peak = PeakInfo.measure(threads: Runtime.threads)
    let machine = MachineInfo.current(threads: Runtime.threads, peak: peak, reference: nil)
    for line in machine.lines.dropLast() { print(line) }   // no reference here
    var results: [StepBreakdown] = []
    for (name, batch) in [("resnet20", 128), ("fastnet", 1024)] where filter.map({ name.contains($0) }) ?? true {
        let r = StepBreakdown.measure(model: name, batch: batch, warmup: warmup, steps: repeats, peakGFLOPS: peak.gflops)
        r.printTable()
        results.append(r)
    }
    if filter == nil { printKernelTimes(warmup: warmup, repeats: repeats) }
    if let json {
        let machineObject = try JSONSerialization.jsonObject(with: JSONEncoder().encode(machine))
        try writeJSONObject(["machine": machineObject, "breakdown": results.map(\.json)], to: json)
    }
}

/// Batch norm, ReLU and addition alone on the largest ResNet-20 activation, no grad.
func printKernelTimes(warmup: Int, repeats: Int) {
    let shape = [128, 16, 32, 32], mib = Double(128 * 16 * 32 * 32 * 4) / 1_048_576
    var gen = SeededGenerator(seed: 8)
    let u1 = Tensor.randn(shape, generator: &gen), u2 = Tensor.randn(shape, generator: &gen)
    let gamma = Tensor.ones([16]), beta = Tensor.zeros([16]), mean = Tensor.zeros([16]), variance = Tensor.ones([16])
    print("Kernels on one [128, 16, 32, 32] activation (\(Int(mib)) MiB), no grad; GB/s counts one read per input and one write:")
    let kernels: [(String, Double, () -> Void)] = [
        ("batchNorm (training)", 2, { _ = u1.batchNorm(runningMean: mean, runningVar: variance, weight: gamma, bias: beta, training: true) }),
        ("batchNorm (eval)", 2, { _ = u1.batchNorm(runningMean: mean, runningVar: variance, weight: gamma, bias: beta, training: false) }),
        ("relu", 2, { _ = u1.relu() }),
        ("add", 3, { _ = u1 + u2 }),
    ]
    withNoGrad {
        for (name, tensors, body) in kernels {
            let m = Measurement(samples: timed(warmup, repeats, figure: { $0 }, body))
            print("  " + name.padding(toLength: 42, withPad: " ", startingAt: 0)
                  + String(format: "%9.2f ms  (%5.1f GB/s, spread %.0f%%)", m.median * 1000,
                           tensors * mib * 1_048_576 / m.median / 1e9, 100 * m.spread))
        }
    }
}
