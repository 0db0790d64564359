import XCTest
import TesseraTestSupport
import Tessera
@testable import TesseraNN
@testable import TesseraModels

final class SafetensorsTests: XCTestCase {
    private func sample() -> StateDict {
        var sd = StateDict()
        sd.set("a.weight", Tensor([1.5, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
                                   Float(bitPattern: 0x7FC0_1234), 3.14159274], shape: [2, 4]))
        sd.set("a.num_batches_tracked", Tensor(scalar: 12345), dtype: .int64)
        sd.set("empty", Tensor.zeros([0, 3]))
        sd.set("scalar", Tensor(scalar: -2))
        sd.metadata = ["format": "pt", "note": "quote \" and \\ and\nnewline"]
        return sd
    }

    func testRoundTripIsBitExact() throws {
        let dir = try TestPaths.temporaryDirectory(self)
        let url = dir.appendingPathComponent("x.safetensors")
        let sd = sample()
        try Safetensors.save(sd, to: url)
        let back = try Safetensors.load(from: url)
        XCTAssertEqual(Set(back.keys), Set(sd.keys))
        for k in sd.keys {
            XCTAssertTrue(TensorCheck.bitEqual(back[k]!, sd[k]!), k)
            XCTAssertEqual(back.dtype(of: k), sd.dtype(of: k), k)
        }
        XCTAssertEqual(back.metadata, sd.metadata)
        // Written atomically: nothing but the file itself is left in the directory.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["x.safetensors"])
        // Re-encoding what was read gives the same bytes.
        XCTAssertEqual(try Safetensors.encode(back), try Data(contentsOf: url))
    }

