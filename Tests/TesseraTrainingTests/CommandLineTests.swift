import Foundation
import XCTest

/// The `tessera` executable, run as a user would (it is built with the tests).
final class CommandLineTests: XCTestCase {
    /// Beside the test bundle (Linux: the .xctest executable; macOS: the .xctest folder).
    private var binary: URL {
        let bundle = Bundle(for: Self.self).bundleURL
        let candidates = [bundle.appendingPathComponent("tessera"), bundle.deletingLastPathComponent().appendingPathComponent("tessera"),
                          Bundle.main.bundleURL.appendingPathComponent("tessera")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[1]
    }

    private func run(_ args: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            XCTFail("the tessera executable is not at \(binary.path); build with `swift build --build-tests`")
            return (-1, "", "")
        }
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    private func tempDir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: d) }
        return d
    }

    func testModelsListsExactParameterCounts() throws {
        let r = try run(["models", "--classes", "1000"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("11689512"), r.out)   // torchvision resnet18
        XCTAssertTrue(r.out.contains("25557032"), r.out)   // torchvision resnet50
    }

    func testMissingCheckpointFailsWithAMessageAndExitCode1() throws {
        let r = try run(["eval", "--checkpoint", "/nonexistent/model.safetensors"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("no such checkpoint file"), r.err)
    }

    func testCorruptCheckpointFailsCleanly() throws {
        let dir = try tempDir()
        let bad = dir.appendingPathComponent("bad.safetensors")
        try Data(repeating: 0xFF, count: 64).write(to: bad)
        let r = try run(["predict", "--checkpoint", bad.path, "--model", "resnet20", "x.png"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("safetensors"), r.err)
    }

    func testMissingDataFolderSaysWhereToGetCIFAR10() throws {
        let r = try run(["train", "--data", "/nonexistent/cifar", "--epochs", "1", "--out", try tempDir().path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("cifar-10-binary.tar.gz"), r.err)
    }

    func testTrainThenEvalAndPredictReadTheCheckpoint() throws {
        let env = ProcessInfo.processInfo.environment["TESSERA_DATA"]
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shared = repo.appendingPathComponent("../shared/data").standardized
        let cifar = env ?? shared.appendingPathComponent("cifar-10-batches-bin").path
        guard FileManager.default.fileExists(atPath: cifar + "/data_batch_1.bin") else {
            throw XCTSkip("CIFAR-10 not found (set TESSERA_DATA); command-line training test skipped")
        }
        let out = try tempDir().appendingPathComponent("run")
        let t = try run(["train", "--model", "mlp", "--data", cifar, "--subset", "500", "--test-subset", "100", "--epochs", "2",
                         "--batch-size", "50", "--lr", "0.05", "--schedule", "cosine", "--no-augment", "--threads", "1", "--out", out.path])
        XCTAssertEqual(t.status, 0, t.err)
        XCTAssertTrue(t.out.contains("final test accuracy"), t.out)
        let checkpoint = out.appendingPathComponent("last.safetensors").path
        let e = try run(["eval", "--checkpoint", checkpoint, "--data", cifar, "--threads", "1"])
        XCTAssertEqual(e.status, 0, e.err)
        XCTAssertTrue(e.out.contains("test accuracy"), e.out)
        XCTAssertTrue(e.out.contains("confusion matrix"), e.out)
        // Any PNG kind and size: 16-bit gray, palette with transparency, 16-bit RGBA, interlaced.
        let fixtures = repo.appendingPathComponent("Tests/TesseraVisionTests/Fixtures/png")
        let kinds = ["gray16.png", "palette8_trns.png", "rgba16.png", "interlaced_rgb8.png"].map { fixtures.appendingPathComponent($0).path }
        var images = kinds
        let png = shared.appendingPathComponent("cifar10-png-sample/test/cat/0.png").path
        if FileManager.default.fileExists(atPath: png) { images.append(png) }
        let p = try run(["predict", "--checkpoint", checkpoint, "--top-k", "2"] + images)
        XCTAssertEqual(p.status, 0, p.err)
        XCTAssertEqual(p.out.split(separator: "\n").count, images.count, p.out)
        for path in images { XCTAssertTrue(p.out.contains(path + ": "), "no prediction for \(path): \(p.out)") }
        // A corrupt file among them is reported by name and makes the exit status non-zero.
        let bad = try tempDir().appendingPathComponent("bad.png")
        try Data([0x89, 0x50, 0x4E, 0x47, 0, 1, 2, 3]).write(to: bad)
        let q = try run(["predict", "--checkpoint", checkpoint, kinds[0], bad.path])
        XCTAssertEqual(q.status, 1)
        XCTAssertTrue(q.err.contains(bad.path), q.err)
        XCTAssertTrue(q.out.contains(kinds[0] + ": "), q.out)
    }

    func testInfoPlanPrintsEveryConvolutionWithTheAlgorithmOfEachPassAndWhy() throws {
        let r = try run(["info", "--plan", "resnet20"])
        XCTAssertEqual(r.status, 0, r.err)
        let convs = r.out.split(separator: "\n").filter { !$0.hasPrefix(" ") && $0.contains(" → ") }
        XCTAssertEqual(convs.count, 19, "ResNet-20 has 19 convolutions: \(r.out)")
        XCTAssertTrue(r.out.contains("conv1  3 → 16"), r.out)
        XCTAssertTrue(r.out.contains("forward         im2col (3 input channels"), "the RGB stem's forward is im2col: \(r.out)")
        XCTAssertTrue(r.out.contains("winogradStride2"), "the downsampling convolutions: \(r.out)")
        XCTAssertTrue(r.out.contains("input gradient  col2im"), r.out)
        let forced = try run(["info", "--plan", "resnet20"], environment: ["TESSERA_CONV": "im2col"])
        XCTAssertFalse(forced.out.contains("winograd"), forced.out)
    }

    func testUnusableEnvironmentSettingsAreRefusedWithStatus2() throws {
        for (name, value) in [("TESSERA_CONV", "fast"), ("TESSERA_ISA", "avx1024")] {
            let r = try run(["info"], environment: [name: value])
            XCTAssertEqual(r.status, 2, "\(name)=\(value): \(r.err)")
            XCTAssertTrue(r.err.contains(name), r.err)
        }
    }
}
