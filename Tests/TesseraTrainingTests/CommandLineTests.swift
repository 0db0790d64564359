import Foundation
import XCTest
import Tessera
import TesseraNN
import TesseraModels
import TesseraTestSupport

/// The `tessera` executable, run as a user would (it is built with the tests).
final class CommandLineTests: XCTestCase {
    /// Beside the test bundle (Linux: the .xctest executable; macOS: the .xctest folder).
    private var binary: URL {
        let bundle = Bundle(for: Self.self).bundleURL
        let candidates = [bundle.appendingPathComponent("tessera"), bundle.deletingLastPathComponent().appendingPathComponent("tessera"),
                          Bundle.main.bundleURL.appendingPathComponent("tessera")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[1]
    }

    private func run(_ args: [String], environment: [String: String] = [:], in directory: URL? = nil) throws -> (status: Int32, out: String, err: String) {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            XCTFail("the tessera executable is not at \(binary.path); build with `swift build --build-tests`")
            return (-1, "", "")
        }
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { p.currentDirectoryURL = directory }
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
        // Evaluation needs only the test split: a folder with test_batch.bin alone is enough.
        let testOnly = try tempDir()
        try FileManager.default.createSymbolicLink(atPath: testOnly.appendingPathComponent("test_batch.bin").path,
                                                   withDestinationPath: cifar + "/test_batch.bin")
        let alone = try run(["eval", "--checkpoint", checkpoint, "--data", testOnly.path, "--threads", "1"])
        XCTAssertEqual(alone.status, 0, alone.err)
        XCTAssertEqual(alone.out, e.out, "the same checkpoint on the same test images")
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
        XCTAssertTrue(r.out.contains("forward         direct3x3 (3 input channels"), "the RGB stem's forward is direct: \(r.out)")
        XCTAssertTrue(r.out.contains("winogradStride2"), "the downsampling convolutions: \(r.out)")
        XCTAssertTrue(r.out.contains("input gradient  col2im"), r.out)
        let forced = try run(["info", "--plan", "resnet20"], environment: ["TESSERA_CONV": "im2col"])
        XCTAssertFalse(forced.out.contains("winograd") || forced.out.contains("direct3x3"), forced.out)
    }

    func testUnusableEnvironmentSettingsAreRefusedWithStatus2() throws {
        for (name, value) in [("TESSERA_CONV", "fast"), ("TESSERA_ISA", "avx1024")] {
            let r = try run(["info"], environment: [name: value])
            XCTAssertEqual(r.status, 2, "\(name)=\(value): \(r.err)")
            XCTAssertTrue(r.err.contains(name), r.err)
        }
    }

