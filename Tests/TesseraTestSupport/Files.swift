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
