// Whole-file reads and atomic writes on POSIX descriptors (no Foundation Data copies).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
#if canImport(Tessera)
import Tessera   // AtomicFile (the fuzz build compiles AtomicFile.swift into its own module instead)
#endif

/// A failed file operation: the path and the system's reason.
struct FileIOError: Error, CustomStringConvertible {
    let path: String
    let reason: String
    /// True when the file does not exist.
    let notFound: Bool
    var description: String { "\(path): \(reason)" }

    static func errno(_ path: String, _ what: String) -> FileIOError {
        let code = SystemCall.errno
        return FileIOError(path: path, reason: "\(what): \(String(cString: strerror(code)))", notFound: code == ENOENT)
    }
}

enum FileIO {
    /// The size in bytes of the regular file at `path`.
    static func size(_ path: String) throws -> Int {
        var st = stat()
        guard stat(path, &st) == 0 else { throw FileIOError.errno(path, "cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw FileIOError(path: path, reason: "not a regular file", notFound: false)
        }
        return Int(st.st_size)
    }

    /// Whether a regular file or directory exists at `path`.
    static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    /// Whether `path` names a directory.
    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Reads exactly `buffer.count` bytes from the start of the file at `path`.
    static func read(_ path: String, into buffer: UnsafeMutableRawBufferPointer) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FileIOError.errno(path, "cannot open") }
        defer { close(fd) }
        var done = 0
        while done < buffer.count {
            let n = SystemCall.read(fd, buffer.baseAddress! + done, buffer.count - done)
            if n < 0 {
                if SystemCall.errno == EINTR { continue }
                throw FileIOError.errno(path, "read failed")
            }
            if n == 0 {
                throw FileIOError(path: path, reason: "file shrank while reading (got \(done) of \(buffer.count) bytes)", notFound: false)
            }
            done += n
        }
    }

    /// The whole contents of the file at `path`.
    static func readAll(_ path: String) throws -> [UInt8] {
        let count = try size(path)
        var failure: Error?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do {
                if count > 0 { try read(path, into: UnsafeMutableRawBufferPointer(buffer)) }
                initialized = count
            } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return bytes
    }

    /// Writes `bytes` to `path` atomically and durably (`AtomicFile`).
    static func writeAtomically(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
        do {
            try AtomicFile.write(bytes, to: URL(fileURLWithPath: path))
        } catch let e as FileWriteError {
            throw FileIOError(path: path, reason: e.reason, notFound: false)
        }
    }

    /// The names of the entries of a directory (without "." and ".."), unsorted.
    static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw FileIOError.errno(path, "cannot open directory") }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
