import ArgumentParser
import Foundation
import Tessera
import TesseraTraining
import TesseraVision

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Version, OpenBLAS core and threads, cores, libpng.")

    func run() throws {
        print("tessera \(TesseraVersion.string)")
        print("cores: \(ProcessInfo.processInfo.activeProcessorCount)")
        print("OpenBLAS: \(BLAS.config)")
        print("OpenBLAS core: \(BLAS.coreName), threads: \(Runtime.threads)")
        print("libpng: \(PNG.libpngVersion)")
        print("data: \(DataSource.defaultPath() ?? "none found (set TESSERA_DATA or pass --data)")")
    }
}
