import Foundation
import Tessera
import TesseraModels
import TesseraNN
import TesseraVision

// Whole-model workloads: training steps, evaluation, batch-1 latency, the MLP with Adam, the
// CIFAR-10 loader and the peak memory of a training run. Each has a twin of the same name in
// scripts/reference_models.py. Models are built inside the workload's closure, so workloads
// left out by --filter cost nothing.

/// Forward passes averaged into one latency sample (both sides use the same count).
let latencyPassesPerSample = 20
/// MLP training steps timed as one sample (a step takes a few milliseconds, so one step per
/// sample left the median at the mercy of the scheduler: spreads of 30–40% on both sides).
let mlpStepsPerSample = 10
/// Loader batches per throughput sample (both sides use the same count).
let loaderBatchesPerSample = 20

/// Builds a registered model; the names used here are fixed, so failure is a programming error.
func zooModel(_ name: String) -> ClassifierModel {
    do { return try ModelZoo.make(name) } catch { fatalError("bench: \(error)") }
}

/// Synthetic CIFAR-shaped data: N(0, 1) images [n, 3, 32, 32] (or [n, features] when
/// `features` is given) and uniformly random labels in 0..<classes, as Float class indices.
func syntheticBatch(_ n: Int, features: Int? = nil, classes: Int = 10, seed: UInt64) -> (images: Tensor, labels: Tensor) {
    var gen = SeededGenerator(seed: seed)
    let x = Tensor.randn(features.map { [n, $0] } ?? [n, 3, 32, 32], generator: &gen)
    let labels = (0..<n).map { _ in Float(min(classes - 1, Int(gen.nextUniform() * Float(classes)))) }
    return (x, Tensor(labels, shape: [n]))
}

/// One training step as a user writes it: clear the gradients, forward, cross-entropy,
/// backward, optimizer update.
@inline(never)
func trainStep(_ model: Module, _ optimizer: Optimizer, _ x: Tensor, _ y: Tensor) {
    optimizer.zeroGrad()
    let loss = crossEntropy(model(x), y)
    loss.backward()
    optimizer.step()
}

/// SGD as in the CIFAR ResNet papers: momentum 0.9, weight decay 5e-4.
func paperSGD(_ model: Module) -> SGD { SGD(model, lr: 0.1, momentum: 0.9, weightDecay: 5e-4) }

/// A full training step of a zoo model at `batch`, in images per second.
func trainWorkload(model name: String, batch: Int) -> Workload {
    Workload(name: "\(name)_train_b\(batch)", unit: "images/s", higherIsBetter: true,
             detail: "\(name) fwd+CE+bwd+SGD(m 0.9, wd 5e-4), N=\(batch) 3×32²",
             flopsPerItem: { zooModelFLOPs(name).training }) { warmup, repeats in
        GlobalRandom.seed(0)
        let model = zooModel(name)
        model.train()
        let optimizer = paperSGD(model)
        let (x, y) = syntheticBatch(batch, seed: 3)
        return timed(warmup, repeats, figure: { Double(batch) / $0 }) { trainStep(model, optimizer, x, y) }
    }
}

/// Evaluation-mode forward passes of ResNet-20 without gradients: throughput at batch 128 and
/// latency at batch 1.
func evalWorkloads() -> [Workload] {
    let throughput = Workload(name: "resnet20_eval_b128", unit: "images/s", higherIsBetter: true,
                              detail: "resnet20 eval mode, no grad, N=128",
                              flopsPerItem: { zooModelFLOPs("resnet20").forward }) { warmup, repeats in
        GlobalRandom.seed(0)
        let model = zooModel("resnet20")
        model.eval()
        let x = syntheticBatch(128, seed: 4).images
        return withNoGrad { timed(warmup, repeats, figure: { 128 / $0 }) { _ = model(x) } }
    }
    let latency = Workload(name: "resnet20_latency_b1", unit: "ms", higherIsBetter: false,
                           detail: "resnet20 eval mode, no grad, N=1 (mean of \(latencyPassesPerSample) passes)",
                           flopsPerItem: { zooModelFLOPs("resnet20").forward }) { warmup, repeats in
        GlobalRandom.seed(0)
        let model = zooModel("resnet20")
        model.eval()
        let x = syntheticBatch(1, seed: 5).images
        return withNoGrad {
            timed(warmup, repeats, figure: { $0 * 1000 / Double(latencyPassesPerSample) }) {
                for _ in 0..<latencyPassesPerSample { _ = model(x) }
            }
        }
    }
    return [throughput, latency]
}

/// A training step of the MLP 784-512-256-10 (ReLU) at batch 128 with Adam (lr 1e-3).
func mlpWorkload() -> Workload {
    Workload(name: "mlp_train_b128", unit: "images/s", higherIsBetter: true,
             detail: "MLP 784-512-256-10 ReLU, fwd+CE+bwd+Adam, N=128 (\(mlpStepsPerSample) steps per sample)",
             flopsPerItem: { ModelFLOPs(MLP(widths: [784, 512, 256, 10]), inputShape: [784]).training }) { warmup, repeats in
        GlobalRandom.seed(0)
        let model = MLP(widths: [784, 512, 256, 10])
        let optimizer = Adam(model, lr: 1e-3)
        let (x, y) = syntheticBatch(128, features: 784, seed: 6)
        return timed(warmup, repeats, figure: { Double(128 * mlpStepsPerSample) / $0 }) {
            for _ in 0..<mlpStepsPerSample { trainStep(model, optimizer, x, y) }
        }
    }
}

