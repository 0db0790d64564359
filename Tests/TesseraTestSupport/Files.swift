import Foundation
import XCTest

/// Paths the tests share: the package root, the data folder (found through `TESSERA_DATA` or
/// `../shared/data` beside the package, skipped visibly when absent) and temporary folders.
public enum TestPaths {
    /// The package root (two levels above this file).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The shared data directory: $TESSERA_DATA, else `../shared/data` beside the package.
    public static var dataRoot: String? {
        if let env = ProcessInfo.processInfo.environment["TESSERA_DATA"], !env.isEmpty {
            return env
        }
        let candidate = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data").path
        return FileManager.default.fileExists(atPath: candidate) ? candidate : nil
    }

    /// A directory under the shared data root, or an XCTSkip saying what is missing.
    public static func data(_ relative: String) throws -> String {
        guard let root = dataRoot else {
            throw XCTSkip("data not found: set TESSERA_DATA or provide ../shared/data beside the package (needs \(relative))")
        }
        let path = (root as NSString).appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("\(path) not found: the shared data set is incomplete")
        }
        return path
    }

    /// A file inside a test bundle's Fixtures folder (pass `Bundle.module`).
    public static func fixture(_ relative: String, in bundle: Bundle) -> String {
        bundle.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(relative).path
    }

    /// A fresh empty temporary directory, removed when the test ends.
    public static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}

/// A live PyTorch for the interop checks: `python3` with the modules a test needs. A test calls
/// ``require(_:for:)`` first, which skips it visibly where they are not installed.
public enum Python {
    /// Runs `python3 -B args…` and returns its exit status, standard output and standard error.
    @discardableResult
    public static func run(_ args: [String]) throws -> (status: Int32, output: String, error: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-B"] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Whether `import modules` works (comma-separated, e.g. "torch, safetensors").
    public static func has(_ modules: String) -> Bool {
        (try? run(["-c", "import " + modules]))?.status == 0
    }

    /// Throws an `XCTSkip` naming the check when `modules` cannot be imported.
    public static func require(_ modules: String, for check: String) throws {
        if !has(modules) {
            throw XCTSkip("python3 -c 'import \(modules)' failed (pip install torch torchvision safetensors): skipping \(check)")
        }
    }
}
