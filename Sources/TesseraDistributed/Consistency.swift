import Foundation
import Tessera

/// The start-up consistency check: every rank must run with the same configuration.
extension Communicator {
    /// Refuses to go on unless every rank passes the same `description` (model name, batch size,
    /// data size, … as text). Each rank contributes a 64-bit digest of its text; only when the
    /// digests differ are the texts themselves gathered, to say which ranks differ and in what.
    ///
    /// Texts made of `key = value` lines (what the `Encodable` form of `checkConsistency(_:of:)` produces)
    /// are compared key by key; other texts line by line.
    /// - Throws: ``DistributedError/configurationMismatch(what:details:)``, e.g.
    ///   `training configuration differs between ranks: batch_size: 64 (ranks 0, 2) vs 32 (rank 1)`.
    public func checkConsistency(_ description: String, of what: String = "configuration") throws {
        let digest = Int(bitPattern: UInt(ConfigurationDigest.fnv1a(Array(description.utf8))))
        let digests = try allgather([digest])
        guard digests.contains(where: { $0 != digests[0] }) else { return }
        let texts = try allgather(description)
        throw DistributedError.configurationMismatch(what: what, details: ConfigurationDigest.differences(texts))
    }

    /// ``checkConsistency(_:of:)-(String,_)`` for any `Encodable` configuration, compared by its
    /// JSON encoding flattened into sorted `path = value` lines (`optimizer.lr = 0.1`).
    public func checkConsistency<T: Encodable>(_ value: T, of what: String = "configuration") throws {
        try checkConsistency(try ConfigurationDigest.canonicalText(value), of: what)
    }
}

/// Digest, canonical text and differences of configurations (pure functions, tested without MPI).
public enum ConfigurationDigest {
    /// FNV-1a, 64 bits. It only detects accidental differences between ranks: when digests
    /// differ, the texts themselves are compared.
    public static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var h = fnvOffset
        bytes.withUnsafeBytes { fnv1a(&h, $0) }
        return h
    }

    private static let fnvOffset: UInt64 = 0xCBF2_9CE4_8422_2325

    /// Continues the FNV-1a hash `h` over `bytes`.
    private static func fnv1a(_ h: inout UInt64, _ bytes: UnsafeRawBufferPointer) {
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
    }

    /// ``fnv1a(_:)`` of the tensors' elements, exactly as stored (bit patterns, in order): equal
    /// on two ranks when their tensors are bit for bit the same.
    public static func digest(of tensors: [Tensor]) -> UInt64 {
        var h = fnvOffset
        for t in tensors { t.contiguous().withUnsafeBufferPointer { fnv1a(&h, UnsafeRawBufferPointer($0)) } }
        return h
    }

    /// `value`'s JSON encoding as sorted `path = value` lines, one per leaf (`layers.0 = 32`).
    public static func canonicalText<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(value)
        let object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        var lines: [String] = []
        flatten(object, path: "", into: &lines)
        return lines.sorted().joined(separator: "\n")
    }

    private static func flatten(_ object: Any, path: String, into lines: inout [String]) {
        func join(_ key: String) -> String { path.isEmpty ? key : path + "." + key }
        if let dict = object as? [String: Any] {
            if dict.isEmpty { lines.append("\(path.isEmpty ? "(root)" : path) = {}") }
            for (k, v) in dict { flatten(v, path: join(k), into: &lines) }
        } else if let array = object as? [Any] {
            if array.isEmpty { lines.append("\(path.isEmpty ? "(root)" : path) = []") }
            for (i, v) in array.enumerated() { flatten(v, path: join(String(i)), into: &lines) }
        } else {
            let text: String
            if object is NSNull {
                text = "null"
            } else if let data = try? JSONSerialization.data(withJSONObject: object, options: [.fragmentsAllowed]) {
                text = String(decoding: data, as: UTF8.self)
            } else {
                text = "\(object)"
            }
            lines.append("\(path.isEmpty ? "(root)" : path) = \(text)")
        }
    }

    /// Which ranks differ and in what: per key for `key = value` texts, else per line; each
    /// value is followed by the ranks that have it, the differences separated by `; `.
    public static func differences(_ texts: [String]) -> String {
        let lines = texts.map { $0.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
        let keyed = lines.map { ls -> [String: String]? in
            var d: [String: String] = [:]
            for l in ls {
                guard let r = l.range(of: " = ") else { return nil }
                d[String(l[..<r.lowerBound])] = String(l[r.upperBound...])
            }
            return d
        }
        var parts: [String] = []
        if keyed.allSatisfy({ $0 != nil }) {
            let maps = keyed.map { $0! }
            let keys = Set(maps.flatMap(\.keys)).sorted()
            for k in keys {
                let values = maps.map { $0[k] ?? "(absent)" }
                if values.contains(where: { $0 != values[0] }) { parts.append("\(k): " + grouped(values)) }
            }
        } else {
            let n = lines.map(\.count).max() ?? 0
            for i in 0..<n {
                let values = lines.map { i < $0.count ? "'\(clipped($0[i]))'" : "(no line)" }
                if values.contains(where: { $0 != values[0] }) { parts.append("line \(i + 1): " + grouped(values)) }
            }
        }
        if parts.isEmpty { return "the digests differ" }
        let shown = parts.prefix(12).joined(separator: "; ")
        return parts.count > 12 ? shown + "; and \(parts.count - 12) more" : shown
    }

    /// "64 (ranks 0, 2) vs 32 (rank 1)", values in order of first appearance.
    static func grouped(_ values: [String]) -> String {
        var groups: [(value: String, ranks: [Int])] = []
        for (r, v) in values.enumerated() {
            if let i = groups.firstIndex(where: { $0.value == v }) { groups[i].ranks.append(r) } else { groups.append((v, [r])) }
        }
        return groups.map { g in
            "\(g.value) (" + (g.ranks.count == 1 ? "rank " : "ranks ") + g.ranks.map(String.init).joined(separator: ", ") + ")"
        }.joined(separator: " vs ")
    }

    private static func clipped(_ s: String) -> String { s.count > 120 ? String(s.prefix(117)) + "..." : s }
}
