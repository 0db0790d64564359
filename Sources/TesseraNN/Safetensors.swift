import Foundation
import Tessera

/// Why a safetensors file could not be read or written.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened or read.
    case unreadable(path: String, reason: String)
    /// The file could not be written.
    case unwritable(path: String, reason: String)
    /// Fewer than 8 bytes: no header length.
    case truncatedHeaderLength(byteCount: Int)
    /// The header length points past the end of the file (or is absurdly large).
    case invalidHeaderLength(length: UInt64, fileSize: Int)
    /// The header is not a UTF-8 JSON object.
    case invalidHeader(reason: String)
    /// One tensor's header entry is malformed or inconsistent with the data.
    case invalidEntry(name: String, reason: String)
    /// A dtype this reader does not know.
    case unsupportedDType(name: String, dtype: String)
    /// A value cannot be represented in the requested on-disk dtype.
    case unrepresentable(name: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "safetensors: cannot read '\(path)': \(reason)"
        case let .unwritable(path, reason): return "safetensors: cannot write '\(path)': \(reason)"
        case let .truncatedHeaderLength(n): return "safetensors: file is \(n) bytes, too short for the 8-byte header length"
        case let .invalidHeaderLength(len, size):
            return "safetensors: header length \(len) does not fit in a file of \(size) bytes (truncated or not a safetensors file)"
        case let .invalidHeader(reason): return "safetensors: invalid JSON header: \(reason)"
        case let .invalidEntry(name, reason): return "safetensors: tensor '\(name)': \(reason)"
        case let .unsupportedDType(name, dtype): return "safetensors: tensor '\(name)' has unsupported dtype '\(dtype)'"
        case let .unrepresentable(name, reason): return "safetensors: tensor '\(name)': \(reason)"
        }
    }
}