    func testHeaderLayoutMatchesTheFormat() throws {
        let data = try Safetensors.encode(sample())
        let n = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        XCTAssertEqual(n % 8, 0, "header padded to 8 bytes")
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + Int(n)))) as! [String: Any]
        let entry = header["a.weight"] as! [String: Any]
        XCTAssertEqual(entry["dtype"] as? String, "F32")
        XCTAssertEqual((entry["shape"] as? [NSNumber])?.map(\.intValue), [2, 4])
        let nbt = header["a.num_batches_tracked"] as! [String: Any]
        XCTAssertEqual(nbt["dtype"] as? String, "I64")
        let offsets = (nbt["data_offsets"] as! [NSNumber]).map(\.intValue)
        XCTAssertEqual(offsets, [0, 8], "8-byte dtypes first")
        let value = data.subdata(in: (8 + Int(n))..<(8 + Int(n) + 8)).withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }
        XCTAssertEqual(Int64(littleEndian: value), 12345)
        XCTAssertEqual(data.count, 8 + Int(n) + 8 + 8 * 4 + 4)
    }

    func testPyTorchFileWithInt64BuffersLoads() throws {
        let sd = try Safetensors.load(from: JSONFixture.url("resnet_tiny_basic.safetensors", in: .module))
        XCTAssertEqual(sd.dtype(of: "bn1.num_batches_tracked"), .int64)
        XCTAssertEqual(sd.dtype(of: "conv1.weight"), .float32)
        XCTAssertEqual(sd["conv1.weight"]?.shape, [4, 3, 7, 7])
        XCTAssertEqual(sd["bn1.num_batches_tracked"]?.shape, [])
    }

    private func expectError(_ bytes: [UInt8], contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Safetensors.decode(Data(bytes)), file: file, line: line) { error in
            XCTAssertTrue(error is SafetensorsError, "\(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(text), "'\(error)' should mention '\(text)'", file: file, line: line)
        }
    }

    private func file(header: String, data: [UInt8]) -> [UInt8] {
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out += $0 }
        return out + h + data
    }

    func testCorruptOrTruncatedFilesThrowClearErrors() throws {
        expectError([1, 2, 3], contains: "too short")
        expectError([0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0x7B, 0x7D], contains: "header length")
        expectError(file(header: "{\"a\": [", data: []), contains: "not valid JSON")
        expectError(file(header: "[1, 2]", data: []), contains: "does not start with '{'")
        expectError(file(header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", data: [0, 0, 0, 0]),
                    contains: "outside the 4 data bytes")
        expectError(file(header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", data: Array(repeating: 0, count: 8)),
                    contains: "needs 3 × 4 bytes")
        expectError(file(header: "{\"a\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", data: Array(repeating: 0, count: 8)),
                    contains: "unsupported dtype 'C64'")
        expectError(file(header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", data: Array(repeating: 0, count: 4)),
                    contains: "invalid 'shape'")
        expectError(file(header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", data: Array(repeating: 0, count: 4)),
                    contains: "data_offsets")
        expectError(file(header: "{\"__metadata__\":{\"k\":1}}", data: []), contains: "__metadata__")
        // A real file cut short anywhere fails cleanly.
        let good = try Safetensors.encode(sample())
        for cut in [4, 20, good.count - 1] {
            XCTAssertThrowsError(try Safetensors.decode(good.prefix(cut)), "cut at \(cut)")
        }
        XCTAssertThrowsError(try Safetensors.load(from: URL(fileURLWithPath: "/nonexistent/dir/x.safetensors"))) { error in
            XCTAssertTrue("\(error)".contains("cannot read"), "\(error)")
        }
    }

    func testWritingANonIntegerAsInt64Throws() {
        var sd = StateDict()
        sd.set("n", Tensor(scalar: 1.5), dtype: .int64)
        XCTAssertThrowsError(try Safetensors.encode(sd)) { error in
            XCTAssertTrue("\(error)".contains("not an integer"), "\(error)")
        }
    }

    func testHalfPrecisionAndIntegerDTypesDecode() throws {
        // F16 1.0 = 0x3C00, -2.0 = 0xC000; BF16 1.0 = 0x3F80; I32 7; U8 200.
        let bytes = file(header: "{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}," +
                         "\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[4,6]}," +
                         "\"i\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[6,10]}," +
                         "\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[10,11]}}",
                         data: [0x00, 0x3C, 0x00, 0xC0, 0x80, 0x3F, 7, 0, 0, 0, 200])
        let sd = try Safetensors.decode(Data(bytes))
        XCTAssertEqual(sd["h"]!.scalars, [1, -2])
        XCTAssertEqual(sd["b"]!.scalars, [1])
        XCTAssertEqual(sd["i"]!.scalars, [7])
        XCTAssertEqual(sd["u"]!.scalars, [200])
        // F16 writing rounds to nearest and reads back.
        var out = StateDict()
        out.set("h", Tensor([0.1, 65504, 1e-7], shape: [3]), dtype: .float16)
        let back = try Safetensors.decode(Safetensors.encode(out))["h"]!.scalars
        XCTAssertEqual(back[0], 0.0999755859375)
        XCTAssertEqual(back[1], 65504)
        XCTAssertEqual(back[2], 1.1920928955078125e-07)
    }

    func testStrictLoadReportsEveryProblemAtOnce() throws {
        let model = Sequential(Linear(3, 4), BatchNorm1d(4), Linear(4, 2))
        var sd = model.stateDict()
        sd.remove("0.bias")
        sd.remove("1.running_var")
        sd.set("2.weight", Tensor.zeros([2, 5]))
        sd.set("3.weight", Tensor.zeros([1]))
        sd.set("extra", Tensor.zeros([1]))
        let before = (model[0] as! Linear).weight.scalars
        sd["0.weight"] = Tensor.ones([4, 3])
        XCTAssertThrowsError(try model.loadStateDict(sd)) { error in
            guard let e = error as? StateDictLoadError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.report.missingKeys, ["0.bias", "1.running_var"])
            XCTAssertEqual(e.report.unexpectedKeys, ["3.weight", "extra"])
            XCTAssertEqual(e.report.shapeMismatches, [.init(key: "2.weight", expected: [2, 4], found: [2, 5])])
            let text = "\(e)"
            for fragment in ["Sequential", "missing keys (2): 0.bias, 1.running_var", "unexpected keys (2): 3.weight, extra",
                             "2.weight: expected [2, 4], found [2, 5]"] {
                XCTAssertTrue(text.contains(fragment), "'\(text)' lacks '\(fragment)'")
            }
        }
        XCTAssertEqual((model[0] as! Linear).weight.scalars, before, "a failed strict load changes nothing")

        // Non-strict: loads what matches, reports the rest.
        let report = try model.loadStateDict(sd, strict: false)
        XCTAssertEqual(report.missingKeys.count, 2)
        XCTAssertEqual(report.unexpectedKeys.count, 2)
        XCTAssertEqual(report.shapeMismatches.count, 1)
        XCTAssertEqual((model[0] as! Linear).weight.scalars, [Float](repeating: 1, count: 12))
    }

    func testModuleSaveAndLoadRoundTripKeepsStorage() throws {
        GlobalRandom.seed(4)
        let dir = try TestPaths.temporaryDirectory(self)
        let url = dir.appendingPathComponent("m.safetensors")
        let a = CIFARResNet(depth: 8, classes: 3)
        _ = a(Tensor.randn([2, 3, 8, 8]))     // move the BN statistics and counters
        try a.save(to: url, metadata: ["model": "resnet8"])
        GlobalRandom.seed(5)
        let b = CIFARResNet(depth: 8, classes: 3)
        let storage = b.parameters[0].storage
        try b.load(from: url)
        XCTAssertTrue(b.parameters[0].storage === storage, "loading copies into the existing tensors")
        for (k, e) in a.stateDict() {
            XCTAssertTrue(TensorCheck.bitEqual(b.stateDict()[k]!, e.tensor), k)
        }
        XCTAssertEqual(b.stateDict()["bn1.num_batches_tracked"]!.item(), 1)
        XCTAssertEqual(try Safetensors.load(from: url).metadata["model"], "resnet8")
    }
}
