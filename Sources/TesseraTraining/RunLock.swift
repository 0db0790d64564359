#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// An exclusive lock on a run folder, held for the life of the process (`flock` on
/// `<out>/.lock`, which also records the holder's pid): a second `tessera train` on the same
/// `--out` fails at once, naming the first, instead of mixing two runs' files.
public final class RunLock {
    /// The folder locked.
    public let directory: URL
    private let fd: Int32

    /// Takes the lock on `directory` (created if missing), or throws ``RunLockError`` when another
    /// process holds it or the folder cannot be used.
    public init(directory: URL) throws {
        self.directory = directory
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDir), !isDir.boolValue {
            throw RunLockError.notAFolder(path: directory.path)
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw RunLockError.unusable(path: directory.path, reason: RunLock.reason(error))
        }
        let path = directory.appendingPathComponent(".lock").path
        let fd = open(path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw RunLockError.unusable(path: directory.path, reason: String(cString: strerror(errno))) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = RunLock.readPID(fd)
            close(fd)
            throw RunLockError.held(path: directory.path, pid: holder)
        }
        // The holder's pid, for the message a second run prints.
        _ = ftruncate(fd, 0)
        let text = "\(getpid())\n"
        _ = text.withCString { write(fd, $0, strlen($0)) }
        self.fd = fd
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buf = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buf, buf.count, 0)
        guard n > 0 else { return nil }
        return Int32(String(decoding: buf[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return ns.localizedDescription
    }
}

/// Why a run folder could not be locked.
public enum RunLockError: Error, CustomStringConvertible, Equatable {
    /// Another process is training into the folder.
    case held(path: String, pid: Int32?)
    /// The path exists and is a file.
    case notAFolder(path: String)
    /// The folder cannot be created or written (read-only, no permission).
    case unusable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .held(path, pid):
            return "run folder \(path) is in use by another tessera process" + (pid.map { " (pid \($0))" } ?? "")
                + "; wait for it, or choose another --out"
        case let .notAFolder(path): return "--out \(path) is a file, not a folder"
        case let .unusable(path, reason): return "cannot use \(path) as the run folder: \(reason)"
        }
    }
}
