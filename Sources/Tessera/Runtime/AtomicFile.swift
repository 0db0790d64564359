#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A file could not be written: the path and the system's reason.
public struct FileWriteError: Error, CustomStringConvertible, Equatable {
    /// The file that was to be written.
    public let path: String
    /// What failed, with the system's message (e.g. "Read-only file system").
    public let reason: String
    public var description: String { "cannot write \(path): \(reason)" }
}

/// The one way Tessera writes a file that must never be seen half-written (checkpoints,
/// metrics, configurations, curves, PNGs, safetensors): a temporary file in the same directory
/// is written, flushed to disk (`fsync`) and renamed over the target, and the directory is
/// flushed too, so after a crash or a full disk the path holds either the old file or the
/// complete new one.
public enum AtomicFile {
    /// The prefix of the temporary files, `.<name>.tmp-`; ``removeLeftovers(in:)`` deletes them.
    static func temporaryPrefix(for name: String) -> String { ".\(name).tmp-" }

    /// Writes `bytes` to `url` atomically and durably (see ``AtomicFile``).
    public static func write(_ bytes: UnsafeRawBufferPointer, to url: URL) throws {
        let path = url.path
        let directory = url.deletingLastPathComponent().path
        let name = url.lastPathComponent
        guard !name.isEmpty else { throw FileWriteError(path: path, reason: "not a file path") }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw FileWriteError(path: path, reason: "it is a directory")
        }
        var rng = SystemRandomNumberGenerator()
        let temp = directory + "/" + temporaryPrefix(for: name) + "\(getpid())-\(String(rng.next() & 0xFFFF_FFFF, radix: 16))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw FileWriteError(path: path, reason: "cannot create a file in \(directory): \(lastError())") }
        var ok = false
        defer { if !ok { unlink(temp) } }
        var done = 0
        while done < bytes.count {
            let n = SystemCall.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if SystemCall.errno == EINTR { continue }
                let reason = lastError()
                close(fd)
                throw FileWriteError(path: path, reason: reason)
            }
            done += n
        }
        if fsync(fd) != 0 {
            let reason = lastError()
            close(fd)
            throw FileWriteError(path: path, reason: "fsync: \(reason)")
        }
        guard close(fd) == 0 else { throw FileWriteError(path: path, reason: "close: \(lastError())") }
        guard rename(temp, path) == 0 else { throw FileWriteError(path: path, reason: "rename: \(lastError())") }
        ok = true
        // The rename is durable once the directory is flushed too.
        let dfd = open(directory.isEmpty ? "." : directory, O_RDONLY)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// Writes `data` to `url` atomically and durably.
    public static func write(_ data: Data, to url: URL) throws {
        try data.withUnsafeBytes { try write($0, to: url) }
    }

    /// Deletes the temporary files that interrupted writes left in `directory` (a process killed
    /// between creating and renaming one); returns how many. Call it only while no other process
    /// writes there (a run holds its folder's lock).
    @discardableResult
    public static func removeLeftovers(in directory: URL) -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return 0 }
        var removed = 0
        for name in names where name.hasPrefix(".") && name.contains(".tmp-") {
            if (try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))) != nil { removed += 1 }
        }
        return removed
    }

    private static func lastError() -> String { String(cString: strerror(SystemCall.errno)) }
}

/// The C library's `read`, `write` and `errno`, named once for each platform (inside
/// ``SystemCall`` the unqualified names would be its own members).
#if canImport(Darwin)
private let libcRead = Darwin.read, libcWrite = Darwin.write
private var libcErrno: Int32 { Darwin.errno }
#elseif canImport(Musl)
private let libcRead = Musl.read, libcWrite = Musl.write
private var libcErrno: Int32 { Musl.errno }
#else
private let libcRead = Glibc.read, libcWrite = Glibc.write
private var libcErrno: Int32 { Glibc.errno }
#endif

/// The few POSIX calls the file code makes, under one name on Linux (Glibc, Musl) and macOS.
public enum SystemCall {
    /// The calling thread's `errno`.
    public static var errno: Int32 { libcErrno }

    /// `read(2)`: up to `count` bytes from `fd` into `buffer`; the bytes read, 0 at the end, −1 on error.
    public static func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int { libcRead(fd, buffer, count) }

    /// `write(2)`: up to `count` bytes of `buffer` to `fd`; the bytes written, −1 on error.
    public static func write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { libcWrite(fd, buffer, count) }
}
