import Foundation
import Tessera
import TesseraNN
import TesseraTraining
import TesseraVision

// Helpers of the checks of `tessera train --distributed` (scripts/distributed-checks.sh); they
// run in one process, without MPI:
//
//   DistributedChecks make-images DIR [--classes 4 --train 60 --test 25 --size 16]
//   DistributedChecks compare A.safetensors B.safetensors [--tolerance 1e-5]   (0: bit for bit)

/// Writes an image folder (`train/<class>/*.png`, `test/<class>/*.png`) of small RGB images:
/// noise around a colour per class, so a model can learn something. Deterministic.
func makeImages(_ arguments: [String]) throws {
    guard let dir = arguments.first, !dir.hasPrefix("--") else { throw CheckFailure("make-images needs a folder") }
    let classes = try option(arguments, "classes", 4), size = try option(arguments, "size", 16)
    var gen = SeededGenerator(seed: 21)
    for (split, count) in [("train", try option(arguments, "train", 60)), ("test", try option(arguments, "test", 25))] {
        for c in 0..<classes {
            let folder = "\(dir)/\(split)/class\(c)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let tint = [(c * 97) % 256, (c * 57 + 80) % 256, (c * 31 + 160) % 256]
            for k in 0..<count {
                let pixels = (0..<(size * size * 3)).map { i in
                    UInt8(clamping: tint[i % 3] + Int(truncatingIfNeeded: gen.next() % 128) - 64)
                }
                try PNG.write(Image(width: size, height: size, format: .rgb, pixels: pixels), to: "\(folder)/\(k).png")
            }
        }
    }
    print("make-images: \(classes) classes of \(size)x\(size) images in \(dir)")
}

/// Compares two checkpoints entry by entry (model and optimizer state): every entry's
/// max |a − b| / max |b| must be within `--tolerance` (0: the same bits). Prints the largest.
func compareCheckpoints(_ arguments: [String]) throws {
    let paths = arguments.prefix { !$0.hasPrefix("--") }
    guard paths.count == 2 else { throw CheckFailure("compare needs two checkpoints") }
    let tolerance = try doubleOption(arguments, "tolerance", 1e-5)
    let a = try Safetensors.load(from: URL(fileURLWithPath: paths[paths.startIndex]))
    let b = try Safetensors.load(from: URL(fileURLWithPath: paths[paths.startIndex + 1]))
    try require(a.keys == b.keys, "the checkpoints hold different entries: \(a.keys) vs \(b.keys)")
    var worst = (key: "", difference: 0.0)
    for key in a.keys {
        let (x, y) = (a[key]!, b[key]!)
        try require(x.shape == y.shape, "\(key): shapes \(x.shape) and \(y.shape)")
        let d = tolerance == 0 ? (x.scalars.map(\.bitPattern) == y.scalars.map(\.bitPattern) ? 0 : 1) : relativeDifference(x, y)
        if d > worst.difference { worst = (key, d) }
        try require(d <= tolerance, tolerance == 0 ? "\(key) differs (bit for bit expected)"
                    : "\(key) differs by \(d) (relative), more than \(tolerance)")
    }
    print(tolerance == 0 ? "compare: \(a.keys.count) entries bit for bit the same"
          : "compare: \(a.keys.count) entries within \(tolerance) (largest relative difference \(worst.difference)\(worst.key.isEmpty ? "" : " in \(worst.key)"))")
}

/// The value of `--name value` as a number, or `fallback`.
func doubleOption(_ options: [String], _ name: String, _ fallback: Double) throws -> Double {
    guard let i = options.firstIndex(of: "--" + name) else { return fallback }
    guard i + 1 < options.count, let v = Double(options[i + 1]) else { throw CheckFailure("--\(name) needs a number") }
    return v
}
