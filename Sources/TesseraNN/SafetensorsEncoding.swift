// The byte-level pieces of the safetensors reader and writer: half-precision conversions and the
// strict JSON parser of the header (Safetensors.swift has the format itself).
import Foundation

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

// MARK: - The header's JSON

/// A value of a safetensors header, parsed strictly by `HeaderJSON.Parser`: objects keep their
/// members in file order, and numbers are integers (no fraction or exponent, within `Int`) or
/// "other numbers", which no safetensors field accepts.
enum HeaderJSON {
    case object([(key: String, value: HeaderJSON)])
    case array([HeaderJSON])
    case string(String)
    case integer(Int)
    case otherNumber
    case bool(Bool)
    case null

    /// The value as non-negative integers, when it is an array of nothing else.
    var naturals: [Int]? {
        guard case .array(let items) = self else { return nil }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard case .integer(let v) = item, v >= 0 else { return nil }
            out.append(v)
        }
        return out
    }

    /// A JSON (RFC 8259) parser over bytes that also rejects what would make a header
    /// ambiguous: a key repeated within an object. Nesting is limited to `maxDepth` levels, so
    /// a hostile header cannot exhaust the stack. Errors are `SafetensorsError.invalidHeader`.
    struct Parser {
        static let maxDepth = 64
        private let bytes: UnsafeRawBufferPointer
        private var i = 0

        init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        /// One value, then nothing but whitespace.
        mutating func parseDocument() throws -> HeaderJSON {
            if let bad = Parser.firstInvalidUTF8(bytes) {
                throw SafetensorsError.invalidHeader(reason: "not valid UTF-8 (byte \(bad))")
            }
            skipWhitespace()
            let value = try parseValue(depth: 0)
            skipWhitespace()
            guard i == bytes.count else { throw invalid("trailing characters after the JSON value") }
            return value
        }

        private func invalid(_ what: String) -> SafetensorsError {
            .invalidHeader(reason: "not valid JSON (\(what) at byte \(i))")
        }

        private var current: UInt8? { i < bytes.count ? bytes[i] : nil }

        private mutating func skipWhitespace() {
            while let c = current, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { i += 1 }
        }

        private mutating func expect(_ literal: String, _ value: HeaderJSON) throws -> HeaderJSON {
            for u in literal.utf8 {
                guard current == u else { throw invalid("unexpected character") }
                i += 1
            }
            return value
        }

        private mutating func parseValue(depth: Int) throws -> HeaderJSON {
            guard depth < Parser.maxDepth else { throw invalid("nesting deeper than \(Parser.maxDepth) levels") }
            guard let c = current else { throw invalid("unexpected end") }
            switch c {
            case UInt8(ascii: "{"): return try parseObject(depth: depth)
            case UInt8(ascii: "["): return try parseArray(depth: depth)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
            default: throw invalid("unexpected character")
            }
        }

        private mutating func parseObject(depth: Int) throws -> HeaderJSON {
            i += 1  // {
            var members: [(key: String, value: HeaderJSON)] = []
            var seen = Set<String>()
            skipWhitespace()
            if current == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw invalid("expected a string key") }
                let key = try parseString()
                guard seen.insert(key).inserted else {
                    throw SafetensorsError.invalidHeader(reason: "duplicate key '\(key)' (at byte \(i))")
                }
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw invalid("expected ':'") }
                i += 1
                skipWhitespace()
                members.append((key, try parseValue(depth: depth + 1)))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): i += 1
                case UInt8(ascii: "}"): i += 1; return .object(members)
                default: throw invalid("expected ',' or '}'")
                }
            }
        }

        private mutating func parseArray(depth: Int) throws -> HeaderJSON {
            i += 1  // [
            var items: [HeaderJSON] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): i += 1
                case UInt8(ascii: "]"): i += 1; return .array(items)
                default: throw invalid("expected ',' or ']'")
                }
            }
        }

        private mutating func parseNumber() throws -> HeaderJSON {
            let start = i
            if current == UInt8(ascii: "-") { i += 1 }
            func digits(_ p: inout Parser) -> Int {
                let s = p.i
                while let c = p.current, c >= 0x30 && c <= 0x39 { p.i += 1 }
                return p.i - s
            }
            let intStart = i
            let intDigits = digits(&self)
            guard intDigits > 0 else { throw invalid("expected a digit") }
            guard !(intDigits > 1 && bytes[intStart] == UInt8(ascii: "0")) else { throw invalid("leading zero") }
            var integral = true
            if current == UInt8(ascii: ".") {
                i += 1
                guard digits(&self) > 0 else { throw invalid("expected a digit after '.'") }
                integral = false
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                i += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { i += 1 }
                guard digits(&self) > 0 else { throw invalid("expected a digit in the exponent") }
                integral = false
            }
            guard integral else { return .otherNumber }
            var value = 0
            let negative = bytes[start] == UInt8(ascii: "-")
            for k in intStart..<i {
                let d = Int(bytes[k] - 0x30)
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
                if o1 || o2 { return .otherNumber }
                value = a
            }
            return .integer(value)
        }

        private mutating func hex4() throws -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let c = current else { throw invalid("unexpected end in a \\u escape") }
                let d: UInt8
                switch c {
                case 0x30...0x39: d = c - 0x30
                case 0x41...0x46: d = c - 0x41 + 10
                case 0x61...0x66: d = c - 0x61 + 10
                default: throw invalid("bad hex digit in a \\u escape")
                }
                v = v << 4 | UInt32(d)
                i += 1
            }
            return v
        }

        private mutating func parseString() throws -> String {
            i += 1  // opening quote
            var utf8: [UInt8] = []
            while true {
                guard let c = current else { throw invalid("unterminated string") }
                i += 1
                switch c {
                case UInt8(ascii: "\""):
                    return String(decoding: utf8, as: UTF8.self)  // validated as UTF-8 up front
                case UInt8(ascii: "\\"):
                    guard let e = current else { throw invalid("unterminated escape") }
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(e)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if (0xD800..<0xDC00).contains(code) {
                            guard current == UInt8(ascii: "\\"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "u") else {
                                throw invalid("lone leading surrogate in a \\u escape")
                            }
                            i += 2
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw invalid("bad trailing surrogate in a \\u escape") }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(code) {
                            throw invalid("lone trailing surrogate in a \\u escape")
                        }
                        utf8.append(contentsOf: Array(String(Character(Unicode.Scalar(code)!)).utf8))
                    default: throw invalid("bad escape")
                    }
                default:
                    guard c >= 0x20 else { throw invalid("control character in a string") }
                    utf8.append(c)
                }
            }
        }

        /// The offset of the first byte that breaks UTF-8 (overlong forms, surrogates and code
        /// points past U+10FFFF included), or nil.
        static func firstInvalidUTF8(_ b: UnsafeRawBufferPointer) -> Int? {
            var k = 0
            while k < b.count {
                let c = b[k]
                if c < 0x80 { k += 1; continue }
                let n: Int, low: UInt8, high: UInt8
                switch c {
                case 0xC2...0xDF: n = 1; low = 0x80; high = 0xBF
                case 0xE0: n = 2; low = 0xA0; high = 0xBF
                case 0xE1...0xEC, 0xEE...0xEF: n = 2; low = 0x80; high = 0xBF
                case 0xED: n = 2; low = 0x80; high = 0x9F
                case 0xF0: n = 3; low = 0x90; high = 0xBF
                case 0xF1...0xF3: n = 3; low = 0x80; high = 0xBF
                case 0xF4: n = 3; low = 0x80; high = 0x8F
                default: return k
                }
                guard k + n < b.count else { return k }
                guard b[k + 1] >= low && b[k + 1] <= high else { return k }
                if n >= 2 {
                    for j in 2...n where b[k + j] < 0x80 || b[k + j] > 0xBF { return k }
                }
                k += n + 1
            }
            return nil
        }
    }
}
