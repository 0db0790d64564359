import Foundation
import Tessera

/// The reference's figures for one workload: the best configuration and every one measured.
struct ReferenceFigure {
    /// The configurations measured ("nchw", "channels_last", "onnxruntime", "torch"), in the
    /// script's order, with their figures.
    var configs: [(name: String, figure: Measurement)]
    /// Configurations that failed, with the script's message.
    var errors: [String: String] = [:]

    /// The best configuration for a workload where larger (or smaller) is better; nil when none ran.
    func best(higherIsBetter: Bool) -> (name: String, figure: Measurement)? {
        let valid = configs.filter { $0.figure.median.isFinite }
        return higherIsBetter ? valid.max { $0.figure.median < $1.figure.median } : valid.min { $0.figure.median < $1.figure.median }
    }
}

/// One line of the results table.
struct ResultRow {
    let workload: Workload
    let tessera: Measurement
    let reference: ReferenceFigure?
    /// FLOPs per item of the figure (see ``Workload/flopsPerItem``).
    let flopsPerItem: Double?
    /// The FP32 FMA peak of the chosen kernel ISA at bench's thread count, GFLOPS.
    let peakGFLOPS: Double?

    init(workload: Workload, tessera: Measurement, reference: ReferenceFigure?, peakGFLOPS: Double?) {
        self.workload = workload
        self.tessera = tessera
        self.reference = reference
        self.flopsPerItem = workload.flopsPerItem?()
        self.peakGFLOPS = peakGFLOPS
    }

    /// The best reference configuration and its figure.
    var bestReference: (name: String, figure: Measurement)? { reference?.best(higherIsBetter: workload.higherIsBetter) }

    /// Tessera's achieved GFLOPS, where FLOPs are counted.
    var gflops: Double? { workload.gflops(figure: tessera.median, flopsPerItem: flopsPerItem) }

    /// Tessera's GFLOPS as a percentage of the FMA peak.
    var percentOfPeak: Double? {
        guard let g = gflops, let p = peakGFLOPS, p > 0 else { return nil }
        return 100 * g / p
    }

    /// Oriented so that > 1 means Tessera is better (faster, or smaller), against the best reference.
    var ratio: Double? {
        guard let r = bestReference?.figure.median, r > 0, tessera.median > 0 else { return nil }
        return workload.higherIsBetter ? tessera.median / r : r / tessera.median
    }
}

/// The fixed-width table on stdout.
struct Table {
    static let width = 136

    func printHeader() {
        Swift.print(pad("workload", 30) + pad("unit", 9) + pad("tessera", 10, right: true) + pad("±", 6, right: true)
                    + pad("GFLOPS", 8, right: true) + pad("%peak", 7, right: true)
                    + pad("reference", 11, right: true) + "  " + pad("best of", 14) + pad("ratio", 7, right: true) + "  detail")
        Swift.print(String(repeating: "-", count: Self.width))
    }

    func print(_ row: ResultRow) {
        let best = row.bestReference
        let ratio = row.ratio.map { String(format: "%.2f×", $0) } ?? "—"
        Swift.print(pad(row.workload.name, 30) + pad(row.workload.unit, 9) + pad(fmt(row.tessera.median), 10, right: true)
                    + pad(String(format: "%.0f%%", row.tessera.spread * 100), 6, right: true)
                    + pad(row.gflops.map(fmt) ?? "", 8, right: true)
                    + pad(row.percentOfPeak.map { String(format: "%.0f%%", $0) } ?? "", 7, right: true)
                    + pad(best.map { fmt($0.figure.median) } ?? "—", 11, right: true) + "  " + pad(best?.name ?? "", 14)
                    + pad(ratio, 7, right: true) + "  " + row.workload.detail)
        fflush(nil)
    }

    private func fmt(_ v: Double) -> String { v >= 100 ? String(format: "%.0f", v) : String(format: "%.2f", v) }
    private func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, n - s.count))
        return right ? fill + s : s + fill
    }
}

/// The FP32 FMA peak of this machine, measured in-process at bench's start.
struct PeakInfo: Codable {
    /// The kernel ISA bench runs with and its peak, GFLOPS.
    var isa: String
    var gflops: Double
    /// The AVX2 peak too when the kernels run AVX-512 (OpenBLAS's Haswell core is limited to it).
    var avx2GFLOPS: Double?

