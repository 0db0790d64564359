import Foundation
import Tessera

/// One line of the results table.
struct ResultRow {
    let workload: Workload
    let tessera: Measurement
    let reference: Measurement?

    /// Oriented so that > 1 means Tessera is better (faster, or smaller).
    var ratio: Double? {
        guard let r = reference?.median, r > 0, tessera.median > 0 else { return nil }
        return workload.higherIsBetter ? tessera.median / r : r / tessera.median
    }
}

/// The fixed-width table on stdout.
struct Table {
    func printHeader() {
        Swift.print(pad("workload", 30) + pad("unit", 10) + pad("tessera", 12, right: true) + pad("±", 7, right: true)
                    + pad("pytorch", 12, right: true) + pad("ratio", 8, right: true) + "  detail")
        Swift.print(String(repeating: "-", count: 112))
    }

    func print(_ row: ResultRow) {
        let ref = row.reference.map { fmt($0.median) } ?? "—"
        let ratio = row.ratio.map { String(format: "%.2f×", $0) } ?? "—"
        Swift.print(pad(row.workload.name, 30) + pad(row.workload.unit, 10) + pad(fmt(row.tessera.median), 12, right: true)
                    + pad(String(format: "%.0f%%", row.tessera.spread * 100), 7, right: true)
                    + pad(ref, 12, right: true) + pad(ratio, 8, right: true) + "  " + row.workload.detail)
        fflush(nil)
    }

    private func fmt(_ v: Double) -> String { v >= 100 ? String(format: "%.0f", v) : String(format: "%.2f", v) }
    private func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, n - s.count))
        return right ? fill + s : s + fill
    }
}

/// The machine the figures come from.
struct MachineInfo: Codable {
    var cpu: String
    var cores: Int
    var threads: Int
    var openblasCore: String
    var openblasConfig: String
    var torchVersion: String?

    static func current(threads: Int, torchVersion: String?) -> MachineInfo {
        var cpu = "unknown"
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let name = line.split(separator: ":", maxSplits: 1).last {
            cpu = name.trimmingCharacters(in: .whitespaces)
        }
        return MachineInfo(cpu: cpu, cores: ProcessInfo.processInfo.activeProcessorCount, threads: threads,
                           openblasCore: BLAS.coreName, openblasConfig: BLAS.config, torchVersion: torchVersion)
    }

    var summary: String {
        "machine: \(cpu), \(cores) cores; threads \(threads); OpenBLAS \(openblasConfig) (core \(openblasCore)); reference: "
            + (torchVersion.map { "torch \($0)" } ?? "none")
    }
}

/// Figures from the reference script.
struct ReferenceResults {
    var torchVersion: String?
    var figures: [String: Measurement] = [:]
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
        var r = ReferenceResults(torchVersion: obj["torch_version"] as? String)
        for (name, value) in (obj["results"] as? [String: [String: Double]]) ?? [:] {
            if let samples = value["median"], let spread = value["spread"] {
                var m = Measurement(samples: [samples]); m.spread = spread
                r.figures[name] = m
            }
        }
        return r
    }
}

/// Writes `{"machine": {...}, "results": [{name, unit, tessera, reference, ratio, spread}]}` atomically.
func writeJSON(rows: [ResultRow], machine: MachineInfo, to path: String) throws {
    func num(_ v: Double?) -> Any { v.map { $0.isFinite ? $0 : NSNull() as Any } ?? NSNull() }
    let results: [[String: Any]] = rows.map { row in
        ["name": row.workload.name, "unit": row.workload.unit, "detail": row.workload.detail,
         "tessera": num(row.tessera.median), "reference": num(row.reference?.median),
         "ratio": num(row.ratio), "spread": num(row.tessera.spread),
         "reference_spread": num(row.reference?.spread), "higher_is_better": row.workload.higherIsBetter]
    }
    let machineObject = try JSONSerialization.jsonObject(with: JSONEncoder().encode(machine))
    let data = try JSONSerialization.data(withJSONObject: ["machine": machineObject, "results": results], options: [.prettyPrinted, .sortedKeys])
    let url = URL(fileURLWithPath: path)
    try data.write(to: url, options: .atomic)
    print("wrote \(path)")
}
