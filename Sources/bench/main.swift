import ArgumentParser
import Foundation
import Tessera

/// `swift run -c release bench`: Tessera beside the PyTorch reference on the same work.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Tessera beside the PyTorch reference (scripts/reference_bench.py) on the same workloads.")

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

    @Flag(help: "Only time the phases of a ResNet-20 training step (forward, backward, optimizer) and its batch-norm, ReLU and add kernels apart.")
    var breakdown = false

    /// Internal: the child process of the peak-memory workload, running this many training steps.
    @Option(help: .hidden)
    var peakRssChild: Int?

    mutating func run() throws {
        BLAS.setThreads(threads)
        if let steps = peakRssChild { return peakRSSChild(steps: steps) }
        let (warmup, repeats) = quick ? (1, 3) : (2, 7)
        if breakdown { return printStepBreakdown(warmup: warmup, repeats: repeats) }
        let models = modelWorkloads(threads: threads, quick: quick)
        var workloads = gemmWorkloads(quick: quick) + convWorkloads(batch: 128) + models.workloads
        if let filter { workloads = workloads.filter { $0.name.contains(filter) } }
        guard !workloads.isEmpty else { throw ValidationError("no workload matches --filter \(filter ?? "")") }

        var reference: ReferenceResults?
        if !noReference {
            reference = ReferenceRunner(python: python, threads: threads, quick: quick).run(names: workloads.map(\.name))
        }
        let machine = MachineInfo.current(threads: threads, torchVersion: reference?.torchVersion)
        print(machine.summary)
        if let note = reference?.note { print(note) }
        for note in models.notes where filter.map({ note.contains($0) }) ?? true { print(note) }

        var rows: [ResultRow] = []
        let table = Table()
        table.printHeader()
        for w in workloads {
            let m = Measurement(samples: w.run(warmup, repeats))
            let ref = reference?.figures[w.name]
            let row = ResultRow(workload: w, tessera: m, reference: ref)
            table.print(row)
            rows.append(row)
        }
        if let json { try writeJSON(rows: rows, machine: machine, to: json) }
    }
}

Bench.main()