    /// The best of 40 runs of 4 ms of ``Machine/fmaPeak(isa:threads:seconds:)`` on `threads`
    /// threads, or `threads` × the best of 40 such runs on one thread when that is higher.
    /// Other processes on the cores only ever lower the figure, so the best of many short runs is
    /// the machine's, and a single free core is found more easily than two at once
    /// (docs/BENCHMARKS.md, Method).
    static func measure(threads: Int) -> PeakInfo {
        func best(_ isa: KernelISA) -> Double {
            func top(_ t: Int) -> Double { (0..<40).map { _ in Machine.fmaPeak(isa: isa, threads: t, seconds: 0.004) }.max() ?? .nan }
            return max(top(threads), threads > 1 ? Double(threads) * top(1) : 0)
        }
        let isa = Runtime.isa
        return PeakInfo(isa: isa.rawValue, gflops: best(isa), avx2GFLOPS: isa == .avx512 && KernelISA.avx2.isSupported ? best(.avx2) : nil)
    }

    var line: String {
        var s = "FP32 FMA peak, measured here (\(Runtime.threads) threads): \(isa) " + String(format: "%.0f GFLOPS", gflops)
        if let a = avx2GFLOPS {
            s += String(format: "; avx2 %.0f GFLOPS (the most an AVX2 core such as OpenBLAS's Haswell can reach)", a)
        }
        return s + "; %peak is against the first"
    }
}

/// The machine the figures come from.
struct MachineInfo: Codable {
    var cpu: String
    var cores: Int
    var threads: Int
    /// ``Machine/summary``: CPU, cores, kernel ISA, OpenBLAS core (and whether forced), threads.
    var summary: String
    /// ``Machine/warnings``.
    var warnings: [String]
    var kernelISA: String
    var openblasCore: String
    var openblasConfig: String
    var fmaPeak: PeakInfo
    var torchVersion: String?
    var onnxruntimeVersion: String?
    /// The reference's OpenMP settings from the environment, when set.
    var referenceEnvironment: [String: String]
    var date: String

    static func current(threads: Int, peak: PeakInfo, reference: ReferenceResults?) -> MachineInfo {
        let date = ISO8601DateFormatter().string(from: Date())
        return MachineInfo(cpu: Machine.cpuName, cores: Machine.cores, threads: threads, summary: Machine.summary,
                           warnings: Machine.warnings, kernelISA: Runtime.isa.rawValue, openblasCore: BLAS.coreName,
                           openblasConfig: BLAS.config, fmaPeak: peak, torchVersion: reference?.torchVersion,
                           onnxruntimeVersion: reference?.onnxruntimeVersion, referenceEnvironment: reference?.environment ?? [:], date: date)
    }

    /// The header lines: machine, warnings, OpenBLAS build, peak, reference.
    var lines: [String] {
        var out = ["machine: " + summary]
        out += warnings.map { "warning: " + $0 }
        out.append("OpenBLAS: \(openblasConfig)")
        out.append(fmaPeak.line)
        out.append(referenceLine)
        return out
    }

    var referenceLine: String {
        guard let torchVersion else { return "reference: none" }
        return "reference: torch \(torchVersion) in NCHW and channels_last"
            + (onnxruntimeVersion.map { ", and ONNX Runtime \($0) (CPU provider) for eval and latency" } ?? "")
            + "; the best of them is the reference figure"
            + (referenceEnvironment.isEmpty ? "" : " (" + referenceEnvironment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + ")")
    }
}

/// Figures from the reference script.
struct ReferenceResults {
    var torchVersion: String?
    var onnxruntimeVersion: String?
    /// Why ONNX Runtime is not among the configurations, when it is not.
    var onnxruntimeNote: String?
    /// The reference's OpenMP settings from the environment (OMP_WAIT_POLICY, …), when set.
    var environment: [String: String] = [:]
    var figures: [String: ReferenceFigure] = [:]
    var note: String?
    /// The reference cannot run at all here (no torch, no script, no interpreter): asking again
    /// for the next workloads would fail the same way.
    var unavailable = false
}

/// Runs `scripts/reference_bench.py` in a subprocess with the same workloads and thread count.
struct ReferenceRunner {
    let python: String
    let threads: Int
    let quick: Bool

