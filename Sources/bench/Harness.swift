import Foundation

/// One measured figure: the median of repeated runs after warm-up, and its spread.
struct Measurement {
    var median: Double
    /// (max − min) / median over the timed runs.
    var spread: Double

    init(samples: [Double]) {
        let s = samples.sorted()
        median = s.isEmpty ? .nan : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
        spread = s.isEmpty || median == 0 ? .nan : (s.last! - s.first!) / median
    }
}

/// A named piece of work, measured by Tessera here and by the PyTorch reference in a subprocess.
struct Workload {
    let name: String
    /// The unit of the figure, e.g. "GFLOPS", "images/s", "ms", "MiB".
    let unit: String
    /// True when a larger figure is better (throughput); false for latency and memory.
    let higherIsBetter: Bool
    /// Shapes and settings, for the table and the JSON.
    let detail: String
    /// Floating-point operations of one item of the figure — per image for an images/s row, per
    /// pass for a latency row in ms — counted when the row is reported; nil where GFLOPS mean
    /// nothing (memory, the loader) or the unit is GFLOPS already.
    var flopsPerItem: (() -> Double)? = nil
    /// Runs the work `repeats` times after `warmup` runs and returns one figure per timed run.
    let run: (_ warmup: Int, _ repeats: Int) -> [Double]

    /// The achieved GFLOPS of a figure of this workload, when FLOPs are counted for it.
    func gflops(figure: Double, flopsPerItem flops: Double?) -> Double? {
        guard figure.isFinite, figure > 0 else { return nil }
        if unit == "GFLOPS" { return figure }
        guard let flops else { return nil }
        switch unit {
        case "images/s": return figure * flops / 1e9
        case "ms": return flops / (figure / 1000) / 1e9
        default: return nil
        }
    }
}

/// Seconds taken by `body`.
@inline(never)
func seconds(_ body: () -> Void) -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

/// Seconds of untimed runs before the timed ones, at least (scripts/reference_bench.py warms up
/// the same way).
let warmupSeconds = 0.3

/// Times `body` `repeats` times after at least `warmup` untimed runs and ``warmupSeconds`` of them,
/// converting each time with `figure`.
func timed(_ warmup: Int, _ repeats: Int, figure: (Double) -> Double, _ body: () -> Void) -> [Double] {
    let start = DispatchTime.now().uptimeNanoseconds
    var done = 0
    while done < warmup || Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < warmupSeconds {
        body()
        done += 1
    }
    return (0..<repeats).map { _ in figure(seconds(body)) }
}

/// Peak resident set size of this process in MiB (VmHWM on Linux, ru_maxrss elsewhere).
func peakResidentMiB() -> Double {
    #if os(Linux)
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
       let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return kb / 1024
    }
    #endif
    #if os(macOS)
    var usage = rusage()
    getrusage(RUSAGE_SELF, &usage)
    return Double(usage.ru_maxrss) / 1_048_576
    #else
    return .nan
    #endif
}
