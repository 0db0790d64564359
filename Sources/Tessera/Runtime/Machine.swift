import CTesseraKernels
import Foundation

/// What this machine is and what the engine chose on it: CPU, kernel instruction set, OpenBLAS
/// core, threads — the line `tessera info` and bench print before any figure.
public enum Machine {
    /// The CPU's model name (`/proc/cpuinfo` on Linux, `sysctl` on macOS), or "unknown CPU".
    public static let cpuName: String = {
        #if os(Linux)
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = line.firstIndex(of: ":") {
            return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        #endif
        #if os(macOS)
        var size = 0
        if sysctlbyname("machdep.cpu.brand_string", nil, &size, nil, 0) == 0, size > 0 {
            var buf = [CChar](repeating: 0, count: size)
            if sysctlbyname("machdep.cpu.brand_string", &buf, &size, nil, 0) == 0 { return String(cString: buf) }
        }
        #endif
        return "unknown CPU"
    }()

    /// Cores available to this process.
    public static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// Floats per vector of the GEMM kernels of an OpenBLAS core (4 for SSE cores, 8 for the AVX2
    /// ones, 16 for the AVX-512 ones), or nil for a core this table does not know.
    static func lanes(ofOpenBLASCore core: String) -> Int? {
        let c = core.lowercased()
        if ["skylakex", "cooperlake", "sapphirerapids"].contains(c) { return 16 }
        if ["haswell", "zen", "sandybridge", "excavator", "steamroller", "piledriver", "bulldozer"].contains(c) { return 8 }
        if ["nehalem", "core2", "penryn", "dunnington", "atom", "prescott", "barcelona", "opteron"].contains(c) { return 4 }
        return nil
    }

    /// Warnings about this machine's settings: an `OPENBLAS_CORETYPE` that makes OpenBLAS use
    /// narrower vectors than the CPU runs (Haswell's 8 floats on an AVX-512 CPU: up to half the
    /// GEMM rate, as the peaks of the two widths show).
    public static var warnings: [String] {
        var out: [String] = []
        let env = ProcessInfo.processInfo.environment
        if let forced = env["OPENBLAS_CORETYPE"], let lanes = lanes(ofOpenBLASCore: BLAS.coreName) {
            let cpuLanes = Runtime.bestISA.lanes
            if lanes < cpuLanes {
                out.append("OPENBLAS_CORETYPE=\(forced) makes OpenBLAS use \(lanes)-float vectors on a CPU that runs \(cpuLanes): "
                           + "GEMM can lose up to \(cpuLanes / lanes)× (the FMA peak of the two widths; `bench` measures both). "
                           + "Unset it (and OPENBLAS_L2_SIZE) to let OpenBLAS choose.")
            }
        }
        return out
    }

    /// One line: CPU, cores, kernel ISA (and the best one), OpenBLAS core (and whether forced), threads.
    public static var summary: String {
        let env = ProcessInfo.processInfo.environment
        let forced = env["OPENBLAS_CORETYPE"].map { " (forced by OPENBLAS_CORETYPE=\($0))" } ?? ""
        let isa = Runtime.isa
        let best = isa == Runtime.bestISA ? "" : ", best \(Runtime.bestISA)"
        return "\(cpuName), \(cores) cores; kernels \(isa) (\(isa.lanes) floats per vector\(best)); "
            + "OpenBLAS core \(BLAS.coreName)\(forced); threads \(Runtime.threads)"
    }

    /// The FMA peak of `threads` threads at an instruction set's width, in GFLOPS: a loop of
    /// independent multiply–adds run for about `seconds` on every thread at once.
    public static func fmaPeak(isa: KernelISA = Runtime.isa, threads: Int = Runtime.threads, seconds: Double = 0.2) -> Double {
        let saved = Runtime.isa
        Runtime.isa = isa
        defer { Runtime.isa = saved }
        var iterations = 1 << 16
        // Size the loop so one call lasts about `seconds` on one thread.
        while true {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = tk_fma_loop(iterations, 1)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if dt >= seconds / 4 || iterations > 1 << 30 { iterations = Int(Double(iterations) * seconds / Swift.max(dt, 1e-9)); break }
            iterations *= 4
        }
        let n = iterations
        let t0 = DispatchTime.now().uptimeNanoseconds
        DispatchQueue.concurrentPerform(iterations: threads) { i in _ = tk_fma_loop(n, Float(i)) }
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        return Double(threads) * Double(n) * 512 / dt / 1e9
    }
}
