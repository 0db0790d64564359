import Foundation
import Tessera
import TesseraTraining
import TesseraVision
import XCTest

/// `--max-pixels` reaches the image folders `tessera train` and `eval` read.
final class DataSourceLimitTests: XCTestCase {
    /// train/ and test/ with one 4 x 4 PNG and one 4 x 4 JPEG-named PNG per class.
    private func folder() throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-limit-\(UUID().uuidString)").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        for split in ["train", "test"] {
            for name in ["a", "b"] {
                try FileManager.default.createDirectory(atPath: "\(root)/\(split)/\(name)", withIntermediateDirectories: true)
                try PNG.write(Image(width: 4, height: 4, format: .rgb, repeating: 60), to: "\(root)/\(split)/\(name)/0.png")
                try PNG.write(Image(width: 4, height: 4, format: .rgb, repeating: 90), to: "\(root)/\(split)/\(name)/1.JPG")
            }
        }
        return root
    }

    func testImageFolderDataSourceRefusesImagesOverMaxPixelsNamingThem() throws {
        let root = try folder()
        let source = try DataSource.open(root)
        XCTAssertEqual(source.train.count, 4, "the .JPG files (PNG content) are listed and read")
        XCTAssertThrowsError(try DataSource.open(root, maxPixels: 15)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("\(root)/train/a/0.png") && text.contains("4 x 4 = 16 pixels, more than the limit of 15"), text)
        }
        var config = TrainConfig(data: root, out: root + "/run")
        config.maxPixels = 15
        XCTAssertThrowsError(try TrainingRun(config: config))
        config.maxPixels = 16
        XCTAssertNoThrow(try TrainingRun(config: config))
    }

    func testConfigWithoutMaxPixelsDecodesToTheDefault() throws {
        let json = #"{"data": "d", "out": "o", "model": "mlp", "epochs": 1, "batchSize": 2, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": false, "weightDecay": 0, "schedule": "constant", "warmupEpochs": 0, "labelSmoothing": 0, "seed": 0, "threads": 1, "augment": false, "freeze": "none"}"#
        let config = try JSONDecoder().decode(TrainConfig.self, from: Data(json.utf8))
        XCTAssertNil(config.maxPixels)
    }
}