/// Where the CIFAR-10 binary files are: `TESSERA_DATA` when set, else `../shared/data`
/// relative to the working directory (the repository root). Nil when no training file is there.
func cifarDataRoot() -> String? {
    let root = ProcessInfo.processInfo.environment["TESSERA_DATA"] ?? "../shared/data"
    let fm = FileManager.default
    for dir in [root, root + "/cifar-10-batches-bin"] where fm.fileExists(atPath: dir + "/data_batch_1.bin") {
        return dir
    }
    return nil
}

/// The CIFAR-10 training loader with random crop (padding 4), horizontal flip and
/// normalization at batch 128, shuffled, prepared on the calling thread (prefetch 0, like the
/// single-process reference). Nil, with a note, when the data is absent.
func loaderWorkload() -> (Workload?, String?) {
    guard let root = cifarDataRoot() else {
        let where_ = ProcessInfo.processInfo.environment["TESSERA_DATA"] ?? "../shared/data"
        return (nil, "cifar10_loader_b128 skipped: no CIFAR-10 binary files (data_batch_1.bin …) under \(where_); set TESSERA_DATA")
    }
    let w = Workload(name: "cifar10_loader_b128", unit: "images/s", higherIsBetter: true,
                     detail: "train split, shuffle, crop 32 pad 4 + flip + normalize, N=128, 1 thread") { warmup, repeats in
        let dataset: CIFAR10
        do { dataset = try CIFAR10(root: root, split: .train) } catch {
            FileHandle.standardError.write(Data("bench: cifar10_loader_b128: \(error)\n".utf8))
            return []
        }
        let transform = Compose([RandomCrop(size: 32, padding: 4), RandomHorizontalFlip(), Normalize.cifar10])
        let loader = DataLoader(dataset: dataset, batchSize: 128, shuffle: true, seed: 7, transform: transform, prefetch: 0)
        var samples: [Double] = []
        for i in 0..<(warmup + repeats) {
            guard let t = try? loader.measureThroughput(epoch: i, maxBatches: loaderBatchesPerSample) else { return [] }
            if i >= warmup { samples.append(t.imagesPerSecond) }
        }
        return samples
    }
    return (w, nil)
}

// MARK: - Peak resident memory

/// The child side of the peak-memory workload (`bench --peak-rss-child STEPS`): prints the peak
/// resident set before the model is built (runtime and libraries) and after `steps` ResNet-20
/// training steps at batch 128.
func peakRSSChild(steps: Int) {
    let baseline = peakResidentMiB()
    GlobalRandom.seed(0)
    let model = zooModel("resnet20")
    model.train()
    let optimizer = paperSGD(model)
    let (x, y) = syntheticBatch(128, seed: 3)
    for _ in 0..<steps { trainStep(model, optimizer, x, y) }
    print("baseline_mib \(baseline)")
    print("peak_mib \(peakResidentMiB())")
}

/// Runs fresh child processes of this executable, each measuring its own peak memory, and
/// keeps their figures for the two rows that report them.
final class PeakRSSProbe {
    let threads: Int
    let steps: Int
    private var runs: [(baseline: Double, peak: Double)]?

    init(threads: Int, steps: Int) {
        self.threads = threads
        self.steps = steps
    }

    /// The figures of `children` child runs (run once, then reused).
    func results(children: Int) -> [(baseline: Double, peak: Double)] {
        if let runs { return runs }
        let r = (0..<children).compactMap { _ in runChild() }
        runs = r
        return r
    }

    private func runChild() -> (baseline: Double, peak: Double)? {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: FileManager.default.fileExists(atPath: exe) ? exe : CommandLine.arguments[0])
        p.arguments = ["--peak-rss-child", String(steps), "--threads", String(threads)]
        let pipe = Pipe()
        p.standardOutput = pipe
        do { try p.run() } catch {
            FileHandle.standardError.write(Data("bench: could not start the peak-memory child: \(error)\n".utf8))
            return nil
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        var values: [String: Double] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let v = Double(parts[1]) { values[String(parts[0])] = v }
        }
        guard p.terminationStatus == 0, let b = values["baseline_mib"], let pk = values["peak_mib"] else {
            FileHandle.standardError.write(Data("bench: the peak-memory child failed (exit \(p.terminationStatus))\n".utf8))
            return nil
        }
        return (b, pk)
    }
}

/// Peak RSS of a ResNet-20 training run at batch 128, and the process's own baseline (before
/// any model exists), each measured in fresh child processes: `repeats` children (at most 3).
func memoryWorkloads(threads: Int, quick: Bool) -> [Workload] {
    let steps = quick ? 2 : 3
    let probe = PeakRSSProbe(threads: threads, steps: steps)
    let peak = Workload(name: "peak_rss_resnet20_train_b128", unit: "MiB", higherIsBetter: false,
                        detail: "peak RSS of a fresh process, \(steps) ResNet-20 training steps at N=128") { _, repeats in
        probe.results(children: min(repeats, 3)).map(\.peak)
    }
    let baseline = Workload(name: "peak_rss_baseline", unit: "MiB", higherIsBetter: false,
                            detail: "peak RSS of that process before the model is built (runtime, libraries; torch import)") { _, repeats in
        probe.results(children: min(repeats, 3)).map(\.baseline)
    }
    return [peak, baseline]
}

/// Every whole-model workload, in table order, with notes on any that cannot run here.
func modelWorkloads(threads: Int, quick: Bool) -> (workloads: [Workload], notes: [String]) {
    var w = [trainWorkload(model: "resnet20", batch: 128), trainWorkload(model: "resnet56", batch: 128),
             trainWorkload(model: "resnet18_cifar", batch: 64)]
    w += evalWorkloads()
    w.append(mlpWorkload())
    var notes: [String] = []
    let (loader, note) = loaderWorkload()
    if let loader { w.append(loader) }
    if let note { notes.append(note) }
    w += memoryWorkloads(threads: threads, quick: quick)
    return (w, notes)
}
