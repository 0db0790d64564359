import ArgumentParser
import Foundation
import Tessera
import TesseraTraining
import TesseraVision

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify PNG and JPEG images (any kind and size: gray, palette, alpha, 16-bit, progressive) with a checkpoint.")

    @Option(help: "Checkpoint (last.safetensors of a run, or a plain state dict with --model).") var checkpoint: String
    @Option(help: "Model name, for a state dict without Tessera metadata.") var model: String?
    @Option(help: "How many classes to show per image.") var topK = 3
    @Option(help: "Refuse images with more pixels (width x height) than this, before decoding them.") var maxPixels = Image.defaultMaxPixels
    @Argument(help: "PNG or JPEG files (recognized by content).") var images: [String]

    func run() throws {
        do {
            guard maxPixels > 0 else { throw TrainSetupError.invalid("--max-pixels must be positive, got \(maxPixels)") }
            let loaded = try LoadedModel(checkpoint: checkpoint, modelName: model)
            let format: PixelFormat = loaded.inputShape.channels == 1 ? .gray : .rgb
            var failures = 0
            for path in images {
                do {
                    let image = try ImageFile.read(contentsOf: path, as: format, maxPixels: maxPixels)
                    let probs = withNoGrad { loaded.model(loaded.input(from: image)).softmax(axis: 1).scalars }
                    let top = probs.enumerated().sorted { $0.element > $1.element }.prefix(max(topK, 1))
                    print(path + ": " + top.map { String(format: "%@ %.1f%%", loaded.classNames[$0.offset] as NSString, Double($0.element) * 100) }
                        .joined(separator: ", "))
                } catch {
                    failures += 1
                    FileHandle.standardError.write("error: \(path): \(error)\n".data(using: .utf8)!)
                }
            }
            if failures > 0 { throw ExitCode(1) }
        } catch let e as ExitCode {
            throw e
        } catch {
            fail(error)
        }
    }
}
