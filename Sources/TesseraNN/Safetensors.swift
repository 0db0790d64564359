import Foundation
import Tessera

/// Why a safetensors file could not be read or written.
public indirect enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened or read.
    case unreadable(path: String, reason: String)
    /// The file could not be written.
    case unwritable(path: String, reason: String)
    /// Fewer than 8 bytes: no header length.
    case truncatedHeaderLength(byteCount: Int)
    /// The header length points past the end of the file (or is absurdly large).
    case invalidHeaderLength(length: UInt64, fileSize: Int)
    /// The header is not a UTF-8 JSON object of the expected form (also: duplicate keys).
    case invalidHeader(reason: String)
    /// One tensor's header entry is malformed or inconsistent with the data.
    case invalidEntry(name: String, reason: String)
    /// The tensors' `data_offsets` do not tile the data section exactly (overlaps, gaps, bytes
    /// not covered).
    case invalidLayout(reason: String)
    /// A dtype this reader does not know or does not convert.
    case unsupportedDType(name: String, dtype: String)
    /// A value cannot be represented in the requested dtype (on writing) or in Float32 (on
    /// reading an integer tensor).
    case unrepresentable(name: String, reason: String)
    /// A problem with the file at `path` (what `Safetensors.load(from:)` throws for bad contents).
    case inFile(path: String, error: SafetensorsError)

    /// The problem without the "safetensors: " prefix.
    var reason: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read '\(path)': \(reason)"
        case let .unwritable(path, reason): return "cannot write '\(path)': \(reason)"
        case let .truncatedHeaderLength(n): return "file is \(n) bytes, too short for the 8-byte header length"
        case let .invalidHeaderLength(len, size):
            return "header length \(len) does not fit in a file of \(size) bytes (truncated or not a safetensors file)"
        case let .invalidHeader(reason): return "invalid JSON header: \(reason)"
        case let .invalidEntry(name, reason): return "tensor '\(name)': \(reason)"
        case let .invalidLayout(reason): return "invalid data layout: \(reason)"
        case let .unsupportedDType(name, dtype):
            return "tensor '\(name)' has unsupported dtype '\(dtype)' (Tessera reads "
                + DType.allCases.map(\.rawValue).joined(separator: ", ") + ")"
        case let .unrepresentable(name, reason): return "tensor '\(name)': \(reason)"
        case let .inFile(path, error): return "'\(path)': \(error.reason)"
        }
    }

    public var description: String { "safetensors: " + reason }
}

/// Reads and writes the safetensors format (the one `safetensors.torch.save_file` writes):
/// an 8-byte little-endian header length N, N bytes of JSON
/// `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`
/// padded with spaces to a multiple of 8, then the raw little-endian tensor bytes.
///
/// Files are written atomically (a temporary file in the same directory, then a rename), so a
/// crash never leaves half a checkpoint. Reading validates every length, offset and dtype and
/// throws ``SafetensorsError`` on a corrupt or truncated file.
///
/// **What the reader rejects.** Everything the reference implementation (huggingface
/// `safetensors`) rejects: a header length past the file or over 100 MB; a header that is not
/// UTF-8 JSON, not an object, or followed by anything but JSON whitespace; an entry that is not an
/// object, lacks `dtype`, `shape` or `data_offsets`, or has a negative, fractional or
/// non-numeric dimension or offset, or not exactly two offsets; a duplicated field within an
/// entry and a duplicated `__metadata__`; a non-string metadata value; a shape whose element
/// count or byte size overflows; a byte size (elements × dtype size) different from the offsets'
/// span; offsets that end before they begin; and offsets that do not tile the data section
/// exactly — sorted by offset, each tensor must begin where the previous one ends (no overlap,
/// no gap), the first at 0, the last at the end of the file. Stricter than the reference: any
/// duplicated key anywhere in the header (the reference lets the last of two identical tensor
/// entries or metadata keys win), a header that does not begin with `{`, nesting deeper than 64
/// levels, BOOL bytes other than 0 and 1, and the integer values described next. `__metadata__:
/// null` and unknown extra fields in an entry are accepted, as by the reference.
///
/// **Dtype conversions on reading** (every tensor is Float32 in memory; the entry keeps its
/// on-disk dtype, so it is written back the same way): F32 is copied bit for bit; F16 and BF16
/// convert exactly (every value, NaN payloads included, is a Float32); F64 rounds to the nearest
/// Float32, magnitudes beyond its range becoming ±infinity as PyTorch's `.float()` does; I8, U8
/// and I16 convert exactly; I32 and I64 values load only when exactly representable in Float32
/// (all up to 2^24 in magnitude, larger ones when they are multiples of a power of two that
/// fits) — any other value throws ``SafetensorsError/unrepresentable(name:reason:)`` naming the
/// tensor, the index and the value, rather than silently rounding (16,777,217 used to load as
/// 16,777,216); BOOL loads as 0 and 1. Other dtypes (U16, U32, U64, the FP8/FP6/FP4 formats,
/// C64) are refused with ``SafetensorsError/unsupportedDType(name:dtype:)``. Whether an integer
/// tensor may go into a floating-point parameter is decided when loading into a module:
/// ``Module/loadStateDict(_:strict:)`` reports it as a dtype mismatch.
public enum Safetensors {
    /// The largest header accepted (as the reference implementation's limit).
    public static let maxHeaderLength = 100_000_000

