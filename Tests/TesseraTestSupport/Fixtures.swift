import Foundation
import XCTest
import Tessera

// PyTorch fixtures: the JSON files written by scripts/make_fixtures.py, read from a test
// target's bundle.

/// One case of a fixture file written by scripts/fixtures/core.py.
public struct FixtureCase {
    public let name: String
    public let op: String
    public let args: [String: Any]
    public let tensors: [String: Tensor]

    public func tensor(_ key: String) -> Tensor {
        guard let t = tensors[key] else { fatalError("fixture case \(name) has no tensor \(key)") }
        return t
    }
    public func int(_ key: String) -> Int { (args[key] as? NSNumber)?.intValue ?? 0 }
    public func float(_ key: String) -> Float { (args[key] as? NSNumber)?.floatValue ?? 0 }
    public func bool(_ key: String) -> Bool { (args[key] as? NSNumber)?.boolValue ?? false }
    public func string(_ key: String) -> String { args[key] as? String ?? "" }
    /// A `[h, w]` argument; nil when the fixture stored null.
    public func size2(_ key: String) -> Size2? {
        guard let v = args[key] as? [NSNumber], v.count == 2 else { return nil }
        return Size2(v[0].intValue, v[1].intValue)
    }
    public func reduction(_ key: String = "reduction") -> Reduction {
        switch string(key) {
        case "sum": return .sum
        case "none": return .none
        default: return .mean
        }
    }
}

/// A fixture file: the torch version and seed it was generated with, and its cases.
public struct FixtureFile {
    public let torchVersion: String
    public let seed: Int
    public let cases: [FixtureCase]

    /// Loads `Fixtures/<name>.json` from a test target's bundle (pass `Bundle.module`).
    public static func load(_ name: String, from bundle: Bundle) throws -> FixtureFile {
        guard let url = bundle.url(forResource: name, withExtension: "json", subdirectory: "Fixtures")
            ?? bundle.url(forResource: name, withExtension: "json") else {
            throw NSError(domain: "TesseraTests", code: 1, userInfo: [NSLocalizedDescriptionKey: "fixture \(name).json not found in the test bundle"])
        }
        let data = try Data(contentsOf: url)
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = root["cases"] as? [[String: Any]] else {
            throw NSError(domain: "TesseraTests", code: 2, userInfo: [NSLocalizedDescriptionKey: "fixture \(name).json is not a fixture document"])
        }
        return FixtureFile(
            torchVersion: root["torch_version"] as? String ?? "?",
            seed: (root["seed"] as? NSNumber)?.intValue ?? -1,
            cases: try cases.map { c in
                var tensors: [String: Tensor] = [:]
                for (key, value) in c["tensors"] as? [String: Any] ?? [:] {
                    guard let dict = value as? [String: Any], let shape = dict["shape"] as? [NSNumber],
                          let values = dict["data"] as? [NSNumber] else {
                        throw NSError(domain: "TesseraTests", code: 3, userInfo: [NSLocalizedDescriptionKey: "fixture \(name): bad tensor \(key)"])
                    }
                    tensors[key] = Tensor(values.map { $0.floatValue }, shape: shape.map { $0.intValue })
                }
                return FixtureCase(name: c["name"] as? String ?? "?", op: c["op"] as? String ?? "?",
                                   args: c["args"] as? [String: Any] ?? [:], tensors: tensors)
            })
    }
}

/// Tolerances for comparing against PyTorch (float32 on both sides; the differences come from
/// summation order). Stated once here and printed in every assertion message.
public struct Tolerance: Sendable {
    public var rtol: Double
    public var atol: Double
    /// A tolerance |actual − expected| ≤ atol + rtol·|expected|.
    public init(rtol: Double, atol: Double) { self.rtol = rtol; self.atol = atol }
    /// Forward values: rtol 1e-4, atol 1e-5.
    public static let forward = Tolerance(rtol: 1e-4, atol: 1e-5)
    /// Gradients: rtol 1e-4, atol 1e-5 (sums over the batch and positions are still short here).
    public static let backward = Tolerance(rtol: 1e-4, atol: 1e-5)
}

