// swift-tools-version:6.0
// Tessera — a deep-learning and numerical engine in Swift on OpenBLAS, LAPACKE, libpng and libjpeg-turbo.
import PackageDescription

let package = Package(
    name: "Tessera",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Tessera", targets: ["Tessera"]),
        .library(name: "TesseraNN", targets: ["TesseraNN"]),
        .library(name: "TesseraModels", targets: ["TesseraModels"]),
        .library(name: "TesseraVision", targets: ["TesseraVision"]),
        .library(name: "TesseraTraining", targets: ["TesseraTraining"]),
        .library(name: "TesseraDistributed", targets: ["TesseraDistributed"]),
        .executable(name: "tessera", targets: ["tessera"]),
        .executable(name: "bench", targets: ["bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation` (the DocC catalogs under Sources/*/*.docc).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // System libraries: one module map and one shim header each, found through pkg-config.
        .systemLibrary(
            name: "COpenBLAS", path: "SystemLibraries/COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]),
        .systemLibrary(
            name: "CLAPACKE", path: "SystemLibraries/CLAPACKE", pkgConfig: "lapacke",
            providers: [.apt(["liblapacke-dev"]), .brew(["lapack"])]),
        .systemLibrary(
            name: "CPNG", path: "SystemLibraries/CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        .systemLibrary(
            name: "CTurboJPEG", path: "SystemLibraries/CTurboJPEG", pkgConfig: "libturbojpeg",
            providers: [.apt(["libturbojpeg0-dev"]), .brew(["jpeg-turbo"])]),
        .systemLibrary(
            name: "CZlib", path: "SystemLibraries/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        // Open MPI, for TesseraDistributed only: SwiftPM reads a system library's pkg-config file
        // only when it builds a target that depends on it, so packages using the other products
        // do not need MPI installed.
        .systemLibrary(
            name: "CMPI", path: "SystemLibraries/CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"]), .brew(["open-mpi"])]),

        // The hot loops that are not GEMM, in C, compiled once per instruction set (baseline, AVX2,
        // AVX-512) through per-function target attributes and chosen at run time from cpuid.
        .target(name: "CTesseraKernels"),
        // The tensor core: storage, views, kernels, autograd, BLAS and LAPACK bindings.
        .target(name: "Tessera", dependencies: ["CTesseraKernels", "COpenBLAS", "CLAPACKE"]),

        // The Trainer (metrics, checkpoints, resume) and the `tessera` command line.
        .target(name: "TesseraTraining", dependencies: [
            "Tessera", "TesseraNN", "TesseraModels", "TesseraVision",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // `tessera train --distributed` needs TesseraDistributed, hence Open MPI, for the executable
        // only: the library products other packages use do not.
        .executableTarget(name: "tessera", dependencies: [
            "Tessera", "TesseraNN", "TesseraModels", "TesseraVision", "TesseraTraining", "TesseraDistributed",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // `swift run -c release bench`: Tessera beside the PyTorch reference; `bench --distributed`
        // under mpirun: data-parallel training beside one process.
        .executableTarget(name: "bench", dependencies: [
            "Tessera", "TesseraNN", "TesseraModels", "TesseraVision", "COpenBLAS", "TesseraDistributed", "CMPI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Modules, layers, optimizers, LR schedules, safetensors state dicts.
        .target(name: "TesseraNN", dependencies: ["Tessera"]),
        // The model zoo: MLP, CIFAR ResNets, torchvision ResNets.
        .target(name: "TesseraModels", dependencies: ["Tessera", "TesseraNN"]),
        // PNG codec in C: the only code that calls libpng, owning its setjmp/longjmp.
        .target(name: "CTesseraPNG", dependencies: ["CPNG"]),
        // JPEG decoder in C: the only code that calls libjpeg-turbo (its TurboJPEG API).
        .target(name: "CTesseraJPEG", dependencies: ["CTurboJPEG"]),
        // Image ingestion: PNG and JPEG, CIFAR/ImageFolder/IDX datasets, transforms, prefetching loader.
        .target(name: "TesseraVision", dependencies: ["Tessera", "CTesseraKernels", "CTesseraPNG", "CTesseraJPEG", "CZlib"]),

        // Data-parallel training over MPI: communicator with a watchdog, collectives, parameter
        // broadcast, the bucketed gradient reducer, distributed samplers, metric sums, and the
        // Trainer's coordinator (so it sits above TesseraTraining, which knows nothing of MPI).
        .target(name: "TesseraDistributed", dependencies: ["Tessera", "TesseraNN", "TesseraTraining", "CMPI"]),
        // The checks that need several processes, run under mpirun by scripts/test.sh
        // (scripts/distributed-checks.sh); not a product.
        .executableTarget(name: "DistributedChecks", dependencies: [
            "Tessera", "TesseraNN", "TesseraModels", "TesseraVision", "TesseraTraining", "TesseraDistributed", "CMPI",
        ]),

        // Helpers every test target shares: closeness, the gradient checker, fixtures, paths.
        .target(name: "TesseraTestSupport", dependencies: ["Tessera"], path: "Tests/TesseraTestSupport"),
        .testTarget(name: "TesseraTests", dependencies: ["Tessera", "CTesseraKernels", "TesseraTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TesseraNNTests", dependencies: ["Tessera", "TesseraNN", "TesseraModels", "TesseraTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TesseraVisionTests", dependencies: ["Tessera", "TesseraVision", "CZlib", "TesseraTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TesseraTrainingTests", dependencies: [
            "Tessera", "TesseraNN", "TesseraModels", "TesseraVision", "TesseraTraining", "TesseraTestSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "TesseraDistributedTests", dependencies: ["Tessera", "TesseraNN", "TesseraTraining", "TesseraDistributed", "TesseraTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