    // MARK: Writing

    /// Encodes a state dict (its entries' dtypes decide how each is stored) into safetensors bytes.
    /// Tensors are laid out largest dtype first, then by name, as the reference writer does.
    public static func encode(_ dict: StateDict) throws -> Data {
        var order = Array(dict.keys)
        order.sort { a, b in
            let sa = dict.dtype(of: a)!.byteSize, sb = dict.dtype(of: b)!.byteSize
            return sa != sb ? sa > sb : a < b
        }
        var header = "{"
        var first = true
        if !dict.metadata.isEmpty {
            header += jsonString("__metadata__") + ":{"
            header += dict.metadata.keys.sorted().map { jsonString($0) + ":" + jsonString(dict.metadata[$0]!) }.joined(separator: ",")
            header += "}"
            first = false
        }
        var offset = 0
        for key in order {
            let e = dict.entry(key)!
            let bytes = e.tensor.count * e.dtype.byteSize
            if !first { header += "," }
            first = false
            header += jsonString(key) + ":{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[" +
                e.tensor.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(offset),\(offset + bytes)]}"
            offset += bytes
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }

        var data = Data(capacity: 8 + headerBytes.count + offset)
        var len = UInt64(headerBytes.count).littleEndian
        withUnsafeBytes(of: &len) { data.append(contentsOf: $0) }
        data.append(contentsOf: headerBytes)
        for key in order {
            let e = dict.entry(key)!
            try append(e.tensor, as: e.dtype, name: key, to: &data)
        }
        return data
    }

    /// Writes `dict` to `url` atomically (temporary file beside it, then rename).
    public static func save(_ dict: StateDict, to url: URL) throws {
        let data = try encode(dict)
        try writeAtomically(data, to: url)
    }

    /// Writes `data` to `url` atomically and durably (`AtomicFile`).
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        do { try AtomicFile.write(data, to: url) } catch let e as FileWriteError {
            throw SafetensorsError.unwritable(path: url.path, reason: e.reason)
        }
    }

    private static func append(_ tensor: Tensor, as dtype: DType, name: String, to data: inout Data) throws {
        let n = tensor.count
        if n == 0 { return }
        try tensor.withUnsafeBufferPointer { src in
            switch dtype {
            case .float32:
                if isLittleEndianHost {
                    data.append(UnsafeBufferPointer(start: UnsafeRawPointer(src.baseAddress!).assumingMemoryBound(to: UInt8.self),
                                                    count: n * 4))
                } else {
                    var out = [UInt32](repeating: 0, count: n)
                    for i in 0..<n { out[i] = src[i].bitPattern.littleEndian }
                    out.withUnsafeBytes { data.append(contentsOf: $0) }
                }
            case .float64:
                var out = [UInt64](repeating: 0, count: n)
                for i in 0..<n { out[i] = Double(src[i]).bitPattern.littleEndian }
                out.withUnsafeBytes { data.append(contentsOf: $0) }
            case .float16:
                var out = [UInt16](repeating: 0, count: n)
                for i in 0..<n { out[i] = HalfFloat.bits(fromFloat: src[i]).littleEndian }
                out.withUnsafeBytes { data.append(contentsOf: $0) }
            case .bfloat16:
                var out = [UInt16](repeating: 0, count: n)
                for i in 0..<n { out[i] = HalfFloat.bfloat16Bits(fromFloat: src[i]).littleEndian }
                out.withUnsafeBytes { data.append(contentsOf: $0) }
            case .int64, .int32, .int16, .int8, .uint8, .bool:
                var out = [UInt8](repeating: 0, count: n * dtype.byteSize)
                try out.withUnsafeMutableBytes { raw in
                    for i in 0..<n {
                        let v = src[i]
                        guard v.isFinite, v.rounded() == v else {
                            throw SafetensorsError.unrepresentable(name: name, reason: "value \(v) at index \(i) is not an integer, cannot store as \(dtype.rawValue)")
                        }
                        let b = i * dtype.byteSize
                        switch dtype {
                        case .int64:
                            guard let x = Int64(exactly: v) else { throw rangeError(name, v, dtype) }
                            raw.storeBytes(of: x.littleEndian, toByteOffset: b, as: Int64.self)
                        case .int32:
                            guard let x = Int32(exactly: v) else { throw rangeError(name, v, dtype) }
                            raw.storeBytes(of: x.littleEndian, toByteOffset: b, as: Int32.self)
                        case .int16:
                            guard let x = Int16(exactly: v) else { throw rangeError(name, v, dtype) }
                            raw.storeBytes(of: x.littleEndian, toByteOffset: b, as: Int16.self)
                        case .int8:
                            guard let x = Int8(exactly: v) else { throw rangeError(name, v, dtype) }
                            raw.storeBytes(of: x, toByteOffset: b, as: Int8.self)
                        case .uint8:
                            guard let x = UInt8(exactly: v) else { throw rangeError(name, v, dtype) }
                            raw.storeBytes(of: x, toByteOffset: b, as: UInt8.self)
                        default:
                            guard v == 0 || v == 1 else { throw rangeError(name, v, dtype) }
                            raw.storeBytes(of: UInt8(v), toByteOffset: b, as: UInt8.self)
                        }
                    }
                }
                data.append(contentsOf: out)
            }
        }
    }

    private static func rangeError(_ name: String, _ v: Float, _ dtype: DType) -> SafetensorsError {
        .unrepresentable(name: name, reason: "value \(v) is out of range for \(dtype.rawValue)")
    }

    // MARK: Reading

    /// Reads the state dict stored at `url` (see the type's documentation for what is rejected
    /// and how dtypes convert). Bad contents throw ``SafetensorsError/inFile(path:error:)``
    /// naming the file.
    public static func load(from url: URL) throws -> StateDict {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw SafetensorsError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        do {
            return try decode(data)
        } catch let error as SafetensorsError {
            throw SafetensorsError.inFile(path: url.path, error: error)
        }
    }

    /// Decodes safetensors bytes, validating the header length, the JSON, each entry's dtype,
    /// shape and offsets, and the layout of the data section (see the type's documentation).
    public static func decode(_ data: Data) throws -> StateDict {
        let size = data.count
        guard size >= 8 else { throw SafetensorsError.truncatedHeaderLength(byteCount: size) }
        let n64: UInt64 = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) }
        guard n64 <= UInt64(size - 8), n64 <= UInt64(maxHeaderLength), n64 >= 2 else {
            throw SafetensorsError.invalidHeaderLength(length: n64, fileSize: size)
        }
        let headerLength = Int(n64)
        let dataStart = 8 + headerLength
        let dataSize = size - dataStart
        let object: [(key: String, value: HeaderJSON)] = try data.withUnsafeBytes { raw in
            let header = UnsafeRawBufferPointer(rebasing: raw[8..<dataStart])
            guard header.first == UInt8(ascii: "{") else {
                throw SafetensorsError.invalidHeader(reason: "does not start with '{'")
            }
            var parser = HeaderJSON.Parser(header)
            guard case let .object(members) = try parser.parseDocument() else {
                throw SafetensorsError.invalidHeader(reason: "not a JSON object")
            }
            return members
        }

        var dict = StateDict()
        struct Parsed { let name: String; let dtype: DType; let shape: [Int]; let begin: Int; let end: Int }
        var parsed: [Parsed] = []
        for (name, value) in object {
            if name == "__metadata__" {
                switch value {
                case .null: continue
                case .object(let members):
                    for (k, v) in members {
                        guard case .string(let s) = v else {
                            throw SafetensorsError.invalidHeader(reason: "__metadata__ value for '\(k)' is not a string")
                        }
                        dict.metadata[k] = s
                    }
                default:
                    throw SafetensorsError.invalidHeader(reason: "__metadata__ is not an object of strings")
                }
                continue
            }
            guard case .object(let fields) = value else {
                throw SafetensorsError.invalidEntry(name: name, reason: "entry is not an object")
            }
            func field(_ key: String) -> HeaderJSON? { fields.first { $0.key == key }?.value }
            guard case .string(let dtypeName)? = field("dtype") else {
                throw SafetensorsError.invalidEntry(name: name, reason: "missing or non-string 'dtype'")
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw SafetensorsError.unsupportedDType(name: name, dtype: dtypeName)
            }
            guard let shape = field("shape")?.naturals else {
                throw SafetensorsError.invalidEntry(name: name, reason: "missing or invalid 'shape' (an array of non-negative integers)")
            }
            guard let offsets = field("data_offsets")?.naturals, offsets.count == 2 else {
                throw SafetensorsError.invalidEntry(name: name, reason: "missing or invalid 'data_offsets' (two non-negative integers)")
            }
            let begin = offsets[0], end = offsets[1]
            guard begin <= end else {
                throw SafetensorsError.invalidEntry(name: name, reason: "data_offsets [\(begin), \(end)] end before they begin")
            }
            guard end <= dataSize else {
                throw SafetensorsError.invalidEntry(name: name, reason: "data_offsets [\(begin), \(end)] outside the \(dataSize) data bytes (file truncated?)")
            }
            var count = 1
            for d in shape {
                let (c, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow else { throw SafetensorsError.invalidEntry(name: name, reason: "shape \(shape) is too large") }
                count = c
            }
            let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
            guard !overflow, bytes == end - begin else {
                throw SafetensorsError.invalidEntry(name: name, reason: "shape \(shape) of \(dtypeName) needs \(count) × \(dtype.byteSize) bytes, but data_offsets span \(end - begin)")
            }
            parsed.append(Parsed(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        // The file's data order (the writer's order on a round trip); then the tensors must tile
        // the data section: each begins where the previous one ends, the last ends the file.
        parsed.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var covered = 0
        var previous: Parsed?
        for p in parsed {
            if p.begin < covered, let previous {
                throw SafetensorsError.invalidLayout(reason: "tensor '\(p.name)' (data_offsets [\(p.begin), \(p.end)]) overlaps "
                                                     + "tensor '\(previous.name)' ([\(previous.begin), \(previous.end)])")
            }
            if p.begin > covered {
                let after = previous.map { "after tensor '\($0.name)' (which ends at \(covered))" } ?? "at the start of the data"
                throw SafetensorsError.invalidLayout(reason: "\(p.begin - covered) unused bytes \(after), before tensor '\(p.name)' "
                                                     + "(data_offsets [\(p.begin), \(p.end)])")
            }
            covered = p.end
            previous = p
        }
        guard covered == dataSize else {
            throw SafetensorsError.invalidLayout(reason: "the tensors cover \(covered) of the \(dataSize) data bytes; "
                                                 + "the last \(dataSize - covered) belong to no tensor")
        }

        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress!.advanced(by: dataStart)
            for p in parsed {
                let t = try tensor(from: base + p.begin, dtype: p.dtype, shape: p.shape, name: p.name)
                dict.set(p.name, t, dtype: p.dtype)
            }
        }
        return dict
    }

    private static func tensor(from p: UnsafeRawPointer, dtype: DType, shape: [Int], name: String) throws -> Tensor {
        try Tensor(shape: shape) { out in
            let n = out.count
            if n == 0 { return }
            switch dtype {
            case .float32:
                if isLittleEndianHost {
                    UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: p, byteCount: n * 4)
                } else {
                    for i in 0..<n { out[i] = Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
                }
            case .float64:
                for i in 0..<n { out[i] = Float(Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
            case .float16:
                for i in 0..<n { out[i] = HalfFloat.float(fromBits: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            case .bfloat16:
                for i in 0..<n { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
            case .int64:
                for i in 0..<n {
                    let v = Int64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
                    guard let f = Float(exactly: v) else { throw inexact(name, "I64", v, i) }
                    out[i] = f
                }
            case .int32:
                for i in 0..<n {
                    let v = Int32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
                    guard let f = Float(exactly: v) else { throw inexact(name, "I32", Int64(v), i) }
                    out[i] = f
                }
            case .int16:
                for i in 0..<n { out[i] = Float(Int16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
            case .int8:
                for i in 0..<n { out[i] = Float(p.load(fromByteOffset: i, as: Int8.self)) }
            case .uint8:
                for i in 0..<n { out[i] = Float(p.load(fromByteOffset: i, as: UInt8.self)) }
            case .bool:
                for i in 0..<n {
                    let b = p.load(fromByteOffset: i, as: UInt8.self)
                    guard b <= 1 else { throw SafetensorsError.invalidEntry(name: name, reason: "BOOL byte \(b) is neither 0 nor 1") }
                    out[i] = Float(b)
                }
            }
        }
    }

    private static func inexact(_ name: String, _ dtype: String, _ value: Int64, _ index: Int) -> SafetensorsError {
        .unrepresentable(name: name, reason: "\(dtype) value \(value) at index \(index) is not exactly representable as Float32 "
                         + "(integer tensors load only when every value is exact)")
    }

    private static var isLittleEndianHost: Bool { 1.littleEndian == 1 }

    /// A JSON string literal for `s`.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

extension Module {
    /// Saves ``stateDict()`` as safetensors at `url` (atomically), readable by
    /// `safetensors.torch.load_file` and then `model.load_state_dict`.
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        var sd = stateDict()
        sd.metadata = metadata
        try Safetensors.save(sd, to: url)
    }

    /// Loads a safetensors state dict (for instance one written by
    /// `safetensors.torch.save_file(model.state_dict(), path)`) into this module; see
    /// ``loadStateDict(_:strict:)``.
    @discardableResult
    public func load(from url: URL, strict: Bool = true) throws -> StateDictLoadReport {
        try loadStateDict(Safetensors.load(from: url), strict: strict)
    }
}
