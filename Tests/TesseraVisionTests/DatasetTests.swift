import Foundation
import Tessera
import XCTest
import TesseraTestSupport
@testable import TesseraVision

private struct IDXExpected: Decodable {
    struct Split: Decodable {
        let count: Int
        let height: Int
        let width: Int
        let gzipped: Bool
        let pixels: [UInt8]
        let labels: [Int]
    }
    let train: Split
    let t10k: Split
}

final class DatasetTests: XCTestCase {
    // MARK: ImageFolder

    /// root/<class>/ with 2x3 RGB images whose first sample encodes (class, index).
    private func makeFolder(_ root: String, classes: [String: Int]) throws {
        for (name, n) in classes {
            try FileManager.default.createDirectory(atPath: root + "/" + name, withIntermediateDirectories: true)
            for k in 0..<n {
                var image = Image(width: 3, height: 2, format: .rgb, repeating: UInt8(k))
                image[0, 0, 0] = UInt8(name.utf8.first!)
                try PNG.write(image, to: "\(root)/\(name)/img\(k).png")
            }
        }
    }

    func testImageFolderSortsClassesByNameAndLabelsByIndex() throws {
        let root = try TestPaths.temporaryDirectory(self).path
        try makeFolder(root, classes: ["zebra": 2, "Apple": 1, "cat": 3])
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: root + "/cat/readme.txt"))
        try FileManager.default.createDirectory(atPath: root + "/.hidden", withIntermediateDirectories: true)
        let folder = try ImageFolder(root: root)
        XCTAssertEqual(folder.classNames, ["Apple", "cat", "zebra"])  // byte order, as Python's sorted()
        XCTAssertEqual(folder.count, 6)
        XCTAssertEqual(folder.labels, [0, 1, 1, 1, 2, 2])
        XCTAssertEqual(folder.files.map { ($0 as NSString).lastPathComponent }, ["img0.png", "img0.png", "img1.png", "img2.png", "img0.png", "img1.png"])
        XCTAssertEqual(folder.sampleShape, SampleShape(channels: 3, height: 2, width: 3))
        let (t, label) = try folder.sample(at: 3)
        XCTAssertEqual(label, 1)
        XCTAssertEqual(t[0, 0, 0], Float(UInt8(ascii: "c")) / 255)
        XCTAssertEqual(t[1, 1, 2], 2 / 255)
    }

    func testImageFolderReportsEveryUnreadableFileWithItsPath() throws {
        let root = try TestPaths.temporaryDirectory(self).path
        try makeFolder(root, classes: ["a": 2, "b": 2])
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: root + "/a/broken.png"))
        let good = try Data(contentsOf: URL(fileURLWithPath: root + "/b/img0.png"))
        try good.prefix(good.count - 10).write(to: URL(fileURLWithPath: root + "/b/truncated.png"))
        XCTAssertThrowsError(try ImageFolder(root: root)) { error in
            guard case DatasetError.unreadableImages(let files)? = error as? DatasetError else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(files.map(\.path), [root + "/a/broken.png", root + "/b/truncated.png"])
            XCTAssertTrue("\(error)".contains(root + "/b/truncated.png"))
        }
        let skipping = try ImageFolder(root: root, skipUnreadable: true)
        XCTAssertEqual(skipping.count, 4)
        XCTAssertEqual(skipping.unreadableFiles.count, 2)
        // Lazy decoding reports the bad file when it is reached.
        let lazy = try ImageFolder(root: root, preload: false)
        XCTAssertEqual(lazy.count, 6)
        let broken = lazy.files.firstIndex(of: root + "/a/broken.png")!
        XCTAssertThrowsError(try lazy.sample(at: broken)) { error in
            XCTAssertEqual((error as? PNGError)?.path, root + "/a/broken.png")
        }
        XCTAssertEqual(try lazy.sample(at: broken + 1).image.scalars, try skipping.sample(at: 0).image.scalars)
    }

    func testImageFolderResizesImagesToTheRequestedSizeAndFormat() throws {
        let root = try TestPaths.temporaryDirectory(self).path
        try makeFolder(root, classes: ["x": 1])
        try PNG.write(Image(width: 5, height: 4, format: .gray, repeating: 51), to: root + "/x/big.png")
        let folder = try ImageFolder(root: root, format: .gray, size: (height: 3, width: 3))
        XCTAssertEqual(folder.sampleShape, SampleShape(channels: 1, height: 3, width: 3))
        let (t, _) = try folder.sample(at: 0)  // big.png sorts first
        XCTAssertEqual(t.shape, [1, 3, 3])
        for v in t.scalars { XCTAssertEqual(v, 0.2, accuracy: 1e-6) }
        XCTAssertThrowsError(try ImageFolder(root: root + "/nope")) { error in
            XCTAssertEqual(error as? DatasetError, .missingFile(path: root + "/nope"))
        }
    }

    // MARK: IDX

    func testIDXFilesLoadGzippedAndRawWithExpectedPixelsAndLabels() throws {
        let dir = TestPaths.fixture("idx", in: .module)
        let expected = try JSONDecoder().decode(IDXExpected.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/expected.json")))
        let train = try MNIST(root: dir, split: .train)
        XCTAssertTrue(train.imagesPath.hasSuffix(".gz"))
        let test = try MNIST(root: dir, split: .test)
        XCTAssertFalse(test.imagesPath.hasSuffix(".gz"))
        for (ds, e) in [(train, expected.train), (test, expected.t10k)] {
            XCTAssertEqual(ds.count, e.count)
            XCTAssertEqual(ds.sampleShape, SampleShape(channels: 1, height: e.height, width: e.width))
            XCTAssertEqual((0..<ds.count).map { ds.label(at: $0) }, e.labels)
            let pixels = (0..<ds.count).flatMap { ds.image(at: $0).pixels }
            XCTAssertEqual(pixels, e.pixels)
        }
        XCTAssertEqual(try train.sample(at: 1).image.scalars, expected.train.pixels[12..<24].map { Float($0) / 255 })
    }

    func testMalformedIDXFilesThrowErrorsNamingTheFile() throws {
        let dir = try TestPaths.temporaryDirectory(self).path
        let fixtures = TestPaths.fixture("idx", in: .module)
        for name in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
            try FileManager.default.copyItem(atPath: fixtures + "/" + name, toPath: dir + "/" + name)
        }
        XCTAssertNoThrow(try MNIST(root: dir, split: .test))
        // Truncated image file.
        var images = try Data(contentsOf: URL(fileURLWithPath: dir + "/t10k-images-idx3-ubyte"))
        try images.prefix(images.count - 1).write(to: URL(fileURLWithPath: dir + "/t10k-images-idx3-ubyte"))
        XCTAssertThrowsError(try MNIST(root: dir, split: .test)) { error in
            XCTAssertEqual((error as? DatasetError)?.path, dir + "/t10k-images-idx3-ubyte")
        }
        // Wrong element type.
        images[2] = 0x0D
        try images.write(to: URL(fileURLWithPath: dir + "/t10k-images-idx3-ubyte"))
        XCTAssertThrowsError(try MNIST(root: dir, split: .test)) { error in
            XCTAssertTrue("\(error)".contains("t10k-images-idx3-ubyte"), "\(error)")
        }
        images[2] = 0x08
        try images.write(to: URL(fileURLWithPath: dir + "/t10k-images-idx3-ubyte"))
        // Label out of range.
        var labels = try Data(contentsOf: URL(fileURLWithPath: dir + "/t10k-labels-idx1-ubyte"))
        labels[labels.count - 1] = 10
        try labels.write(to: URL(fileURLWithPath: dir + "/t10k-labels-idx1-ubyte"))
        XCTAssertThrowsError(try MNIST(root: dir, split: .test)) { error in
            XCTAssertEqual(error as? DatasetError, .labelOutOfRange(path: dir + "/t10k-labels-idx1-ubyte", record: 1, label: 10, classCount: 10))
        }
        // Truncated gzip stream.
        let gz = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/train-images-idx3-ubyte.gz"))
        try gz.prefix(gz.count / 2).write(to: URL(fileURLWithPath: dir + "/train-images-idx3-ubyte.gz"))
        try FileManager.default.copyItem(atPath: fixtures + "/train-labels-idx1-ubyte.gz", toPath: dir + "/train-labels-idx1-ubyte.gz")
        XCTAssertThrowsError(try MNIST(root: dir, split: .train)) { error in
            XCTAssertEqual((error as? DatasetError)?.path, dir + "/train-images-idx3-ubyte.gz")
        }
    }

    func testFashionMNISTFromDebianPackageWhenInstalled() throws {
        let root = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: root + "/t10k-images-idx3-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST not installed at \(root) (Debian package dataset-fashion-mnist)")
        }
        let test = try MNIST.fashion(root: root, split: .test)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(test.sampleShape, SampleShape(channels: 1, height: 28, width: 28))
        XCTAssertEqual(test.classCounts(), Array(repeating: 1_000, count: 10))
        XCTAssertEqual(test.classNames[9], "Ankle boot")
    }

    // MARK: TensorDataset

    func testTensorDatasetServesItsSlicesAndLabels() throws {
        let images = Tensor((0..<24).map(Float.init), shape: [4, 1, 2, 3])
        let ds = TensorDataset(images: images, labels: [1, 0, 2, 1])
        XCTAssertEqual(ds.classNames, ["0", "1", "2"])
        XCTAssertEqual(try ds.sample(at: 2).image.scalars, (12..<18).map(Float.init))
        XCTAssertEqual(ds.classCounts(), [1, 2, 1])
    }
}
