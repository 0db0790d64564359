import COpenBLAS
import Tessera

/// The ResNet-20 convolutions on CIFAR-10 (3×3, padding 1): (in, out, input side, stride).
let resnet20Convs: [(cin: Int, cout: Int, side: Int, stride: Int)] = [
    (3, 16, 32, 1), (16, 16, 32, 1), (16, 32, 32, 2), (32, 32, 16, 1), (32, 64, 16, 2), (64, 64, 8, 1),
]

/// sgemm through `Tensor.matmul` and, for the wrapper's overhead, raw `cblas_sgemm` on the same buffers.
func gemmWorkloads(quick: Bool) -> [Workload] {
    let sizes = quick ? [256, 1024] : [256, 512, 1024, 2048]
    return sizes.flatMap { n -> [Workload] in
        let flops = 2 * Double(n) * Double(n) * Double(n)
        var gen = SeededGenerator(seed: 1)
        let a = Tensor.randn([n, n], generator: &gen), b = Tensor.randn([n, n], generator: &gen)
        let gf: (Double) -> Double = { flops / $0 / 1e9 }
        let wrapped = Workload(name: "sgemm_\(n)", unit: "GFLOPS", higherIsBetter: true, detail: "matmul [\(n),\(n)]·[\(n),\(n)]") { w, r in
            timed(w, r, figure: gf) { _ = a.matmul(b) }
        }
        let raw = Workload(name: "sgemm_\(n)_raw_cblas", unit: "GFLOPS", higherIsBetter: true, detail: "cblas_sgemm, same buffers (baseline)") { w, r in
            let c = Tensor.zeros([n, n])
            return timed(w, r, figure: gf) {
                a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1,
                                pa.baseAddress, Int32(n), pb.baseAddress, Int32(n), 0, pc.baseAddress, Int32(n))
                } } }
            }
        }
        return [wrapped, raw]
    }
}

/// conv2d forward, and backward (input and weight gradients), for each ResNet-20 shape at `batch`.
func convWorkloads(batch: Int) -> [Workload] {
    resnet20Convs.flatMap { cfg -> [Workload] in
        let out = cfg.side / cfg.stride
        let flops = 2 * Double(batch * cfg.cout * out * out * cfg.cin * 9)
        let tag = "conv_\(cfg.cin)x\(cfg.cout)_\(cfg.side)_s\(cfg.stride)"
        let detail = "N=\(batch) \(cfg.cin)→\(cfg.cout) \(cfg.side)² 3×3 stride \(cfg.stride)"
        var gen = SeededGenerator(seed: 2)
        var x = Tensor.randn([batch, cfg.cin, cfg.side, cfg.side], generator: &gen)
        var w = Tensor.randn([cfg.cout, cfg.cin, 3, 3], std: 0.1, generator: &gen)
        let forward = Workload(name: tag + "_fwd", unit: "GFLOPS", higherIsBetter: true, detail: detail) { wu, r in
            withNoGrad { timed(wu, r, figure: { flops / $0 / 1e9 }) { _ = x.conv2d(weight: w, stride: Size2(cfg.stride, cfg.stride), padding: 1) } }
        }
        let backward = Workload(name: tag + "_bwd", unit: "GFLOPS", higherIsBetter: true, detail: detail + ", dX and dW") { wu, r in
            x.requiresGrad = true; w.requiresGrad = true
            let y = x.conv2d(weight: w, stride: Size2(cfg.stride, cfg.stride), padding: 1)
            let seed = Tensor.ones(y.shape)
            return timed(wu, r, figure: { 2 * flops / $0 / 1e9 }) {
                y.backward(seed, retainGraph: true)
                x.grad = nil; w.grad = nil
            }
        }
        return [forward, backward]
    }
}

/// Forward passes of a batch-1 convolution per timed sample: one takes tens of microseconds.
let convLatencyCallsPerSample = 20

/// conv2d forward at batch 1, without gradient, for each ResNet-20 shape (`conv_…_b1_fwd`): the
/// latency path, where what a GEMM costs besides its arithmetic (packing, zeroing C, waking
/// threads) weighs most, and where the plan takes the direct kernel.
func convLatencyWorkloads() -> [Workload] {
    resnet20Convs.map { cfg -> Workload in
        let out = cfg.side / cfg.stride
        let flops = 2 * Double(cfg.cout * out * out * cfg.cin * 9 * convLatencyCallsPerSample)
        var gen = SeededGenerator(seed: 2)
        let x = Tensor.randn([1, cfg.cin, cfg.side, cfg.side], generator: &gen)
        let w = Tensor.randn([cfg.cout, cfg.cin, 3, 3], std: 0.1, generator: &gen)
        return Workload(name: "conv_\(cfg.cin)x\(cfg.cout)_\(cfg.side)_s\(cfg.stride)_b1_fwd", unit: "GFLOPS", higherIsBetter: true,
                        detail: "N=1 \(cfg.cin)→\(cfg.cout) \(cfg.side)² 3×3 stride \(cfg.stride) (\(convLatencyCallsPerSample) calls per sample)") { wu, r in
            withNoGrad {
                timed(wu, r, figure: { flops / $0 / 1e9 }) {
                    for _ in 0..<convLatencyCallsPerSample { _ = x.conv2d(weight: w, stride: Size2(cfg.stride, cfg.stride), padding: 1) }
                }
            }
        }
    }
}

/// Calls of one elementwise op per timed sample: a single ReLU over 2¹⁶ floats takes a few
/// microseconds, too short to time alone.
let elementwiseCallsPerSample = 100

/// ReLU over 2¹⁶ and 2²⁰ floats without gradient, in GB/s (a read and a write of 4 bytes per
/// element): how soon one of Tessera's parallel loops gets every thread working. The small one
/// takes a few microseconds a call, the large one about a hundred; waking a parked thread on a
/// VM takes tens (tessera_pool.h).
func elementwiseWorkloads() -> [Workload] {
    [1 << 16, 1 << 20].map { n in
        var gen = SeededGenerator(seed: 2)
        let x = Tensor.randn([n], generator: &gen)
        let bytes = 8 * Double(n) * Double(elementwiseCallsPerSample)
        return Workload(name: "relu_\(n)", unit: "GB/s", higherIsBetter: true,
                        detail: "relu of \(n) floats, no grad (\(elementwiseCallsPerSample) calls per sample)") { w, r in
            timed(w, r, figure: { bytes / $0 / 1e9 }) {
                withNoGrad { for _ in 0..<elementwiseCallsPerSample { _ = x.relu() } }
            }
        }
    }
}
