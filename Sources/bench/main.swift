import ArgumentParser
import Foundation
import Tessera

/// `swift run -c release bench`: Tessera beside the PyTorch reference on the same work.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Tessera beside the reference (scripts/reference_bench.py: PyTorch in NCHW and channels_last, ONNX Runtime for inference) on the same workloads.")

    @Option(help: "Write every figure and the machine description as JSON to this file.")
    var json: String?

    @Option(help: "Run only the workloads whose name contains this text (e.g. conv, sgemm, train, eval, loader, peak_rss).")
    var filter: String?

    @Option(help: "Threads for OpenBLAS here and torch.set_num_threads in the reference.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Fewer sizes and repeats: a quick look, not a figure to publish.")
    var quick = false

    @Flag(help: "Skip the PyTorch reference.")
    var noReference = false

    @Option(help: "Python interpreter that runs the reference.")
    var python = "python3"

    @Flag(help: "Only break down a training step of ResNet-20 (N=128) and fastnet (N=1024) by op class (convolution passes, batch norm, activations, add, pooling, linear, loss, optimizer, the rest); with --json, write the tables there too.")
    var breakdown = false

    @Flag(help: "Only time each ResNet-20 convolution's forward under every algorithm that can run it (im2col, Winograd with 2×2 and 4×4 tiles, direct), taking turns in one process, at batches 1, 2, 8 and 128 (--quick: 1 and 128), then the stride-1 ones' weight gradient at batch 128, beside the algorithm the plan picks.")
    var convAlgorithms = false

    @Flag(help: "Data-parallel training beside one process, under mpirun with 2 or more ranks (scripts/bench-distributed.sh); --quick and --filter apply, --json writes the figures.")
    var distributed = false

    /// Internal: the child process of the peak-memory workload, running this many training steps.
    @Option(help: .hidden)
    var peakRssChild: Int?

    mutating func run() throws {
        if distributed { return try runDistributedBench(quick: quick, filter: filter, json: json) }
        Runtime.threads = threads
        if let steps = peakRssChild { return peakRSSChild(steps: steps) }
        let (warmup, repeats) = quick ? (1, 3) : (2, 7)
        if breakdown { return try runBreakdown(warmup: warmup, repeats: repeats, json: json, filter: filter) }
        if convAlgorithms { return runConvAlgorithms(quick: quick) }
        // The peak first, on an idle process: every GFLOPS figure is also shown as a share of it.
        let peak = PeakInfo.measure(threads: threads)
        let models = modelWorkloads(threads: threads, quick: quick)
        var workloads = gemmWorkloads(quick: quick) + elementwiseWorkloads() + convWorkloads(batch: 128) + convLatencyWorkloads() + models.workloads
        if let filter { workloads = workloads.filter { $0.name.contains(filter) } }
        guard !workloads.isEmpty else { throw ValidationError("no workload matches --filter \(filter ?? "")") }

        // The reference runs just before Tessera on each group of workloads (one shape, one model),
        // not all at once: this VM's speed drifts by 10–20% over minutes, and measuring all of one
        // side and then all of the other turned that drift into the ratios.
        let runner = noReference ? nil : ReferenceRunner(python: python, threads: threads, quick: quick)
        var referenceWorks = runner != nil
        var machine: MachineInfo?
        var torchVersion: String?, onnxruntimeVersion: String?
        var rows: [ResultRow] = []
        let table = Table()
        for group in interleavingGroups(workloads) {
            var reference: ReferenceResults?
            if referenceWorks, let runner {
                reference = runner.run(names: group.map(\.name))
                torchVersion = torchVersion ?? reference?.torchVersion
                onnxruntimeVersion = onnxruntimeVersion ?? reference?.onnxruntimeVersion
                // Without torch (or the script) every later call would fail the same way; a workload
                // that fails does not stop the others.
                if reference?.unavailable == true { referenceWorks = false }
            }
            if machine == nil {
                let info = MachineInfo.current(threads: threads, peak: peak, reference: reference)
                for line in info.lines { print(line) }
                if let note = reference?.onnxruntimeNote { print("reference: " + note) }
                if let note = reference?.note { print(note) }
                for note in models.notes where filter.map({ note.contains($0) }) ?? true { print(note) }
                table.printHeader()
                machine = info
            } else if let note = reference?.note {
                print(note)
            }
            for w in group {
                let m = Measurement(samples: w.run(warmup, repeats))
                let row = ResultRow(workload: w, tessera: m, reference: reference?.figures[w.name], peakGFLOPS: peak.gflops)
                table.print(row)
                rows.append(row)
            }
        }
        if let json, var machine {
            // The torch version from whichever group's reference ran, if the first one failed.
            machine.torchVersion = machine.torchVersion ?? torchVersion
            machine.onnxruntimeVersion = machine.onnxruntimeVersion ?? onnxruntimeVersion
            try writeJSON(rows: rows, machine: machine, to: json)
        }
    }
}

/// Consecutive workloads measured as one unit, reference first: all sgemm sizes, the forward and
/// backward of one convolution shape, the two peak-memory rows, every other workload alone.
func interleavingGroups(_ workloads: [Workload]) -> [[Workload]] {
    func key(_ name: String) -> String {
        if name.hasPrefix("sgemm_") { return "sgemm" }
        if name.hasPrefix("peak_rss") { return "peak_rss" }
        if name.hasPrefix("conv_"), name.hasSuffix("_fwd") || name.hasSuffix("_bwd") { return String(name.dropLast(4)) }
        return name
    }
    var groups: [[Workload]] = []
    for w in workloads {
        if let last = groups.last?.last, key(last.name) == key(w.name) { groups[groups.count - 1].append(w) } else { groups.append([w]) }
    }
    return groups
}

Bench.main()