/// Reads and writes the safetensors format (the one `safetensors.torch.save_file` writes):
/// an 8-byte little-endian header length N, N bytes of JSON
/// `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`
/// padded with spaces to a multiple of 8, then the raw little-endian tensor bytes.
///
/// Files are written atomically (a temporary file in the same directory, then a rename), so a
/// crash never leaves half a checkpoint. Reading validates every length, offset and dtype and
/// throws ``SafetensorsError`` on a corrupt or truncated file.
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

    /// Writes `data` to `url` atomically and durably (``AtomicFile``).
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
                            raw.storeBytes(of: Int64(v).littleEndian, toByteOffset: b, as: Int64.self)
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

    /// Reads the state dict stored at `url`. Every dtype is converted to Float32 in memory;
    /// the entry keeps its on-disk dtype so it is written back the same way.
    public static func load(from url: URL) throws -> StateDict {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw SafetensorsError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        return try decode(data)
    }

    /// Decodes safetensors bytes, validating the header length, the JSON, each entry's dtype,
    /// shape and offsets (in bounds, and matching the element count).
    public static func decode(_ data: Data) throws -> StateDict {
        let size = data.count
        guard size >= 8 else { throw SafetensorsError.truncatedHeaderLength(byteCount: size) }
        let n64: UInt64 = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) }
        guard n64 <= UInt64(size - 8), n64 <= UInt64(maxHeaderLength), n64 >= 2 else {
            throw SafetensorsError.invalidHeaderLength(length: n64, fileSize: size)
        }
        let headerLength = Int(n64)
        let headerData = data.subdata(in: data.startIndex + 8 ..< data.startIndex + 8 + headerLength)
        guard headerData.first == UInt8(ascii: "{") else {
            throw SafetensorsError.invalidHeader(reason: "does not start with '{'")
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: headerData, options: [])
        } catch {
            throw SafetensorsError.invalidHeader(reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard let object = json as? [String: Any] else {
            throw SafetensorsError.invalidHeader(reason: "not a JSON object")
        }
        let dataStart = 8 + headerLength
        let dataSize = size - dataStart

        var dict = StateDict()
        if let meta = object["__metadata__"] {
            guard let m = meta as? [String: Any] else {
                throw SafetensorsError.invalidHeader(reason: "__metadata__ is not an object of strings")
            }
            for (k, v) in m {
                guard let s = v as? String else {
                    throw SafetensorsError.invalidHeader(reason: "__metadata__ value for '\(k)' is not a string")
                }
                dict.metadata[k] = s
            }
        }

        struct Parsed { let name: String; let dtype: DType; let shape: [Int]; let begin: Int; let end: Int }
        var parsed: [Parsed] = []
        for (name, value) in object where name != "__metadata__" {
            guard let info = value as? [String: Any] else {
                throw SafetensorsError.invalidEntry(name: name, reason: "entry is not an object")
            }
            guard let dtypeName = info["dtype"] as? String else {
                throw SafetensorsError.invalidEntry(name: name, reason: "missing or non-string 'dtype'")
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw SafetensorsError.unsupportedDType(name: name, dtype: dtypeName)
            }
            guard let shape = intArray(info["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw SafetensorsError.invalidEntry(name: name, reason: "missing or invalid 'shape'")
            }
            guard let offsets = intArray(info["data_offsets"]), offsets.count == 2 else {
                throw SafetensorsError.invalidEntry(name: name, reason: "missing or invalid 'data_offsets'")
            }
            let begin = offsets[0], end = offsets[1]
            guard begin >= 0, begin <= end, end <= dataSize else {
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
        // Keep the file's data order (deterministic, and the writer's order on a round trip).
        parsed.sort { $0.begin != $1.begin ? $0.begin < $1.begin : $0.name < $1.name }

        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress!.advanced(by: dataStart)
            for p in parsed {
                let t = try tensor(from: base + p.begin, dtype: p.dtype, shape: p.shape, name: p.name)
                dict.set(p.name, t, dtype: p.dtype)
            }
        }
        return dict
    }

    private static func intArray(_ any: Any?) -> [Int]? {
        guard let arr = any as? [Any] else { return nil }
        var out: [Int] = []
        out.reserveCapacity(arr.count)
        for v in arr {
            // Exact conversion only: fractions and out-of-range numbers fail.
            guard let i = v as? Int else { return nil }
            out.append(i)
        }
        return out
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
                for i in 0..<n { out[i] = Float(Int64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
            case .int32:
                for i in 0..<n { out[i] = Float(Int32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
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

/// IEEE half precision and bfloat16 bit conversions (portable: no `Float16` type needed).
enum HalfFloat {
    static func float(fromBits h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = Int((h >> 10) & 0x1F)
        let mant = UInt32(h & 0x3FF)
        if exp == 0 {
            if mant == 0 { return Float(bitPattern: sign) }
            // Subnormal: mant × 2^-24.
            let v = Float(mant) * Float(bitPattern: 0x3380_0000)
            return sign != 0 ? -v : v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
        return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (mant << 13))
    }

    /// Round-to-nearest-even conversion to half.
    static func bits(fromFloat f: Float) -> UInt16 {
        let x = f.bitPattern
        let sign = UInt16((x >> 16) & 0x8000)
        let exp = Int((x >> 23) & 0xFF)
        var mant = x & 0x7F_FFFF
        if exp == 0xFF { return sign | 0x7C00 | (mant != 0 ? 0x200 : 0) }
        let e = exp - 127 + 15
        if e >= 31 { return sign | 0x7C00 }
        if e <= 0 {
            if e < -10 { return sign }
            mant |= 0x80_0000
            let shift = UInt32(14 - e)
            var half = mant >> shift
            let rem = mant & ((1 << shift) - 1), halfway = UInt32(1) << (shift - 1)
            if rem > halfway || (rem == halfway && half & 1 == 1) { half += 1 }
            return sign | UInt16(half)
        }
        var half = UInt32(e) << 10 | (mant >> 13)
        let rem = mant & 0x1FFF
        if rem > 0x1000 || (rem == 0x1000 && half & 1 == 1) { half += 1 }
        return sign | UInt16(half)
    }

    static func bfloat16Bits(fromFloat f: Float) -> UInt16 {
        let x = f.bitPattern
        if f.isNaN { return UInt16(x >> 16) | 0x40 }
        let rounded = x &+ 0x7FFF &+ ((x >> 16) & 1)
        return UInt16(rounded >> 16)
    }
}
