// swift-tools-version:6.0
// Tessera — a deep-learning and numerical engine in Swift on OpenBLAS, LAPACKE and libpng.
import PackageDescription

let package = Package(
    name: "Tessera",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Tessera", targets: ["Tessera"]),
        .executable(name: "bench", targets: ["bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
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

        // The tensor core: storage, views, kernels, autograd, BLAS and LAPACK bindings.
        .target(name: "Tessera", dependencies: ["COpenBLAS", "CLAPACKE"]),

        // `swift run -c release bench`: Tessera beside the PyTorch reference.
        .executableTarget(name: "bench", dependencies: [
            "Tessera", "COpenBLAS", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "TesseraTests", dependencies: ["Tessera"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v5]
)
