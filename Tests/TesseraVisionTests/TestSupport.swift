import Foundation
import XCTest

/// Paths shared by the TesseraVision tests.
enum TestPaths {
    /// The package root (three levels above this file).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The shared data directory: $TESSERA_DATA, else `../shared/data` beside the package.
    static var dataRoot: String? {
        if let env = ProcessInfo.processInfo.environment["TESSERA_DATA"], !env.isEmpty {
            return env
        }
        let candidate = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data").path
        return FileManager.default.fileExists(atPath: candidate) ? candidate : nil
    }

    /// A directory under the shared data root, or an XCTSkip saying what is missing.
    static func data(_ relative: String) throws -> String {
        guard let root = dataRoot else {
            throw XCTSkip("CIFAR-10 data not found: set TESSERA_DATA or provide ../shared/data beside the package")
        }
        let path = (root as NSString).appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("\(path) not found: the shared data set is incomplete")
        }
        return path
    }

    /// A file inside the test bundle's Fixtures folder.
    static func fixture(_ relative: String) -> String {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(relative).path
    }

    /// A fresh temporary directory, removed when the test ends.
    static func temporaryDirectory(_ test: XCTestCase) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-vision-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }
}
