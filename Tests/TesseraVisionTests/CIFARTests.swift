import Foundation
import Tessera
import XCTest
import TesseraTestSupport
@testable import TesseraVision

final class CIFARTests: XCTestCase {
    // MARK: Real data (skipped visibly when ../shared/data is absent)

    func testCIFAR10HasFiveThousandTrainAndOneThousandTestImagesPerClass() throws {
        let root = try TestPaths.data("cifar-10-batches-bin")
        let clock = ContinuousClock()
        var train: CIFAR10!
        let elapsed = try clock.measure { train = try CIFAR10(root: root, split: .train) }
        print("CIFAR-10: loaded 50,000 training images in \(elapsed)")  // informational; no timing assert
        XCTAssertEqual(train.count, 50_000)
        XCTAssertEqual(train.classCounts(), Array(repeating: 5_000, count: 10))
        XCTAssertEqual(train.classNames, CIFAR10.defaultClassNames)
        let test = try CIFAR10(root: root, split: .test)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(test.classCounts(), Array(repeating: 1_000, count: 10))
    }

    func testCIFAR10TrainingChannelMeanMatchesPublishedValues() throws {
        let root = try TestPaths.data("cifar-10-batches-bin")
        let train = try CIFAR10(root: root)
        let (mean, std) = train.channelStatistics()
        for (m, expected) in zip(mean, [0.4914, 0.4822, 0.4465]) { XCTAssertEqual(m, expected, accuracy: 1e-3) }
        for (s, expected) in zip(std, [0.2470, 0.2435, 0.2616]) { XCTAssertEqual(s, expected, accuracy: 1e-3) }
    }

    func testEverySamplePNGEqualsItsTestBatchRecordPerIndexCSV() throws {
        let root = try TestPaths.data("cifar-10-batches-bin")
        let sample = try TestPaths.data("cifar10-png-sample")
        let test = try CIFAR10(root: root, split: .test)
        let csv = try String(contentsOfFile: sample + "/index.csv", encoding: .utf8)
        var checked = 0
        for line in csv.split(whereSeparator: \.isNewline).dropFirst() {
            let fields = line.split(separator: ",")
            guard fields.count >= 3, let label = Int(fields[1]), let record = Int(fields[2]) else {
                XCTFail("bad index.csv line: \(line)")
                continue
            }
            let png = try PNG.read(contentsOf: sample + "/" + fields[0])
            XCTAssertEqual(png, test.image(at: record), "\(fields[0]) vs test record \(record)")
            XCTAssertEqual(test.label(at: record), label, "label of test record \(record)")
            checked += 1
        }
        XCTAssertEqual(checked, 1_000)
    }

    func testCIFAR10SampleTensorIsPlanarRecordScaledToUnitInterval() throws {
        let root = try TestPaths.data("cifar-10-batches-bin")
        let test = try CIFAR10(root: root, split: .test)
        let (t, label) = try test.sample(at: 17)
        XCTAssertEqual(label, test.label(at: 17))
        XCTAssertEqual(t.shape, [3, 32, 32])
        XCTAssertEqual(t.scalars, test.image(at: 17).tensor().scalars)
    }

    // MARK: Synthetic files (always run)

