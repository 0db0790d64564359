// swift-tools-version:6.0
// A package outside Tessera that writes its own optimizer (a subclass of TesseraNN's Optimizer)
// and its own model (typed @Child / @Parameter properties), trains a small regression with both,
// and checks the loss fell: what a library user does.
import PackageDescription

let package = Package(
    name: "CustomOptimizer",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "Tessera", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "CustomOptimizer",
            dependencies: [
                .product(name: "Tessera", package: "Tessera"),
                .product(name: "TesseraNN", package: "Tessera"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
