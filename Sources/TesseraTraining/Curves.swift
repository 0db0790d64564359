import Foundation
import TesseraVision

/// Draws loss and accuracy curves (train in blue, test in orange) as a PNG with Tessera's own
/// encoder: left panel loss, right panel accuracy (0–100%), one point per epoch.
enum Curves {
    static func write(_ metrics: [EpochMetrics], to url: URL) throws {
        let panelW = 360, panelH = 240, margin = 16
        let width = 2 * panelW + 3 * margin, height = panelH + 2 * margin
        var canvas = Canvas(width: width, height: height)
        let blue: (UInt8, UInt8, UInt8) = (31, 119, 180), orange: (UInt8, UInt8, UInt8) = (255, 127, 14)
        let epochs = metrics.map { Double($0.epoch) }
        let maxLoss = max(metrics.flatMap { [$0.trainLoss, $0.testLoss ?? 0] }.filter(\.isFinite).max() ?? 1, 1e-6)
        let panels: [(x0: Int, series: [([Double], (UInt8, UInt8, UInt8))], top: Double)] = [
            (margin, [(metrics.map(\.trainLoss), blue), (metrics.compactMap(\.testLoss), orange)], maxLoss * 1.05),
            (2 * margin + panelW, [(metrics.map(\.trainAccuracy), blue), (metrics.compactMap(\.testAccuracy), orange)], 1),
        ]
        let firstEpoch = epochs.first ?? 0, lastEpoch = max(epochs.last ?? 1, firstEpoch + 1)
        for panel in panels {
            canvas.rect(x0: panel.x0, y0: margin, x1: panel.x0 + panelW, y1: margin + panelH, color: (200, 200, 200))
            for q in 1..<4 {   // light grid lines at quarters
                let y = margin + panelH * q / 4
                canvas.line(panel.x0, y, panel.x0 + panelW, y, color: (235, 235, 235))
            }
            for (values, color) in panel.series where !values.isEmpty {
                let pts = zip(epochs, values).map { (e, v) -> (Int, Int) in
                    let x = panel.x0 + Int(Double(panelW) * (e - firstEpoch) / (lastEpoch - firstEpoch))
                    let y = margin + panelH - Int(Double(panelH) * min(max(v.isFinite ? v : 0, 0), panel.top) / panel.top)
                    return (x, y)
                }
                for (a, b) in zip(pts, pts.dropFirst()) { canvas.line(a.0, a.1, b.0, b.1, color: color, thick: true) }
                for p in pts { canvas.dot(p.0, p.1, color: color) }
            }
        }
        try PNG.write(canvas.image, to: url.path)
    }
}

/// A white RGB canvas with lines and dots.
private struct Canvas {
    let width: Int, height: Int
    var pixels: [UInt8]

    init(width: Int, height: Int) {
        self.width = width; self.height = height
        pixels = [UInt8](repeating: 255, count: width * height * 3)
    }

    var image: Image { Image(width: width, height: height, format: .rgb, pixels: pixels) }

    mutating func set(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
        guard x >= 0 && x < width && y >= 0 && y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = c.0; pixels[i + 1] = c.1; pixels[i + 2] = c.2
    }

    /// Bresenham's line.
    mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, color: (UInt8, UInt8, UInt8), thick: Bool = false) {
        var x = x0, y = y0
        let dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = dx + dy
        while true {
            set(x, y, color)
            if thick { set(x, y + 1, color); set(x + 1, y, color) }
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }

    mutating func rect(x0: Int, y0: Int, x1: Int, y1: Int, color: (UInt8, UInt8, UInt8)) {
        line(x0, y0, x1, y0, color: color); line(x1, y0, x1, y1, color: color)
        line(x1, y1, x0, y1, color: color); line(x0, y1, x0, y0, color: color)
    }

    mutating func dot(_ x: Int, _ y: Int, color: (UInt8, UInt8, UInt8)) {
        for dy in -2...2 { for dx in -2...2 where dx * dx + dy * dy <= 4 { set(x + dx, y + dy, color) } }
    }
}
