import Tessera

/// The element type a tensor is stored with on disk. In memory every tensor is Float32;
/// integer entries (PyTorch's `num_batches_tracked`, optimizer step counts) are held as
/// exact Float values and written back as integers.
public enum DType: String, Sendable, CaseIterable {
    case float32 = "F32"
    case float64 = "F64"
    case float16 = "F16"
    case bfloat16 = "BF16"
    case int64 = "I64"
    case int32 = "I32"
    case int16 = "I16"
    case int8 = "I8"
    case uint8 = "U8"
    case bool = "BOOL"

    /// Whether values are integers (or booleans) rather than floating point.
    public var isInteger: Bool {
        switch self {
        case .float32, .float64, .float16, .bfloat16: return false
        case .int64, .int32, .int16, .int8, .uint8, .bool: return true
        }
    }

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }
}

/// An ordered map from dotted names to tensors, as PyTorch's `state_dict()`: a module's
/// parameters and buffers, or an optimizer's per-parameter state. Each entry remembers the
/// ``DType`` it is saved with.
public struct StateDict: Sequence {
    /// One named tensor and the dtype it is saved with.
    public struct Entry {
        /// The values (Float32 in memory).
        public var tensor: Tensor
        /// The on-disk element type.
        public var dtype: DType
    }

    /// Names in insertion order.
    public private(set) var keys: [String] = []
    private var entries: [String: Entry] = [:]
    /// Free-form string metadata, saved as safetensors' `__metadata__`.
    public var metadata: [String: String] = [:]

    /// An empty state dict.
    public init() {}

    /// A state dict of Float32 entries in the given order.
    public init(_ items: [(String, Tensor)]) {
        for (k, v) in items { set(k, v) }
    }

    /// The number of entries.
    public var count: Int { keys.count }
    /// Whether there are no entries.
    public var isEmpty: Bool { keys.isEmpty }

    /// The tensor stored under `key`; assigning keeps the dtype of an existing entry
    /// (Float32 for a new one); assigning nil removes the entry.
    public subscript(key: String) -> Tensor? {
        get { entries[key]?.tensor }
        set {
            if let newValue { set(key, newValue, dtype: entries[key]?.dtype ?? .float32) } else { remove(key) }
        }
    }

    /// The full entry under `key`.
    public func entry(_ key: String) -> Entry? { entries[key] }

    /// The dtype `key` is saved with.
    public func dtype(of key: String) -> DType? { entries[key]?.dtype }

    /// Stores `tensor` under `key` with `dtype`, appending new keys at the end.
    public mutating func set(_ key: String, _ tensor: Tensor, dtype: DType = .float32) {
        if entries[key] == nil { keys.append(key) }
        entries[key] = Entry(tensor: tensor.detach(), dtype: dtype)
    }

    /// Removes `key` if present.
    public mutating func remove(_ key: String) {
        guard entries.removeValue(forKey: key) != nil else { return }
        keys.removeAll { $0 == key }
    }

    /// Iterates `(key, entry)` in insertion order.
    public func makeIterator() -> AnyIterator<(key: String, entry: Entry)> {
        var i = 0
        return AnyIterator {
            guard i < keys.count else { return nil }
            defer { i += 1 }
            return (keys[i], entries[keys[i]]!)
        }
    }

    /// The entries whose key starts with `prefix + "."`, with that prefix removed.
    public func subdict(prefix: String) -> StateDict {
        var out = StateDict()
        let p = prefix + "."
        for k in keys where k.hasPrefix(p) { out.set(String(k.dropFirst(p.count)), entries[k]!.tensor, dtype: entries[k]!.dtype) }
        return out
    }
}

/// What a non-strict ``Module/loadStateDict(_:strict:)`` could not load.
public struct StateDictLoadReport: Equatable, Sendable, CustomStringConvertible {
    /// Keys the module has but the state dict lacks (left unchanged).
    public var missingKeys: [String] = []
    /// Keys of the state dict the module does not have (ignored).
    public var unexpectedKeys: [String] = []
    /// Keys present on both sides with different shapes (left unchanged).
    public var shapeMismatches: [ShapeMismatch] = []
    /// Keys whose values hold NaN or ±∞ (refused: left unchanged, and a strict load fails).
    public var nonFiniteKeys: [String] = []
    /// Keys saved as an integer (or BOOL) dtype where the module holds floating point (left
    /// unchanged): integer data is never silently taken as weights.
    public var dtypeMismatches: [DTypeMismatch] = []

    /// A key whose saved shape differs from the module's.
    public struct ShapeMismatch: Equatable, Sendable, CustomStringConvertible {
        /// The dotted name.
        public var key: String
        /// The module's shape.
        public var expected: [Int]
        /// The state dict's shape.
        public var found: [Int]
        public var description: String { "\(key): expected \(expected), found \(found)" }
    }

