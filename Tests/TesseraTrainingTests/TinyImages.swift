import Foundation
import XCTest
import Tessera
import TesseraVision

extension XCTestCase {
    /// A tiny image folder (train/ and test/, one subfolder of random 32×32 RGB PNGs per class)
    /// so the set-up and command-line checks run without CIFAR-10; removed when the test ends.
    func tinyImageFolder(classes: [String] = ["cat", "dog"], trainPerClass: Int, testPerClass: Int = 2) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-recipe-\(UUID().uuidString)").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        var gen = SeededGenerator(seed: 8)
        for (split, count) in [("train", trainPerClass), ("test", testPerClass)] {
            for name in classes {
                let dir = "\(root)/\(split)/\(name)"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                for k in 0..<count {
                    let pixels = (0..<(32 * 32 * 3)).map { _ in UInt8(truncatingIfNeeded: gen.next()) }
                    try PNG.write(Image(width: 32, height: 32, format: .rgb, pixels: pixels), to: "\(dir)/\(k).png")
                }
            }
        }
        return root
    }
}