    func run(names: [String]) -> ReferenceResults {
        let script = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("scripts/reference_bench.py")
        guard FileManager.default.fileExists(atPath: script.path) else {
            return ReferenceResults(note: "reference: scripts/reference_bench.py not found (run bench from the repository root)", unavailable: true)
        }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-reference-\(getpid()).json")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python, script.path, "--threads", String(threads), "--json", out.path, "--names", names.joined(separator: ",")] + (quick ? ["--quick"] : [])
        do { try p.run() } catch {
            return ReferenceResults(note: "reference: could not start \(python): \(error)", unavailable: true)
        }
        p.waitUntilExit()
        defer { try? FileManager.default.removeItem(at: out) }
        if p.terminationStatus == 3 {
            return ReferenceResults(note: "reference: PyTorch is not installed; install it with `pip install torch` (a CPU-only build is enough) to see the comparison",
                                    unavailable: true)
        }
        guard p.terminationStatus == 0, let data = try? Data(contentsOf: out),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            return ReferenceResults(note: "reference: scripts/reference_bench.py failed (exit \(p.terminationStatus)) on \(names.joined(separator: ", "))",
                                    unavailable: p.terminationStatus == 127)
        }
        return Self.parse(obj)
    }

    /// Reads the script's JSON (see scripts/reference_bench.py's docstring).
    static func parse(_ obj: [String: Any]) -> ReferenceResults {
        func number(_ v: Any?) -> Double? { (v as? NSNumber)?.doubleValue ?? (v as? Double) }
        func measurement(_ v: Any?) -> Measurement? {
            guard let d = v as? [String: Any], let median = number(d["median"]) else { return nil }
            var m = Measurement(samples: [median])
            m.spread = number(d["spread"]) ?? .nan
            return m
        }
        var r = ReferenceResults(torchVersion: obj["torch_version"] as? String, onnxruntimeVersion: obj["onnxruntime_version"] as? String)
        r.onnxruntimeNote = obj["onnxruntime_note"] as? String
        r.environment = (obj["environment"] as? [String: String]) ?? [:]
        var notes: [String] = []
        for (name, value) in (obj["results"] as? [String: Any]) ?? [:] {
            guard let entry = value as? [String: Any] else { continue }
            var configs: [(String, Measurement)] = []
            if let c = entry["configs"] as? [String: Any] {
                // The script's order (nchw, channels_last, onnxruntime) is lost in a JSON object: a fixed one.
                let order = ["torch", "nchw", "channels_last", "onnxruntime"]
                for key in c.keys.sorted(by: { (order.firstIndex(of: $0) ?? 99, $0) < (order.firstIndex(of: $1) ?? 99, $1) }) {
                    if let m = measurement(c[key]) { configs.append((key, m)) }
                }
            } else if let m = measurement(entry) {
                configs.append((entry["best"] as? String ?? "torch", m))   // a script without configurations
            }
            let errors = (entry["errors"] as? [String: String]) ?? [:]
            for (config, message) in errors.sorted(by: { $0.key < $1.key }) { notes.append("reference: \(name) [\(config)] failed: \(message)") }
            r.figures[name] = ReferenceFigure(configs: configs, errors: errors)
        }
        r.note = notes.isEmpty ? nil : notes.joined(separator: "\n")
        return r
    }
}

/// Writes `{"machine": {...}, "results": [{name, unit, tessera, reference, reference_config,
/// reference_configs, ratio, spread, flop_per_item, gflops, percent_of_peak, …}]}` atomically.
func writeJSON(rows: [ResultRow], machine: MachineInfo, to path: String) throws {
    func num(_ v: Double?) -> Any { v.map { $0.isFinite ? $0 : NSNull() as Any } ?? NSNull() }
    let results: [[String: Any]] = rows.map { row in
        let best = row.bestReference
        var configs: [String: Any] = [:]
        for c in row.reference?.configs ?? [] { configs[c.name] = ["median": num(c.figure.median), "spread": num(c.figure.spread)] }
        return ["name": row.workload.name, "unit": row.workload.unit, "detail": row.workload.detail,
                "tessera": num(row.tessera.median), "spread": num(row.tessera.spread),
                "reference": num(best?.figure.median), "reference_spread": num(best?.figure.spread),
                "reference_config": best.map { $0.name as Any } ?? NSNull(), "reference_configs": configs,
                "reference_errors": row.reference?.errors ?? [:],
                "ratio": num(row.ratio), "higher_is_better": row.workload.higherIsBetter,
                "flop_per_item": num(row.flopsPerItem), "gflops": num(row.gflops), "percent_of_peak": num(row.percentOfPeak)]
    }
    let machineObject = try JSONSerialization.jsonObject(with: JSONEncoder().encode(machine))
    try writeJSONObject(["machine": machineObject, "results": results], to: path)
}

/// Writes a JSON object, pretty-printed with sorted keys, atomically.
func writeJSONObject(_ object: [String: Any], to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    print("wrote \(path)")
}
