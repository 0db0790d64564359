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
        subcommands: [Train.self, Eval.self, Predict.self, Export.self, Models.self, Info.self])
}

/// Prints an error the way the command line reports it and exits with status 1.
func fail(_ error: Error) -> Never {
    FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
    Foundation.exit(1)
}

/// The environment variables Tessera reads, refused up front when they hold a value that cannot
/// be used (the library itself would only warn and fall back).
func validateEnvironment() throws {
    let env = ProcessInfo.processInfo.environment
    if let isa = env["TESSERA_ISA"], !isa.isEmpty, isa != "auto" {
        guard let k = KernelISA(rawValue: isa) else {
            throw ValidationError("TESSERA_ISA=\(isa) is not one of auto, \(KernelISA.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard k.isSupported else {
            throw ValidationError("TESSERA_ISA=\(isa): this CPU does not support it (supported: \(Runtime.supportedISAs.map(\.rawValue).joined(separator: ", ")))")
        }
    }
    if let conv = env["TESSERA_CONV"], !conv.isEmpty, ConvPolicy(rawValue: conv) == nil {
        throw ValidationError("TESSERA_CONV=\(conv) is not one of \(ConvPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
    }
}

// Usage errors (bad options, bad environment) exit with status 2, failures with 1, help with 0.
do {
    try validateEnvironment()
    var command = try TesseraCommand.parseAsRoot()
    try command.run()
} catch let code as ExitCode {
    Foundation.exit(code.rawValue)
} catch {
    let code = TesseraCommand.exitCode(for: error)
    if code == .success {
        TesseraCommand.exit(withError: error)
    }
    FileHandle.standardError.write(Data((TesseraCommand.fullMessage(for: error) + "\n").utf8))
    Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
}
