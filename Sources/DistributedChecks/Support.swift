import Foundation
import Tessera
import TesseraDistributed

/// A check's failure: printed with the rank and the check's name by main.swift.
struct CheckFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Fails the check unless `condition` holds.
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw CheckFailure(message()) }
}

/// Prints `rank R: message` (rank 0 only unless `allRanks`).
func say(_ comm: Communicator, _ message: String, allRanks: Bool = false) {
    guard allRanks || comm.rank == 0 else { return }
    print("rank \(comm.rank): \(message)")
    fflush(nil)
}

/// The value of `--name value` in `options`, or `fallback`.
func option(_ options: [String], _ name: String, _ fallback: Int) throws -> Int {
    guard let i = options.firstIndex(of: "--" + name) else { return fallback }
    guard i + 1 < options.count, let v = Int(options[i + 1]) else { throw CheckFailure("--\(name) needs an integer value") }
    return v
}

/// Seconds since the Unix epoch, for messages the scripts compare across processes.
func unixTime() -> String { String(format: "%.3f", Date().timeIntervalSince1970) }

/// A 64-bit digest of tensors' exact bytes.
func digest(_ tensors: [Tensor]) -> Int { Int(bitPattern: UInt(ConfigurationDigest.digest(of: tensors))) }

/// max |a − b| / max |b| (0 when both are zero).
func relativeDifference(_ a: Tensor, _ b: Tensor) -> Double {
    let x = a.scalars, y = b.scalars
    var diff: Float = 0, scale: Float = 0
    for i in x.indices {
        diff = max(diff, abs(x[i] - y[i]))
        scale = max(scale, abs(y[i]))
    }
    return scale > 0 ? Double(diff / scale) : Double(diff)
}

/// Rows `indices` of a [N, D] tensor as a new [indices.count, D] tensor.
func gatherRows(_ x: Tensor, _ indices: [Int]) -> Tensor {
    let d = x.shape[1]
    return x.withUnsafeBufferPointer { src in
        Tensor(shape: [indices.count, d]) { dst in
            for (k, i) in indices.enumerated() {
                (dst.baseAddress! + k * d).update(from: src.baseAddress! + i * d, count: d)
            }
        }
    }
}
