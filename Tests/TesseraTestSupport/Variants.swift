import Foundation
import Tessera

/// Runs code under each kernel variant, for the tests that compare the variants with the
/// baseline (PyTorch ATen's per-capability tests are the model).
public enum KernelVariants {
    /// Runs `body` once under every instruction set this CPU supports, baseline first, with
    /// ``Runtime/isa`` set to it, then restores the variant that was active. When
    /// `TESSERA_TEST_ISA` is set (scripts/test.sh sets it for its per-variant runs), only that
    /// variant and the baseline run.
    public static func forEach(_ body: (KernelISA) throws -> Void) rethrows {
        let saved = Runtime.isa
        defer { Runtime.isa = saved }
        var variants = Runtime.supportedISAs
        if let only = ProcessInfo.processInfo.environment["TESSERA_TEST_ISA"].flatMap(KernelISA.init(rawValue:)) {
            variants = variants.filter { $0 == .baseline || $0 == only }
        }
        for isa in variants {
            Runtime.isa = isa
            try body(isa)
        }
    }

    /// `body` run under the baseline variant and under `isa`, for comparing the two.
    public static func baselineAnd<R>(_ isa: KernelISA, _ body: () throws -> R) rethrows -> (baseline: R, variant: R) {
        let saved = Runtime.isa
        defer { Runtime.isa = saved }
        Runtime.isa = .baseline
        let b = try body()
        Runtime.isa = isa
        return (b, try body())
    }
}
