import ArgumentParser
import Foundation
import Tessera
import TesseraModels

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every model with its exact parameter count.")

    @Option(parsing: .unconditional, help: "Class count of the head (default: each model's own, 10 for CIFAR models, 1000 for torchvision's).")
    var classes: Int?

    func validate() throws {
        if let classes { try Check.positive(classes, "--classes") }
    }

    func run() throws {
        let width = ModelZoo.entries.map(\.name.count).max() ?? 10
        for e in ModelZoo.entries {
            let n = e.parameterCount(classes: classes)
            let input = e.sizesToInput ? "for \(e.inputShape.map(String.init).joined(separator: "×")) inputs, " : ""
            print(e.name.padding(toLength: width + 2, withPad: " ", startingAt: 0)
                  + String(n).leftPadded(12) + "  " + e.summary + " (\(input)\(classes ?? e.defaultClasses) classes)")
        }
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { String(repeating: " ", count: max(0, n - count)) + self }
}