    /// Writes a file of `size` bytes (sparse, zero-filled) and lets `edit` poke bytes into it.
    private func makeFile(_ path: String, size: Int, edit: [(Int, UInt8)] = []) throws {
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(size))
        for (offset, byte) in edit {
            try handle.seek(toOffset: UInt64(offset))
            try handle.write(contentsOf: [byte])
        }
        try handle.close()
    }

    private func makeCIFAR10Test(_ dir: String, size: Int = 30_730_000, edit: [(Int, UInt8)] = []) throws {
        try makeFile(dir + "/test_batch.bin", size: size, edit: edit)
    }

    func testTruncatedCIFAR10FileThrowsErrorNamingTheFile() throws {
        let dir = try TestPaths.temporaryDirectory(self).path
        try makeCIFAR10Test(dir, size: 30_730_000 - 3073)
        XCTAssertThrowsError(try CIFAR10(root: dir, split: .test)) { error in
            guard case DatasetError.badSize(let path, _, let actual)? = error as? DatasetError else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(path, dir + "/test_batch.bin")
            XCTAssertEqual(actual, 30_730_000 - 3073)
            XCTAssertTrue("\(error)".contains("test_batch.bin"))
        }
    }

    func testOversizedCIFAR10FileThrowsErrorNamingTheFile() throws {
        let dir = try TestPaths.temporaryDirectory(self).path
        try makeCIFAR10Test(dir, size: 30_730_001)
        XCTAssertThrowsError(try CIFAR10(root: dir, split: .test)) { error in
            XCTAssertEqual((error as? DatasetError)?.path, dir + "/test_batch.bin")
            XCTAssertTrue("\(error)".contains("30730001"), "\(error)")
        }
    }

    func testOutOfRangeCIFAR10LabelThrowsErrorNamingFileAndRecord() throws {
        let dir = try TestPaths.temporaryDirectory(self).path
        try makeCIFAR10Test(dir, edit: [(3073 * 42, 10)])
        XCTAssertThrowsError(try CIFAR10(root: dir, split: .test)) { error in
            XCTAssertEqual(error as? DatasetError,
                           .labelOutOfRange(path: dir + "/test_batch.bin", record: 42, label: 10, classCount: 10))
        }
    }

    func testMissingCIFAR10FileThrowsErrorNamingTheFile() throws {
        let dir = try TestPaths.temporaryDirectory(self).path
        try makeCIFAR10Test(dir)
        XCTAssertThrowsError(try CIFAR10(root: dir, split: .train)) { error in
            XCTAssertEqual(error as? DatasetError, .missingFile(path: dir + "/data_batch_1.bin"))
        }
    }

    func testSyntheticCIFAR10RecordDecodesPlanarPixelsAndMetaNames() throws {
        let dir = try TestPaths.temporaryDirectory(self).path
        // Record 5: label 3, red plane starts 7, green plane starts 8, blue plane ends 9.
        try makeCIFAR10Test(dir, edit: [(3073 * 5, 3), (3073 * 5 + 1, 7), (3073 * 5 + 1025, 8), (3073 * 5 + 3072, 9)])
        let names = (0..<10).map { "class \($0)" }
        try (names.joined(separator: "\n") + "\n\n").write(toFile: dir + "/batches.meta.txt", atomically: true, encoding: .utf8)
        let test = try CIFAR10(root: dir, split: .test)
        XCTAssertEqual(test.classNames, names)
        XCTAssertEqual(test.label(at: 5), 3)
        let image = test.image(at: 5)
        XCTAssertEqual(image[0, 0, 0], 7)
        XCTAssertEqual(image[0, 0, 1], 8)
        XCTAssertEqual(image[31, 31, 2], 9)
        let (t, _) = try test.sample(at: 5)
        XCTAssertEqual(t[0, 0, 0], 7 / 255)
        XCTAssertEqual(t[2, 31, 31], 9 / 255)
        XCTAssertEqual(test.source(of: 5).record, 5)
    }

    func testCIFAR100ReadsFineAndCoarseLabelsAndValidatesBoth() throws {
        let dir = try TestPaths.temporaryDirectory(self).path
        try (0..<20).map { "coarse\($0)" }.joined(separator: "\n").write(toFile: dir + "/coarse_label_names.txt", atomically: true, encoding: .utf8)
        try (0..<100).map { "fine\($0)" }.joined(separator: "\n").write(toFile: dir + "/fine_label_names.txt", atomically: true, encoding: .utf8)
        try makeFile(dir + "/test.bin", size: 3074 * 10_000, edit: [(3074 * 2, 19), (3074 * 2 + 1, 99), (3074 * 2 + 2, 255)])
        let fine = try CIFAR100(root: dir, split: .test)
        XCTAssertEqual(fine.count, 10_000)
        XCTAssertEqual(fine.label(at: 2), 99)
        XCTAssertEqual(fine.classNames.count, 100)
        XCTAssertEqual(fine.coarseLabel(at: 2), 19)
        XCTAssertEqual(fine.image(at: 2)[0, 0, 0], 255)
        let coarse = try CIFAR100(root: dir, split: .test, labels: .coarse)
        XCTAssertEqual(coarse.label(at: 2), 19)
        XCTAssertEqual(coarse.classNames.last, "coarse19")

        try makeFile(dir + "/test.bin", size: 3074 * 10_000, edit: [(3074 * 9 + 1, 100)])
        XCTAssertThrowsError(try CIFAR100(root: dir, split: .test)) { error in
            XCTAssertEqual(error as? DatasetError, .labelOutOfRange(path: dir + "/test.bin", record: 9, label: 100, classCount: 100))
        }
        try makeFile(dir + "/test.bin", size: 3074 * 10_000 - 1)
        XCTAssertThrowsError(try CIFAR100(root: dir, split: .test)) { error in
            XCTAssertEqual((error as? DatasetError)?.path, dir + "/test.bin")
        }
    }
}
