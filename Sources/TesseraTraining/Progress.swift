import Foundation

/// Reports training progress: a live bar when standard output is a terminal, plain lines
/// every few seconds otherwise (logs, CI).
final class ProgressReporter {
    private let isTerminal = isatty(STDOUT_FILENO) != 0
    private var lastPrint = Date.distantPast
    private let interval: TimeInterval

    init(interval: TimeInterval = 10) { self.interval = interval }

    /// One batch done.
    func update(epoch: Int, epochs: Int, batch: Int, batches: Int, imagesPerSecond: Double, loss: Double, accuracy: Double, eta: TimeInterval) {
        let now = Date()
        if isTerminal {
            guard now.timeIntervalSince(lastPrint) > 0.1 || batch == batches else { return }
            lastPrint = now
            let width = 24, filled = batches > 0 ? width * batch / batches : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = String(format: "epoch %d/%d %@ %d/%d  %.0f img/s  loss %.4f  acc %.2f%%  ETA %@",
                              epoch, epochs, bar, batch, batches, imagesPerSecond, loss, accuracy * 100, Self.clock(eta))
            FileHandle.standardOutput.write(("\r\u{1B}[K" + line).data(using: .utf8)!)
        } else if now.timeIntervalSince(lastPrint) >= interval || batch == batches {
            lastPrint = now
            print(String(format: "epoch %d/%d batch %d/%d  %.0f img/s  loss %.4f  acc %.2f%%  ETA %@",
                         epoch, epochs, batch, batches, imagesPerSecond, loss, accuracy * 100, Self.clock(eta)))
            fflush(nil)
        }
    }

    /// Ends the live line before other output.
    func finishLine() {
        if isTerminal { print("") }
        lastPrint = .distantPast
    }

    static func clock(_ t: TimeInterval) -> String {
        guard t.isFinite && t >= 0 else { return "--:--" }
        let s = Int(t.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%02d:%02d", s / 60, s % 60)
    }
}
