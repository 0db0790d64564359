import Foundation
import Tessera

/// `bench --conv-algorithms`: every ResNet-20 convolution's forward (no grad) under each algorithm
/// that can run it (im2col, Winograd F(2×2, 3×3) or over the phase planes, Winograd F(4×4, 3×3), the
/// direct kernel), at batches 1, 2, 8 and 128, then the weight gradient of the stride-1 ones at
/// batch 128, the algorithms taking turns within one process (rounds of a few calls each, medians
/// over the rounds), beside the algorithm `auto` picks. On a VM whose speed drifts by tens of
/// percent between minutes, this interleaving is what makes the per-shape ratios behind
/// ``ConvPlan``'s thresholds repeatable; separate runs of one policy after another are not.
func runConvAlgorithms(quick: Bool) {
    let batches = quick ? [1, 128] : [1, 2, 8, 128]
    let rounds = quick ? 4 : 9
    let saved = Runtime.convolutionPolicy
    defer { Runtime.convolutionPolicy = saved }
    print("forward of each ResNet-20 convolution, no grad, \(Runtime.threads) threads; median µs per call over \(rounds - 1) interleaved rounds")
    print("shape                  batch     im2col   winograd  winograd4     direct   auto picks       auto / best other")
    for cfg in resnet20Convs {
        for n in batches {
            var gen = SeededGenerator(seed: 3)
            let x = Tensor.randn([n, cfg.cin, cfg.side, cfg.side], generator: &gen)
            let w = Tensor.randn([cfg.cout, cfg.cin, 3, 3], std: 0.1, generator: &gen)
            let stride = Size2(cfg.stride, cfg.stride)
            func plan(_ p: ConvPolicy) -> ConvPlan.Algorithm {
                ConvPlan(input: x.shape, weight: w.shape, stride: stride, padding: 1, policy: p).forward.algorithm
            }
            // Each policy that runs an algorithm of its own here (Winograd forced where it does not
            // apply is im2col; winograd4 differs from winograd only where F(4×4, 3×3) applies).
            let policies: [ConvPolicy] = [.im2col, .winograd, .winograd4, .direct].filter {
                $0 == .im2col || ($0 == .winograd4 ? plan($0) == .winogradF43 : plan($0) != .im2col)
            }
            let calls = Swift.max(1, 64 / n)
            var times = [ConvPolicy: [Double]]()
            withNoGrad {
                for round in 0..<rounds {
                    for p in policies {
                        Runtime.convolutionPolicy = p
                        _ = x.conv2d(weight: w, stride: stride, padding: 1)
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        for _ in 0..<calls { _ = x.conv2d(weight: w, stride: stride, padding: 1) }
                        let us = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e3 / Double(calls)
                        if round > 0 { times[p, default: []].append(us) }   // the first round warms the caches
                    }
                }
            }
            func median(_ p: ConvPolicy) -> Double? { times[p].map { $0.sorted()[$0.count / 2] } }
            let picked = plan(.auto)
            let pickedPolicy: ConvPolicy = switch picked {
            case .direct3x3: .direct
            case .im2col, .pointwise, .col2im: .im2col
            case .winogradF43: .winograd4
            case .winogradF23, .winogradStride2: .winograd
            }
            let others = policies.filter { $0 != pickedPolicy }.compactMap(median)
            let ratio = median(pickedPolicy).flatMap { t in others.min().map { t / $0 } }
            func cell(_ p: ConvPolicy) -> String { median(p).map { String(format: "%10.1f", $0) } ?? String(repeating: " ", count: 9) + "—" }
            let shape = "\(cfg.cin)→\(cfg.cout) \(cfg.side)² s\(cfg.stride)".padding(toLength: 20, withPad: " ", startingAt: 0)
            print(String(format: "%@ %7d %@ %@ %@ %@   %@ %@", shape, n, cell(.im2col), cell(.winograd), cell(.winograd4), cell(.direct),
                         picked.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0),
                         ratio.map { String(format: "%.2f", $0) } ?? "—"))
        }
    }
    runWeightGradientAlgorithms(rounds: rounds, batch: 128)
}

/// The weight gradient of each stride-1 ResNet-20 convolution at one batch under each algorithm
/// (im2col, Winograd F(2×2, 3×3) and F(4×4, 3×3)), taking turns as above: the input needs no
/// gradient, so a backward pass is the weight gradient alone.
private func runWeightGradientAlgorithms(rounds: Int, batch n: Int) {
    print("\nweight gradient of each stride-1 ResNet-20 convolution at batch \(n); median µs per backward over \(rounds - 1) interleaved rounds")
    print("shape                      im2col   winograd  winograd4   auto picks       auto / best other")
    let saved = Runtime.convolutionPolicy
    defer { Runtime.convolutionPolicy = saved }
    for cfg in resnet20Convs where cfg.stride == 1 {
        var gen = SeededGenerator(seed: 4)
        let x = Tensor.randn([n, cfg.cin, cfg.side, cfg.side], generator: &gen)
        var w = Tensor.randn([cfg.cout, cfg.cin, 3, 3], std: 0.1, generator: &gen)
        w.requiresGrad = true
        let dy = Tensor.randn([n, cfg.cout, cfg.side, cfg.side], generator: &gen)
        let policies: [ConvPolicy] = [.im2col, .winograd, .winograd4]
        var times = [ConvPolicy: [Double]]()
        for round in 0..<rounds {
            for p in policies {
                Runtime.convolutionPolicy = p
                let y = x.conv2d(weight: w, padding: 1)
                w.grad = nil
                let t0 = DispatchTime.now().uptimeNanoseconds
                y.backward(dy)
                let us = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e3
                if round > 0 { times[p, default: []].append(us) }
            }
        }
        func median(_ p: ConvPolicy) -> Double? { times[p].map { $0.sorted()[$0.count / 2] } }
        let picked = ConvPlan(input: x.shape, weight: w.shape, padding: 1, policy: .auto).weightGradient.algorithm
        let pickedPolicy: ConvPolicy = picked == .winogradF43 ? .winograd4 : (picked == .winogradF23 ? .winograd : .im2col)
        let ratio = median(pickedPolicy).flatMap { t in policies.filter { $0 != pickedPolicy }.compactMap(median).min().map { t / $0 } }
        let shape = "\(cfg.cin)→\(cfg.cout) \(cfg.side)² s1".padding(toLength: 20, withPad: " ", startingAt: 0)
        let cells = policies.map { p in median(p).map { String(format: "%10.1f", $0) } ?? String(repeating: " ", count: 9) + "—" }
        let pick: String = picked.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)
        let ratioText: String = ratio.map { String(format: "%.2f", $0) } ?? "—"
        print("\(shape) \(cells.joined(separator: " "))   \(pick) \(ratioText)")
    }
}
