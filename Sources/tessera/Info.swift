import ArgumentParser
import Foundation
import Tessera
import TesseraModels
import TesseraNN
import TesseraTraining
import TesseraVision

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Version, CPU, kernel instruction set, OpenBLAS core and threads, libpng; with --plan, the convolution algorithms of a model.")

    @Option(help: ArgumentHelp("Print, for each convolution of this model, the algorithm of each pass and why.",
                               discussion: ModelZoo.names.joined(separator: ", ")))
    var plan: String?
    @Option(parsing: .unconditional, help: "Batch size the plan is made for (1 to 65536).") var batch = 128

    func validate() throws {
        try Check.range(batch, 1...65536, "--batch")
        if let plan, !ModelZoo.names.contains(plan) {
            throw ValidationError("--plan: unknown model '\(plan)'; available: \(ModelZoo.names.joined(separator: ", "))")
        }
    }

    func run() throws {
        if let plan { return try printPlan(plan) }
        print("tessera \(TesseraVersion.string)")
        print(Machine.summary)
        for warning in Machine.warnings { print("warning: " + warning) }
        print("libpng: \(PNG.libpngVersion)")
        print("data: \(DataSource.defaultPath() ?? "none found (set TESSERA_DATA or pass --data)")")
    }

    /// One dummy forward records each convolution's input shape; the plans are then made for `batch`.
    private func printPlan(_ name: String) throws {
        let entry = try ModelZoo.entry(name)
        let model = withSkippedInitialization { entry.make() }
        model.eval()
        withNoGrad { _ = model(Tensor.zeros([1] + entry.inputShape)) }
        print("convolution plan of \(name) at batch \(batch), TESSERA_CONV=\(Runtime.convolutionPolicy.rawValue), kernels \(Runtime.isa):")
        for (path, m) in model.namedModules() {
            guard let conv = m as? Conv2d, let shape = conv.lastInputShape else { continue }
            let p = conv.plan(forInput: [batch] + shape.dropFirst())
            print("\(path)  \(conv.inChannels) → \(conv.outChannels), \(conv.kernelSize.h)×\(conv.kernelSize.w) stride \(conv.stride), input \(shape[2])×\(shape[3])")
            print("    forward         \(p.forward)")
            print("    input gradient  \(p.inputGradient)")
            print("    weight gradient \(p.weightGradient)")
        }
    }
}
