import ArgumentParser
import Foundation
import Tessera
import TesseraModels
import TesseraNN
import TesseraTraining
import TesseraVision

/// `tessera`: train, evaluate and run image classifiers from the shell.
struct TesseraCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Train, evaluate and run image classifiers (CIFAR-10, image folders, Fashion-MNIST) with Tessera.",
        version: TesseraVersion.string,
        subcommands: [Train.self, Eval.self, Predict.self, Models.self, Info.self])
}

/// Prints an error the way the command line reports it and exits with status 1.
func fail(_ error: Error) -> Never {
    FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
    Foundation.exit(1)
}

TesseraCommand.main()