    /// A key saved as integers where the module expects floating point.
    public struct DTypeMismatch: Equatable, Sendable, CustomStringConvertible {
        /// The dotted name.
        public var key: String
        /// The dtype the module saves the tensor as.
        public var expected: DType
        /// The state dict's dtype.
        public var found: DType
        public var description: String { "\(key): expected \(expected.rawValue), found \(found.rawValue)" }
    }

    /// True when every key matched with the right shape, a floating-point dtype where one is
    /// expected, and finite values.
    public var isClean: Bool {
        missingKeys.isEmpty && unexpectedKeys.isEmpty && shapeMismatches.isEmpty && nonFiniteKeys.isEmpty && dtypeMismatches.isEmpty
    }

    public var description: String {
        var parts: [String] = []
        if !missingKeys.isEmpty { parts.append("missing keys (\(missingKeys.count)): " + missingKeys.joined(separator: ", ")) }
        if !unexpectedKeys.isEmpty { parts.append("unexpected keys (\(unexpectedKeys.count)): " + unexpectedKeys.joined(separator: ", ")) }
        if !shapeMismatches.isEmpty {
            parts.append("shape mismatches (\(shapeMismatches.count)): " + shapeMismatches.map(\.description).joined(separator: "; "))
        }
        if !dtypeMismatches.isEmpty {
            parts.append("integer/floating-point dtype mismatches (\(dtypeMismatches.count)): "
                         + dtypeMismatches.map(\.description).joined(separator: "; "))
        }
        if !nonFiniteKeys.isEmpty {
            parts.append("non-finite values (NaN or infinity) in (\(nonFiniteKeys.count)): " + nonFiniteKeys.joined(separator: ", "))
        }
        return parts.isEmpty ? "all keys matched" : parts.joined(separator: "\n")
    }
}

/// A strict state-dict load that did not match the module; lists every problem at once.
public struct StateDictLoadError: Error, CustomStringConvertible {
    /// The mismatches found.
    public var report: StateDictLoadReport
    /// The module type that was being loaded.
    public var moduleType: String

    public var description: String {
        "Error(s) loading state dict into \(moduleType):\n" + report.description
    }
}

extension Module {
    /// Parameters then buffers of the whole tree under their dotted names, in PyTorch's
    /// `state_dict()` order. The tensors share storage with the module (no copy).
    public func stateDict() -> StateDict {
        var sd = StateDict()
        appendState(prefix: "", to: &sd)
        return sd
    }

    private func appendState(prefix: String, to sd: inout StateDict) {
        for p in ownParameters { sd.set(ModuleNaming.join(prefix, p.name), p.tensor, dtype: .float32) }
        for b in ownBuffers { sd.set(ModuleNaming.join(prefix, b.name), b.tensor, dtype: b.dtype) }
        for c in children { c.module.appendState(prefix: ModuleNaming.join(prefix, c.name), to: &sd) }
    }

    /// Copies the values of `stateDict` into this module's parameters and buffers, in place
    /// (tensors keep their storage, so optimizers holding them stay valid), as
    /// `load_state_dict`.
    ///
    /// With `strict` (the default) nothing is copied unless every key matches with the right
    /// shape, and a ``StateDictLoadError`` lists every missing key, unexpected key and shape
    /// mismatch at once. Without it, the matching entries are copied and the returned report
    /// lists the rest. A tensor holding NaN or ±∞ is never copied (it would train and evaluate
    /// to garbage without an error): it fails a strict load and is listed in the report. An
    /// integer or BOOL entry for a floating-point parameter or buffer is a mismatch like a wrong
    /// shape (PyTorch's `copy_` would convert it silently); other dtypes are taken as their
    /// Float32 values (an F16 or F64 file into Float32 parameters, an I32 counter into an I64
    /// buffer, an F32 entry of an in-memory state dict into an integer buffer).
    @discardableResult
    public func loadStateDict(_ stateDict: StateDict, strict: Bool = true) throws -> StateDictLoadReport {
        let mine = self.stateDict()
        var report = StateDictLoadReport()
        var toCopy: [(Tensor, Tensor)] = []
        for key in mine.keys {
            let target = mine[key]!
            guard let source = stateDict[key] else { report.missingKeys.append(key); continue }
            if source.shape != target.shape {
                report.shapeMismatches.append(.init(key: key, expected: target.shape, found: source.shape))
            } else if let expected = mine.dtype(of: key), let found = stateDict.dtype(of: key), found.isInteger && !expected.isInteger {
                report.dtypeMismatches.append(.init(key: key, expected: expected, found: found))
            } else if !source.allFinite {
                report.nonFiniteKeys.append(key)
            } else {
                toCopy.append((target, source))
            }
        }
        let known = Set(mine.keys)
        report.unexpectedKeys = stateDict.keys.filter { !known.contains($0) }
        if strict && !report.isClean {
            throw StateDictLoadError(report: report, moduleType: typeName)
        }
        withNoGrad {
            for (target, source) in toCopy { target.assign(source) }
        }
        return report
    }
}
