import ArgumentParser

/// Validation of numeric options, each error naming the option and the allowed range.
enum Check {
    static func range<T: Comparable>(_ value: T, _ allowed: ClosedRange<T>, _ option: String) throws {
        guard allowed.contains(value) else { throw ValidationError("\(option) must be in \(allowed.lowerBound)…\(allowed.upperBound), got \(value)") }
    }

    static func positive(_ value: Int, _ option: String) throws {
        guard value >= 1 else { throw ValidationError("\(option) must be 1 or more, got \(value)") }
    }

    static func finite(_ value: Float, above bound: Float, _ option: String) throws {
        guard value.isFinite && value > bound else { throw ValidationError("\(option) must be a finite number above \(bound), got \(value)") }
    }

    static func finite(_ value: Float, atLeast bound: Float, _ option: String) throws {
        guard value.isFinite && value >= bound else { throw ValidationError("\(option) must be a finite number of at least \(bound), got \(value)") }
    }

    /// A value in [0, 1).
    static func fraction(_ value: Float, _ option: String) throws {
        guard value.isFinite && value >= 0 && value < 1 else { throw ValidationError("\(option) must be in [0, 1), got \(value)") }
    }
}