    /// Every numeric option is checked when it is parsed: status 2 and a message naming the option
    /// and the range, before any data is read.
    func testOutOfRangeNumbersAreRefusedWithTheOptionAndItsRange() throws {
        let cases: [([String], String)] = [
            (["train", "--batch-size", "0"], "--batch-size must be in 1…65536, got 0"),
            (["train", "--batch-size", "-1"], "--batch-size must be in 1…65536, got -1"),
            (["train", "--epochs=-1"], "--epochs must be 1 or more, got -1"),
            (["train", "--subset=-1"], "--subset must be 1 or more"),
            (["train", "--subset", "0"], "--subset must be 1 or more, got 0"),
            (["train", "--test-subset", "0"], "--test-subset must be 1 or more, got 0"),
            (["train", "--lr", "inf"], "--lr must be a finite number above 0.0, got inf"),
            (["train", "--lr", "nan"], "--lr must be a finite number above 0.0, got nan"),
            (["train", "--lr=-0.1"], "--lr must be a finite number above 0.0, got -0.1"),
            (["train", "--momentum=-1"], "--momentum must be in [0, 1), got -1.0"),
            (["train", "--momentum", "2"], "--momentum must be in [0, 1), got 2.0"),
            (["train", "--weight-decay=-1"], "--weight-decay must be a finite number of at least 0.0"),
            (["train", "--label-smoothing", "1.5"], "--label-smoothing must be in [0, 1), got 1.5"),
            (["train", "--label-smoothing=-0.5"], "--label-smoothing must be in [0, 1), got -0.5"),
            (["train", "--threads", "0"], "--threads must be in 1…1024, got 0"),
            (["train", "--threads", "-1"], "--threads must be in 1…1024, got -1"),
            (["train", "--warmup-epochs=-1"], "--warmup-epochs must be in 0…30, got -1"),
            (["train", "--model", "resnet21"], "unknown model 'resnet21'"),
            (["train", "--optimizer", "sgdd"], "sgdd"),
            (["eval", "--checkpoint", "x", "--batch-size", "0"], "--batch-size must be in 1…65536, got 0"),
            (["eval", "--checkpoint", "x", "--threads", "0"], "--threads must be in 1…1024, got 0"),
            (["predict", "--checkpoint", "x", "--top-k", "0", "a.png"], "--top-k must be 1 or more, got 0"),
            (["predict", "--checkpoint", "x", "--top-k", "-5", "a.png"], "--top-k must be 1 or more, got -5"),
        ]
        for (args, phrase) in cases {
            let r = try run(args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.err)")
            XCTAssertTrue(r.err.contains(phrase), "\(args): \(r.err)")
            XCTAssertFalse(r.err.contains("Fatal error") || r.err.contains("Stack dump"), "\(args) trapped: \(r.err)")
        }
    }

    func testResumeAppliesWhatCanChangeAndRefusesTheRestByName() throws {
        let dir = try tempDir()
        let config = #"{"config": {"data": "/nowhere", "out": "\#(dir.path)", "model": "resnet20", "epochs": 4}}"#
        try Data(config.utf8).write(to: dir.appendingPathComponent("config.json"))
        let r = try run(["train", "--resume", dir.path, "--epochs", "5", "--lr", "0.5", "--model", "resnet56"])
        XCTAssertEqual(r.status, 2, r.err)
        XCTAssertTrue(r.err.contains("--model, --lr cannot change on --resume"), r.err)
        let fewer = try run(["train", "--resume", dir.path, "--epochs", "2"])
        XCTAssertEqual(fewer.status, 2, fewer.err)
        XCTAssertTrue(fewer.err.contains("--epochs 2 is fewer than the run's 4"), fewer.err)
    }

    func testPathsThatAreTheWrongKindOfThingSaySo() throws {
        let dir = try tempDir()
        let file = dir.appendingPathComponent("file")
        try Data([1]).write(to: file)
        let data = try run(["train", "--data", file.path, "--out", dir.appendingPathComponent("o").path])
        XCTAssertEqual(data.status, 1)
        XCTAssertTrue(data.err.contains("is a file; it must be the folder that holds the data"), data.err)
        let out = try run(["train", "--data", dir.path, "--out", file.path])
        XCTAssertEqual(out.status, 1)
        XCTAssertTrue(out.err.contains("is a file, not a folder"), out.err)
        let folder = try run(["eval", "--checkpoint", dir.path])
        XCTAssertEqual(folder.status, 1)
        XCTAssertTrue(folder.err.contains("is a folder, not a checkpoint file"), folder.err)
        XCTAssertFalse(folder.err.contains("NSCocoaErrorDomain"), folder.err)
    }