public enum FixtureRunner {
    /// Runs one fixture case: every tensor `k` for which the case has `grad_k` becomes a leaf that
    /// requires grad; `forward` computes the op from the inputs; its output is compared with
    /// `output`, then `backward(upstream)` runs and each leaf's gradient is compared with `grad_k`.
    /// Returns the inputs (for checks of in-place effects, such as running statistics).
    @discardableResult
    public static func run(_ c: FixtureCase, fixture fixtureName: String, forwardTolerance: Tolerance = .forward,
                    backwardTolerance: Tolerance = .backward, file: StaticString = #filePath, line: UInt = #line,
                    _ forward: ([String: Tensor]) -> Tensor) -> [String: Tensor] {
        var inputs: [String: Tensor] = [:]
        for (key, t) in c.tensors where !key.hasPrefix("grad_") && key != "output" && key != "upstream" {
            var leaf = t.clone()
            if c.tensors["grad_" + key] != nil { leaf.requiresGrad = true }
            inputs[key] = leaf
        }
        let label = "\(fixtureName).json case \(c.name) (\(c.op))"
        let out = forward(inputs)
        let fwdOK = TensorCheck.close(out, c.tensor("output"), rtol: forwardTolerance.rtol, atol: forwardTolerance.atol,
                                      "\(label) forward vs PyTorch", file: file, line: line)
        let upstream = c.tensor("upstream")
        let gradKeys = c.tensors.keys.filter { $0.hasPrefix("grad_") }.sorted()
        guard !gradKeys.isEmpty else { return inputs }
        guard out.shape == upstream.shape else {
            if fwdOK { XCTFail("\(label): output shape \(out.shape) differs from the fixture's \(upstream.shape)", file: file, line: line) }
            return inputs
        }
        guard out.requiresGrad else {
            XCTFail("\(label): output does not require grad although inputs do", file: file, line: line)
            return inputs
        }
        out.backward(upstream)
        for key in gradKeys {
            let inputKey = String(key.dropFirst("grad_".count))
            guard let g = inputs[inputKey]?.grad else {
                XCTFail("\(label): no gradient reached \(inputKey) (PyTorch computes one)", file: file, line: line)
                continue
            }
            TensorCheck.close(g, c.tensor(key), rtol: backwardTolerance.rtol, atol: backwardTolerance.atol,
                              "\(label) gradient of \(inputKey) vs PyTorch", file: file, line: line)
        }
        return inputs
    }
}


/// Free-form JSON fixture files (scripts/fixtures/nn.py and others): a test target's
/// `Fixtures/<name>` read as a JSON object, with `{"shape": [...], "data": [...]}` tensors.
public enum JSONFixture {
    /// The URL of a file in a test target's Fixtures directory (pass `Bundle.module`).
    public static func url(_ name: String, in bundle: Bundle) -> URL {
        guard let base = bundle.url(forResource: "Fixtures", withExtension: nil) else {
            fatalError("Fixtures directory missing from the test bundle \(bundle.bundlePath)")
        }
        return base.appendingPathComponent(name)
    }

    /// The top-level JSON object of a fixture file.
    public static func object(_ name: String, in bundle: Bundle) throws -> [String: Any] {
        let data = try Data(contentsOf: url(name, in: bundle))
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw NSError(domain: "JSONFixture", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(name) is not a JSON object"])
        }
        return obj
    }

    /// `{"shape": [...], "data": [...]}` as a tensor.
    public static func tensor(_ any: Any?) -> Tensor {
        guard let d = any as? [String: Any], let shape = d["shape"] as? [NSNumber], let data = d["data"] as? [NSNumber] else {
            fatalError("JSONFixture: not a tensor object: \(String(describing: any).prefix(200))")
        }
        return Tensor(data.map(\.floatValue), shape: shape.map(\.intValue))
    }

    /// A name → tensor map.
    public static func tensors(_ any: Any?) -> [String: Tensor] {
        guard let d = any as? [String: Any] else { return [:] }
        return d.mapValues { tensor($0) }
    }
}
