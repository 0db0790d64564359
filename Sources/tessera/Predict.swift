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
    @Option(parsing: .unconditional, help: "How many classes to show per image (1 or more).") var topK = 3
    @Option(parsing: .unconditional, help: "Refuse images with more pixels (width x height) than this, before decoding them (default 89478485, PIL's warning limit).")
    var maxPixels = Image.defaultMaxPixels
    @Argument(help: "PNG or JPEG files (recognized by content).") var images: [String]

    func validate() throws {
        try Check.positive(topK, "--top-k")
        try Check.positive(maxPixels, "--max-pixels")
    }

    func run() throws {
        do {
            let loaded = try LoadedModel(checkpoint: checkpoint, modelName: model)
            let format: PixelFormat = loaded.inputShape.channels == 1 ? .gray : .rgb
            var failures = 0
            for path in images {
                do {
                    let image = try ImageFile.read(contentsOf: path, as: format, maxPixels: maxPixels)
                    let probs = withNoGrad { loaded.model(loaded.input(from: image)).softmax(axis: 1).scalars }
                    let top = probs.enumerated().sorted { $0.element > $1.element }.prefix(topK)
                    print(path + ": " + top.map { String(format: "%@ %.1f%%", loaded.classNames[$0.offset] as NSString, Double($0.element) * 100) }
                        .joined(separator: ", "))
                } catch {
                    failures += 1
                    let message = "\(error)"   // decoding errors name the file already
                    FileHandle.standardError.write(Data("error: \(message.contains(path) ? message : path + ": " + message)\n".utf8))
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
