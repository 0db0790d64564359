import Foundation

/// A fast, seedable random number generator (xoshiro256**, seeded through SplitMix64).
/// The same seed gives the same sequence on every platform.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Codable, Equatable {
    /// The four words of generator state (checkpointed to resume a run bit for bit).
    public var state: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// A uniform `Float` in [0, 1) with 24 random bits.
    @inline(__always) public mutating func nextUniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// A standard normal `Float` (Box–Muller).
    @inline(__always) public mutating func nextNormal() -> Float {
        let u1 = max(nextUniform(), 1e-12)
        let u2 = nextUniform()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Float.pi * u2)
    }

    public static func == (a: SeededGenerator, b: SeededGenerator) -> Bool {
        a.state.0 == b.state.0 && a.state.1 == b.state.1 && a.state.2 == b.state.2 && a.state.3 == b.state.3
    }

    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        state = (try c.decode(UInt64.self), try c.decode(UInt64.self), try c.decode(UInt64.self), try c.decode(UInt64.self))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(state.0); try c.encode(state.1); try c.encode(state.2); try c.encode(state.3)
    }
}

/// The process-wide generator used when no generator is passed, as `torch.manual_seed`.
///
/// It is process-wide on purpose (PyTorch's global generator): initializers draw from it so that
/// `GlobalRandom.seed(_:)` makes a model's construction reproducible; it is guarded by a lock.
public enum GlobalRandom {
    private static let generator = Locked(SeededGenerator(seed: 0))

    /// Re-seeds the process-wide generator.
    public static func seed(_ seed: UInt64) {
        generator.value = SeededGenerator(seed: seed)
    }

    /// Runs `body` with exclusive access to the process-wide generator.
    public static func with<R>(_ body: (inout SeededGenerator) throws -> R) rethrows -> R {
        try generator.withLock(body)
    }
}
