import ArgumentParser
import Foundation
import Tessera
import TesseraTraining
import TesseraModels
import TesseraVision

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Test accuracy, per-class accuracy and the confusion matrix of a checkpoint.")

    @Option(help: "Checkpoint (last.safetensors of a run, or a plain state dict with --model).") var checkpoint: String
    @Option(help: "Model name, for a state dict without Tessera metadata.") var model: String?
    @Option(help: "Data folder (default: $TESSERA_DATA, then ../shared/data/cifar-10-batches-bin).") var data: String?
    @Option(parsing: .unconditional, help: "Images per batch (1 to 65536).") var batchSize = 256
    @Flag(help: "Test-time augmentation: average the logits of each image and its horizontal flip (--tta-level 1).") var tta = false
    @Option(parsing: .unconditional, help: "Test-time augmentation level: 0 none, 1 flip, 2 flip and one-pixel translations (6 views).") var ttaLevel: Int?
    @Option(parsing: .unconditional, help: "Threads Tessera computes with (1 to 1024).") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(parsing: .unconditional, help: "Resize every test image to this square first (e.g. 224 for an ImageNet-stem model on CIFAR; default: the size the model was trained at, when it differs from the data's).")
    var resize: Int?
    @Option(parsing: .unconditional, help: "Refuse images of an image folder with more pixels (width x height) than this (default 89478485).")
    var maxPixels = Image.defaultMaxPixels

    func validate() throws {
        try Check.range(batchSize, 1...65536, "--batch-size")
        try Check.range(threads, 1...1024, "--threads")
        if let ttaLevel { try Check.range(ttaLevel, 0...2, "--tta-level") }
        if tta && ttaLevel != nil { throw ValidationError("give --tta or --tta-level, not both") }
        if let resize { try Check.range(resize, 8...4096, "--resize") }
        try Check.positive(maxPixels, "--max-pixels")
    }

    func run() throws {
        do {
            Runtime.threads = threads
            let loaded = try LoadedModel(checkpoint: checkpoint, modelName: model)
            guard let path = data ?? DataSource.defaultPath() else { throw DataSourceError.none }
            let source = try DataSource.open(path, testOnly: true, maxPixels: maxPixels)
            let level = ttaLevel ?? (tta ? 1 : 0)
            guard let augmentation = TestTimeAugmentation(rawValue: level) else {
                throw TrainSetupError.invalid("--tta-level must be 0, 1 or 2, got \(level)")
            }
            let classes = loaded.classNames.count
            let data = source.test.sampleShape, want = loaded.inputShape
            guard data.channels == want.channels else {
                throw TrainSetupError.invalid("the data's images have \(data.channels) channels but the model takes \(want.channels)")
            }
            // The size the model was trained at when it differs from the data's (as train resized
            // them), or --resize: evaluation sees what training saw.
            var side: (Int, Int)? = resize.map { ($0, $0) }
            if side == nil && (data.height != want.height || data.width != want.width) {
                side = (want.height, want.width)
                FileHandle.standardError.write(Data(("note: the model was trained on \(want.height)×\(want.width) images and the data's are "
                    + "\(data.height)×\(data.width): resizing them to \(want.height)×\(want.width) (--resize N chooses another size)\n").utf8))
            }
            var transforms: [any Transform] = []
            if let (h, w) = side { transforms.append(Resize(height: h, width: w)) }
            transforms.append(Normalize(mean: loaded.mean, std: loaded.std))
            let loader = DataLoader(dataset: source.test, batchSize: batchSize, shuffle: false, transform: Compose(transforms), prefetch: 2)
            var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
            try withNoGrad {
                let batches = loader.epoch(0)
                while let batch = try batches.next() {
                    let logits = augmentation.logits(of: loaded.model, batch.images)
                    let predicted = logits.argmax(axis: 1).scalars
                    for (p, label) in zip(predicted, batch.labelIndices) where label < classes { confusion[label][Int(p)] += 1 }
                }
            }
            let total = confusion.joined().reduce(0, +)
            let correct = (0..<classes).reduce(0) { $0 + confusion[$1][$1] }
            print(String(format: "test accuracy %.2f%% (%d / %d)%@", 100 * Double(correct) / Double(max(total, 1)), correct, total, ["", " with flip TTA", " with flip + translate TTA"][level]))
            print("\nper-class accuracy:")
            for (i, name) in loaded.classNames.enumerated() {
                let n = confusion[i].reduce(0, +)
                let padded = name.count >= 14 ? name : name + String(repeating: " ", count: 14 - name.count)
                print("  " + padded + String(format: " %6.2f%%  (%d images)", 100 * Double(confusion[i][i]) / Double(max(n, 1)), n))
            }
            print("\nconfusion matrix (rows: true class, columns: predicted):")
            print("      " + (0..<classes).map { String(format: "%5d", $0) }.joined())
            for i in 0..<classes { print(String(format: "%5d ", i) + confusion[i].map { String(format: "%5d", $0) }.joined()) }
        } catch {
            fail(error)
        }
    }
}
