import Foundation
import XCTest
import TesseraTestSupport
import Tessera
@testable import TesseraNN

/// Hand-built malformed safetensors files: each is rejected with a message saying what is
/// wrong, as the reference implementation (huggingface safetensors) rejects it — and a few it
/// accepts are rejected too, where the file is ambiguous.
final class SafetensorsStrictnessTests: XCTestCase {
    /// A file from a header string (padded with spaces to 8 bytes, as writers do) and data bytes.
    private func file(_ header: String, _ data: [UInt8] = [], pad: Bool = true) -> [UInt8] {
        var h = Array(header.utf8)
        while pad && h.count % 8 != 0 { h.append(0x20) }
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out += $0 }
        return out + h + data
    }

    /// A file whose header is exactly `header` (no padding).
    private func raw(_ header: [UInt8], _ data: [UInt8] = []) -> [UInt8] {
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out += $0 }
        return out + header + data
    }

    /// A valid tensor entry with an unknown field holding arrays nested `depth` deep.
    private func nested(_ depth: Int) -> [UInt8] {
        file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":" + String(repeating: "[", count: depth)
             + String(repeating: "]", count: depth) + "}}", zeros(4))
    }

    private func entry(_ name: String, _ dtype: String = "F32", shape: String = "[1]", offsets: String) -> String {
        "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":\(offsets)}"
    }

    private func zeros(_ n: Int) -> [UInt8] { [UInt8](repeating: 0, count: n) }

    /// Every malformed case: the bytes, a fragment of our error, and whether the reference
    /// implementation also rejects it (false: Tessera is stricter).
    private var malformed: [(name: String, bytes: [UInt8], error: String, referenceRejects: Bool)] {
        [
            ("overlapping", file("{" + entry("a", shape: "[2]", offsets: "[0,8]") + "," + entry("b", offsets: "[4,8]") + "}", zeros(8)),
             "tensor 'b' (data_offsets [4, 8]) overlaps tensor 'a' ([0, 8])", true),
            ("same range twice", file("{" + entry("a", offsets: "[0,4]") + "," + entry("b", offsets: "[0,4]") + "}", zeros(4)),
             "overlaps", true),
            ("gap between tensors", file("{" + entry("a", offsets: "[0,4]") + "," + entry("b", offsets: "[8,12]") + "}", zeros(12)),
             "4 unused bytes after tensor 'a' (which ends at 4), before tensor 'b'", true),
            ("gap at the start", file("{" + entry("a", offsets: "[4,8]") + "}", zeros(8)), "4 unused bytes at the start of the data", true),
            ("bytes after the last tensor", file("{" + entry("a", offsets: "[0,4]") + "}", zeros(8)),
             "the tensors cover 4 of the 8 data bytes; the last 4 belong to no tensor", true),
            ("offsets past the file", file("{" + entry("a", shape: "[2]", offsets: "[0,8]") + "}", zeros(4)), "outside the 4 data bytes", true),
            ("offsets ending before they begin", file("{" + entry("a", shape: "[0]", offsets: "[4,0]") + "}", zeros(4)), "end before they begin", true),
            ("byte size is not shape x dtype size", file("{" + entry("a", shape: "[2]", offsets: "[0,4]") + "}", zeros(4)),
             "needs 2 × 4 bytes, but data_offsets span 4", true),
            ("duplicate tensor key", file("{" + entry("a", offsets: "[0,4]") + "," + entry("a", offsets: "[4,8]") + "}", zeros(8)),
             "duplicate key 'a'", true),
            ("duplicate tensor key, identical entries", file("{" + entry("a", offsets: "[0,4]") + "," + entry("a", offsets: "[0,4]") + "}", zeros(4)),
             "duplicate key 'a'", false),
            ("duplicate field in an entry", file("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", zeros(4)),
             "duplicate key 'dtype'", true),
            ("duplicate __metadata__", file("{\"__metadata__\":{\"k\":\"v\"},\"__metadata__\":{\"k\":\"w\"}}"), "duplicate key '__metadata__'", true),
            ("duplicate metadata key", file("{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}"), "duplicate key 'k'", false),
            ("header is an array", file("[1,2]"), "does not start with '{'", true),
            ("header is a string", file("\"x\""), "does not start with '{'", true),
            ("header is a number", file("12"), "does not start with '{'", true),
            ("header starts with whitespace", file(" {" + entry("a", offsets: "[0,4]") + "}", zeros(4)), "does not start with '{'", false),
            ("header padded with NUL bytes", raw([0x7B, 0x7D, 0, 0, 0, 0, 0, 0]), "trailing characters", true),
            ("garbage after the object", file("{}    x ", pad: false), "trailing characters", true),
            ("header not valid UTF-8", file("{\"\u{FF}\":1}").enumerated().map { $0.offset == 10 ? 0xFF : $0.element }, "not valid UTF-8", true),
            ("header not valid JSON", file("{\"a\": ["), "not valid JSON", true),
            ("NaN in the header", file("{" + entry("a", offsets: "[0,4]") + ",\"b\":NaN}", zeros(4)), "not valid JSON", true),
            ("leading zero", file("{" + entry("a", offsets: "[0,04]") + "}", zeros(4)), "leading zero", true),
            ("entry not an object", file("{\"a\":1}"), "entry is not an object", true),
            ("metadata value not a string", file("{\"__metadata__\":{\"k\":1}}"), "__metadata__ value for 'k' is not a string", true),
            ("metadata not an object", file("{\"__metadata__\":[1]}"), "__metadata__ is not an object of strings", true),
            ("fractional dimension", file("{" + entry("a", shape: "[1.0]", offsets: "[0,4]") + "}", zeros(4)), "invalid 'shape'", true),
            ("boolean dimension", file("{" + entry("a", shape: "[true]", offsets: "[0,4]") + "}", zeros(4)), "invalid 'shape'", true),
            ("negative dimension", file("{" + entry("a", shape: "[-1]", offsets: "[0,4]") + "}", zeros(4)), "invalid 'shape'", true),
            ("missing shape", file("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", zeros(4)), "invalid 'shape'", true),
            ("three offsets", file("{" + entry("a", offsets: "[0,4,4]") + "}", zeros(4)), "invalid 'data_offsets'", true),
            ("offset beyond 64 bits", file("{" + entry("a", offsets: "[0,99999999999999999999]") + "}", zeros(4)), "invalid 'data_offsets'", true),
            ("missing dtype", file("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", zeros(4)), "missing or non-string 'dtype'", true),
            ("unknown dtype", file("{" + entry("a", "f32", offsets: "[0,4]") + "}", zeros(4)), "unsupported dtype 'f32'", true),
            ("element count overflows", file("{" + entry("a", shape: "[4294967296,4294967296]", offsets: "[0,4]") + "}", zeros(4)), "too large", true),
            ("nesting 100 levels deep", nested(100), "nesting deeper than 64 levels", false),
            ("nesting 200 levels deep", nested(200), "nesting deeper than 64 levels", true),
            ("BOOL byte other than 0 and 1", file("{" + entry("a", "BOOL", offsets: "[0,1]") + "}", [2]), "BOOL byte 2", false),
        ]
    }

    func testEveryMalformedFileIsRejectedWithItsReason() {
        for c in malformed {
            XCTAssertThrowsError(try Safetensors.decode(Data(c.bytes)), c.name) { error in
                XCTAssertTrue(error is SafetensorsError, "\(c.name): \(error)")
                XCTAssertTrue("\(error)".contains(c.error), "\(c.name): '\(error)' should mention '\(c.error)'")
            }
        }
    }

    func testWhatTheReferenceAcceptsStillLoads() throws {
        let accepted: [(String, [UInt8])] = [
            ("metadata null", file("{\"__metadata__\":null}")),
            ("empty header", file("{}")),
            ("header length not a multiple of 8", file("{}", pad: false)),
            ("JSON whitespace after the object", file("{}\t\n\r    ", pad: false)),
            ("unknown field in an entry", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":{\"x\":[1,2.5,null]}}}", zeros(4))),
            ("empty tensors anywhere in the order", file("{" + entry("e", shape: "[0]", offsets: "[0,0]") + "," + entry("b", offsets: "[0,4]") + ","
                                                        + entry("z", shape: "[3,0]", offsets: "[4,4]") + "}", zeros(4))),
            ("entries in any order", file("{" + entry("b", offsets: "[4,8]") + "," + entry("a", offsets: "[0,4]") + "}", zeros(8))),
        ]
        for (name, bytes) in accepted {
            XCTAssertNoThrow(try Safetensors.decode(Data(bytes)), name)
        }
        let names = try Safetensors.decode(Data(file("{\"caf\\u00e9 \\ud83d\\ude00\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", [7])))
        XCTAssertEqual(names.keys, ["café 😀"])
        XCTAssertThrowsError(try Safetensors.decode(Data(file("{\"\\ud83d\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", [7])))) {
            XCTAssertTrue("\($0)".contains("lone leading surrogate"), "\($0)")
        }
    }

    /// Each malformed file goes through the reference implementation too (when the Python
    /// `safetensors` package is installed): it must reject exactly the cases marked so.
    func testTheReferenceImplementationAgreesOnWhatItRejects() throws {
        let dir = try TestPaths.temporaryDirectory(self)
        let cases = malformed
        for (i, c) in cases.enumerated() {
            try Data(c.bytes).write(to: dir.appendingPathComponent("\(i).safetensors"))
        }
        let script = """
            import sys, os
            from safetensors.numpy import load
            for i in range(int(sys.argv[2])):
                data = open(os.path.join(sys.argv[1], "%d.safetensors" % i), "rb").read()
                try:
                    load(data); print("accepts")
                except Exception:
                    print("rejects")
            """
        try Python.require("safetensors, numpy", for: "the comparison with the reference safetensors implementation")
        let r = try Python.run(["-c", script, dir.path, "\(cases.count)"])
        let lines = r.output.split(separator: "\n").map(String.init)
        XCTAssertEqual(r.status, 0, r.error)
        XCTAssertEqual(lines.count, cases.count)
        for (c, verdict) in zip(cases, lines) {
            XCTAssertEqual(verdict, c.referenceRejects ? "rejects" : "accepts", c.name)
        }
    }

    func testIntegersLoadOnlyWhenExactlyRepresentableInFloat() throws {
        func integers<T: FixedWidthInteger>(_ dtype: String, _ values: [T]) -> [UInt8] {
            var d: [UInt8] = []
            for v in values { withUnsafeBytes(of: v.littleEndian) { d += $0 } }
            return file("{" + entry("n", dtype, shape: "[\(values.count)]", offsets: "[0,\(d.count)]") + "}", d)
        }
        // Exact: everything up to 2^24, and larger multiples of a fitting power of two.
        let exact = try Safetensors.decode(Data(integers("I64", [Int64(0), -16_777_216, 16_777_216, 1 << 40, -(1 << 62)])))
        XCTAssertEqual(exact["n"]!.scalars, [0, -16_777_216, 16_777_216, 1_099_511_627_776, -4.611686e18])
        XCTAssertEqual(exact.dtype(of: "n"), .int64)
        for (dtype, bytes, value) in [("I64", integers("I64", [Int64(5), 16_777_217]), "16777217"),
                                      ("I64", integers("I64", [Int64.max]), "9223372036854775807"),
                                      ("I32", integers("I32", [Int32(-16_777_217)]), "-16777217")] {
            XCTAssertThrowsError(try Safetensors.decode(Data(bytes))) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("\(dtype) value \(value)") && text.contains("not exactly representable"), text)
            }
        }
        XCTAssertEqual(try Safetensors.decode(Data(integers("I16", [Int16.min, Int16.max])))["n"]!.scalars, [-32768, 32767])
        XCTAssertEqual(try Safetensors.decode(Data(integers("I8", [Int8.min])) )["n"]!.scalars, [-128])
        // F64 rounds to nearest, and overflows to infinity as PyTorch's .float() does.
        var d: [UInt8] = []
        for v in [0.1, 1e300, -1e300] { withUnsafeBytes(of: v.bitPattern.littleEndian) { d += $0 } }
        let f64 = try Safetensors.decode(Data(file("{" + entry("x", "F64", shape: "[3]", offsets: "[0,24]") + "}", d)))
        XCTAssertEqual(f64["x"]!.scalars, [Float(0.1), .infinity, -.infinity])
    }

    func testWritingAValueBeyondInt64ThrowsInsteadOfTrapping() {
        var sd = StateDict()
        sd.set("n", Tensor([Float(Int64.max), 1], shape: [2]), dtype: .int64)  // Float(Int64.max) is 2^63
        XCTAssertThrowsError(try Safetensors.encode(sd)) { error in
            XCTAssertTrue("\(error)".contains("out of range for I64"), "\(error)")
        }
    }

    func testIntegerDataForAFloatParameterIsAMismatchNotAReinterpretation() throws {
        let model = BatchNorm1d(2)
        var sd = model.stateDict()
        sd.set("weight", Tensor([3, 4], shape: [2]), dtype: .int32)          // integers where floats are expected
        sd.set("num_batches_tracked", Tensor(scalar: 7), dtype: .int32)      // I32 for an I64 counter: same kind, fine
        sd.set("running_mean", Tensor([0.5, 0.25], shape: [2]), dtype: .float16)  // F16 for F32: same kind, fine
        XCTAssertThrowsError(try model.loadStateDict(sd)) { error in
            guard let e = error as? StateDictLoadError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.report.dtypeMismatches, [.init(key: "weight", expected: .float32, found: .int32)])
            XCTAssertTrue("\(e)".contains("weight: expected F32, found I32"), "\(e)")
        }
        let report = try model.loadStateDict(sd, strict: false)
        XCTAssertEqual(report.dtypeMismatches.count, 1)
        XCTAssertEqual(model.weight!.scalars, [1, 1], "left unchanged")
        XCTAssertEqual(model.runningMean!.scalars, [0.5, 0.25])
        XCTAssertEqual(model.numBatchesTracked!.item(), 7)
    }

    func testErrorsFromAFileNameTheFile() throws {
        let url = try TestPaths.temporaryDirectory(self).appendingPathComponent("broken.safetensors")
        try Data(file("{" + entry("a", offsets: "[0,4]") + "}", zeros(8))).write(to: url)
        XCTAssertThrowsError(try Safetensors.load(from: url)) { error in
            guard case .inFile(let path, let inner)? = error as? SafetensorsError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, url.path)
            guard case .invalidLayout = inner else { return XCTFail("\(inner)") }
            XCTAssertTrue("\(error)".hasPrefix("safetensors: '\(url.path)': invalid data layout"), "\(error)")
        }
    }
}
