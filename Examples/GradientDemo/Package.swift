// swift-tools-version:6.0
// A minimal program that uses Tessera as a dependency by path: it builds a small expression,
// back-propagates through it and checks the gradient against the hand-derived formula.
import PackageDescription

let package = Package(
    name: "GradientDemo",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "Tessera", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "GradientDemo",
            dependencies: [.product(name: "Tessera", package: "Tessera")]),
    ],
    swiftLanguageModes: [.v6]
)