    func testAResumeFromAnotherFolderAppliesMoreEpochsAMovedDataFolderAndThreads() throws {
        let data = try tinyImageFolder(trainPerClass: 4, testPerClass: 3)
        let work = try tempDir()
        // Started with a relative --data, from the folder that holds it.
        let parent = URL(fileURLWithPath: data).deletingLastPathComponent(), name = URL(fileURLWithPath: data).lastPathComponent
        let out = work.appendingPathComponent("run").path
        let common = ["--model", "mlp", "--batch-size", "4", "--no-augment", "--threads", "1"]
        let first = try run(["train", "--data", name, "--epochs", "1", "--test-subset", "5", "--out", out] + common, in: parent)
        XCTAssertEqual(first.status, 0, first.err)
        XCTAssertTrue(first.out.contains("8 train / 5 test images"), "the header counts the images it evaluates: \(first.out)")
        // Resumed from elsewhere: more epochs and another thread count are applied.
        let second = try run(["train", "--resume", out, "--epochs", "2", "--threads", "2"], in: work)
        XCTAssertEqual(second.status, 0, second.err)
        XCTAssertTrue(second.out.contains("resuming \(out) after epoch 1 of 2"), second.out)
        XCTAssertTrue(second.out.contains("2 threads"), second.out)
        // The data moved: --data says where it is now.
        let moved = work.appendingPathComponent("moved").path
        try FileManager.default.moveItem(atPath: data, toPath: moved)
        let lost = try run(["train", "--resume", out, "--epochs", "3"], in: work)
        XCTAssertEqual(lost.status, 1, lost.err)
        XCTAssertTrue(lost.err.contains(data), "the folder the run was started on is named: \(lost.err)")
        let third = try run(["train", "--resume", out, "--epochs", "3", "--data", moved], in: work)
        XCTAssertEqual(third.status, 0, third.err)
        XCTAssertTrue(third.out.contains("resuming \(out) after epoch 2 of 3"), third.out)
        XCTAssertTrue(third.out.contains("at \(moved)"), third.out)
        let lines = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3, "one metrics line per epoch over the three commands")
    }

    func testAConfigFileThatNoRunCanUseIsRefusedOnResumeWithoutATrap() throws {
        let data = try tinyImageFolder(trainPerClass: 2)
        let cases: [(String, String)] = [
            (#""batchSize": 0"#, "batchSize must be in 1…65536, got 0"),
            (#""lr": -1"#, "lr must be a finite number above 0, got -1.0"),
            (#""momentum": 1.5"#, "momentum must be in [0, 1), got 1.5"),
            (#""threads": 0"#, "threads must be in 1…1024, got 0"),
            (#""warmupEpochs": 9"#, "warmupEpochs must be in 0…4, got 9"),
            (#""model": "resnet21""#, "model must be one of"),
            (#""epochs": "four""#, "the \"config\" object cannot be read"),
        ]
        for (setting, phrase) in cases {
            let dir = try tempDir()
            let config = #"{"config": {"data": "\#(data)", "out": "\#(dir.path)", "model": "mlp", "epochs": 4, \#(setting)}}"#
            try Data(config.utf8).write(to: dir.appendingPathComponent("config.json"))
            let r = try run(["train", "--resume", dir.path])
            XCTAssertTrue(r.status == 1 || r.status == 2, "\(setting): \(r.status) \(r.err)")
            XCTAssertTrue(r.err.contains(dir.appendingPathComponent("config.json").path) && r.err.contains(phrase), "\(setting): \(r.err)")
            XCTAssertFalse(r.err.contains("Fatal error") || r.err.contains("Stack dump"), "\(setting) trapped: \(r.err)")
        }
    }

    func testAKillDuringTheFirstEpochLeavesAFolderThatResumeStartsOver() throws {
        let (first, out, _) = try startLongRun()
        usleep(200_000)
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        XCTAssertEqual(first.terminationReason, .uncaughtSignal)
        let (second, log, err) = try start(["train", "--resume", out], until: "model mlp")
        usleep(200_000)
        second.terminate()
        let secondErr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        second.waitUntilExit()
        let secondOut = try String(contentsOf: log, encoding: .utf8)
        XCTAssertTrue(secondOut.contains("has no last.safetensors yet (stopped in its first epoch): starting it over"), secondOut + secondErr)
        XCTAssertEqual(second.terminationStatus, 128 + SIGTERM, secondErr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/last.safetensors"), "the resumed run saved when stopped: \(secondErr)")
    }

    func testEvalResizesToTheSizeTheModelWasTrainedAtAndExportWritesThePlainStateDict() throws {
        let data = try tinyImageFolder(trainPerClass: 2)
        let dir = try tempDir()
        let out = dir.appendingPathComponent("run").path
        let t = try run(["train", "--model", "resnet20", "--resize", "16", "--data", data, "--epochs", "1", "--batch-size", "4",
                         "--no-augment", "--threads", "1", "--out", out])
        XCTAssertEqual(t.status, 0, t.err)
        let checkpoint = out + "/last.safetensors"
        let e = try run(["eval", "--checkpoint", checkpoint, "--data", data, "--threads", "1"])
        XCTAssertEqual(e.status, 0, e.err)
        XCTAssertTrue(e.err.contains("trained on 16×16 images and the data's are 32×32: resizing them to 16×16"), e.err)
        let chosen = try run(["eval", "--checkpoint", checkpoint, "--data", data, "--threads", "1", "--resize", "32"])
        XCTAssertEqual(chosen.status, 0, chosen.err)
        XCTAssertFalse(chosen.err.contains("resizing"), chosen.err)

        let exported = dir.appendingPathComponent("model.safetensors")
        let x = try run(["export", "--checkpoint", checkpoint, "--out", exported.path])
        XCTAssertEqual(x.status, 0, x.err)
        let sd = try Safetensors.load(from: exported)
        let model = try ModelZoo.make("resnet20", classes: 2, inputShape: [3, 16, 16])
        XCTAssertEqual(sd.keys.sorted(), model.stateDict().keys.sorted(), "exactly the model's keys: no prefix, no optimizer state")
        XCTAssertEqual(sd.metadata["format"], "pt")
        XCTAssertEqual(sd.metadata["class_names"], #"["cat","dog"]"#)
        XCTAssertEqual(sd.metadata["input_shape"], "3,16,16")
        XCTAssertEqual(sd.metadata["mean"]?.split(separator: ",").count, 3)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("model.json"))) as? [String: Any]
        XCTAssertEqual(json?["class_names"] as? [String], ["cat", "dog"])
        XCTAssertEqual((json?["std"] as? [Double])?.count, 3)
    }

    /// Starts an MLP run of far more steps than a test waits for (500 epochs of 400 images at batch
    /// 2, each epoch longer than the test's pauses), so a signal always lands inside training;
    /// returns once it has printed its header, with its output folder and stderr.
    private func startLongRun() throws -> (Process, String, Pipe) {
        let data = try tinyImageFolder(trainPerClass: 200)
        let out = try tempDir().appendingPathComponent("run").path
        let args = ["train", "--model", "mlp", "--data", data, "--epochs", "500", "--batch-size", "2", "--no-augment",
                    "--threads", "1", "--out", out]
        let (process, _, err) = try start(args, until: "model mlp")
        return (process, out, err)
    }

    /// Starts `tessera` with stdout in a file, and waits (up to two minutes) until it has printed `marker`.
    private func start(_ args: [String], until marker: String) throws -> (Process, URL, Pipe) {
        let log = try tempDir().appendingPathComponent("stdout")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        p.standardOutput = try FileHandle(forWritingTo: log)
        let err = Pipe()
        p.standardError = err
        try p.run()
        let deadline = Date().addingTimeInterval(120)
        while p.isRunning, Date() < deadline, !((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains(marker) {
            usleep(20_000)
        }
        return (p, log, err)
    }

    func testSIGTERMAndSIGHUPSaveTheCurrentStepExitWith128PlusTheSignalAndTheRunResumes() throws {
        let (first, out, err1) = try startLongRun()
        XCTAssertTrue(first.isRunning, String(decoding: err1.fileHandleForReading.availableData, as: UTF8.self))
        usleep(300_000)
        first.terminate()   // SIGTERM, as a batch scheduler sends it
        let firstErr = String(decoding: err1.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        first.waitUntilExit()
        XCTAssertEqual(first.terminationReason, .exit, "a handled signal, not a kill: \(firstErr)")
        XCTAssertEqual(first.terminationStatus, 128 + SIGTERM, firstErr)
        XCTAssertTrue(firstErr.contains("interrupted by SIGTERM at epoch 1, step "), firstErr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/last.safetensors"), firstErr)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])

        let (second, log, err2) = try start(["train", "--resume", out], until: "model mlp")
        usleep(300_000)
        kill(second.processIdentifier, SIGHUP)   // a closed terminal
        let secondErr = String(decoding: err2.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        second.waitUntilExit()
        let secondOut = try String(contentsOf: log, encoding: .utf8)
        XCTAssertEqual(second.terminationStatus, 128 + SIGHUP, secondErr)
        XCTAssertTrue(secondOut.contains("resuming \(out) after epoch 0 of 500 and "), secondOut)
        XCTAssertTrue(secondErr.contains("interrupted by SIGHUP"), secondErr)
    }

    /// The scenario the project started from, end to end with a live PyTorch (skipped visibly
    /// without one): a torchvision ResNet-50 state dict → `tessera train --init-from` → `tessera
    /// export` → torchvision's `load_state_dict(strict=True)`, and the same logits on the same input.
    func testATorchvisionResNet50FineTunedAndExportedLoadsStrictlyInPyTorchWithTheSameLogits() throws {
        try Python.require("torch, torchvision, safetensors", for: "the torchvision → tessera → torchvision round trip")
        let dir = try tempDir()
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/TesseraNNTests/Fixtures/torch_models.py").path
        let pretrained = dir.appendingPathComponent("resnet50.safetensors").path
        let made = try Python.run([script, "export", "resnet50", "1000", "0", "5", pretrained, dir.appendingPathComponent("unused.json").path])
        XCTAssertEqual(made.status, 0, made.error)

        let data = try tinyImageFolder(trainPerClass: 2)
        let out = dir.appendingPathComponent("run").path
        let t = try run(["train", "--model", "resnet50", "--init-from", pretrained, "--data", data, "--epochs", "1", "--batch-size", "2",
                         "--threads", "2", "--no-augment", "--freeze", "backbone", "--lr", "0.01", "--out", out])
        XCTAssertEqual(t.status, 0, t.err)
        XCTAssertTrue(t.out.contains("resnet50 is built for 224×224 images and the data's are 32×32") && t.out.contains("pass --resize 224"),
                      "an ImageNet-stem model on 32×32 images is trained with a warning: \(t.out)")
        XCTAssertTrue(t.out.contains("a new 2-class head was initialized"), "the 1000-class head is replaced for 2 classes: \(t.out)")
        let exported = dir.appendingPathComponent("model.safetensors")
        let e = try run(["export", "--checkpoint", out + "/last.safetensors", "--out", exported.path])
        XCTAssertEqual(e.status, 0, e.err)

        // Tessera's logits for a normalized input, then PyTorch's for the same input and weights.
        let model = try ModelZoo.make("resnet50", classes: 2, inputShape: [3, 32, 32])
        try model.load(from: exported)
        model.eval()
        var g = SeededGenerator(seed: 11)
        let x = Tensor.randn([2, 3, 32, 32], generator: &g)
        let logits = withNoGrad { model(x) }
        var input = StateDict()
        input.set("input", x)
        let inputURL = dir.appendingPathComponent("input.safetensors")
        try Safetensors.save(input, to: inputURL)
        let r = try Python.run([script, "logits", "resnet50", "2", "0", exported.path, inputURL.path])
        XCTAssertEqual(r.status, 0, "torchvision's strict load_state_dict: \(r.error)")
        guard r.status == 0, let obj = try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any] else {
            return XCTFail("no JSON from PyTorch: \(r.output) \(r.error)")
        }
        XCTAssertEqual(obj["impl"] as? String, "torchvision")
        let torchLogits = (obj["logits"] as! [NSNumber]).map(\.floatValue)
        // torch.allclose(rtol=1e-4, atol=1e-4): the random backbone gives logits in the thousands, where float32 itself
        // resolves only ~5e-4.
        TensorCheck.close(logits.scalars, torchLogits, rtol: 1e-4, atol: 1e-4, "exported resnet50 logits, Tessera vs torchvision")
    }
}
