import ArgumentParser
import Foundation
import Tessera
import TesseraTraining
import TesseraVision

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Test accuracy, per-class accuracy and the confusion matrix of a checkpoint.")

    @Option(help: "Checkpoint (last.safetensors of a run, or a plain state dict with --model).") var checkpoint: String
    @Option(help: "Model name, for a state dict without Tessera metadata.") var model: String?
    @Option(help: "Data folder (default: $TESSERA_DATA, then ../shared/data/cifar-10-batches-bin).") var data: String?
    @Option(help: "Images per batch.") var batchSize = 256
    @Flag(help: "Test-time augmentation: average the logits of each image and its horizontal flip (--tta-level 1).") var tta = false
    @Option(help: "Test-time augmentation level: 0 none, 1 flip, 2 flip and one-pixel translations (6 views).") var ttaLevel: Int?
    @Option(help: "OpenBLAS threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Refuse images of an image folder with more pixels (width x height) than this.") var maxPixels = Image.defaultMaxPixels

    func run() throws {
        do {
            BLAS.setThreads(threads)
            let loaded = try LoadedModel(checkpoint: checkpoint, modelName: model)
            guard let path = data ?? DataSource.defaultPath() else { throw DataSourceError.none }
            guard maxPixels > 0 else { throw TrainSetupError.invalid("--max-pixels must be positive, got \(maxPixels)") }
            let source = try DataSource.open(path, maxPixels: maxPixels)
            if tta && ttaLevel != nil { throw TrainSetupError.invalid("give --tta or --tta-level, not both") }
            let level = ttaLevel ?? (tta ? 1 : 0)
            guard let augmentation = TestTimeAugmentation(rawValue: level) else {
                throw TrainSetupError.invalid("--tta-level must be 0, 1 or 2, got \(level)")
            }
            let classes = loaded.classNames.count
            guard source.test.sampleShape == loaded.inputShape else {
                throw TrainSetupError.invalid("the data's images are \(source.test.sampleShape) but the model takes \(loaded.inputShape)")
            }
            let loader = DataLoader(dataset: source.test, batchSize: batchSize, shuffle: false,
                                    transform: Normalize(mean: loaded.mean, std: loaded.std), prefetch: 2)
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
