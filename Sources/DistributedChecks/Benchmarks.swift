import CMPI
import Foundation
import Tessera
import TesseraDistributed
import TesseraModels
import TesseraNN

// Measurements, not checks (scripts/test.sh does not run them); timings depend on the machine.
//
//   mpirun -np 2 DistributedChecks bench-allreduce
//   mpirun -np 2 DistributedChecks bench-overlap [--first-kib 1024 --later-kib 25600]
//   mpirun -np 2 DistributedChecks bench-overlap-thread [--first-kib …]

/// Seconds per call of `body`, the median of `rounds` timings of `inner` calls each.
func timePerCall(rounds: Int = 5, inner: Int, _ body: () throws -> Void) rethrows -> Double {
    var samples: [Double] = []
    try body()
    for _ in 0..<rounds {
        let start = ContinuousClock.now
        for _ in 0..<inner { try body() }
        samples.append(seconds(since: start) / Double(inner))
    }
    return samples.sorted()[samples.count / 2]
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

/// The parameters of ResNet-20 (269,722 floats in 65 tensors), with gradients set.
func resnet20Parameters() -> [(name: String, tensor: Tensor)] {
    let params = CIFARResNet(depth: 20).namedParameters()
    for (_, p) in params { p.grad = Tensor.full(p.shape, 1) }
    return params
}

/// Plain `MPI_Allreduce` in a loop beside the communicator's polled `MPI_Iallreduce` and a
/// reducer step (copy into the bucket, allreduce, divide, write back) of the same sizes.
func benchAllreduce(_ comm: Communicator, _ options: [String]) throws {
    say(comm, "allreduce of n floats over \(comm.size) ranks: time per call (median of 5) and n*4 bytes / time")
    say(comm, "    floats     MPI_Allreduce loop  Communicator.allreduce   GradientReducer step")
    for n in [1024, 16_384, 269_722, 1 << 20, 4 << 20] {
        let inner = max(3, min(2000, 40_000_000 / max(n, 1) / 4))
        var buffer = [Float](repeating: 1, count: n)
        try comm.barrier()
        let plain = try buffer.withUnsafeMutableBufferPointer { b in
            try timePerCall(inner: inner) {
                try mpiRaw(MPI_Allreduce(tessera_mpi_in_place(), b.baseAddress, Int32(n), tessera_mpi_float(), tessera_mpi_sum(),
                                         tessera_mpi_comm_world()), "MPI_Allreduce")
            }
        }
        try comm.barrier()
        let polled = try buffer.withUnsafeMutableBufferPointer { b in try timePerCall(inner: inner) { try comm.allreduceSum(b) } }
        var p = Tensor.zeros([n])
        p.requiresGrad = true
        p.grad = Tensor.full([n], 1)
        let reducer = try GradientReducer(parameters: [("p", p)], communicator: comm)
        try comm.barrier()
        let step = try timePerCall(inner: inner) {
            p.grad = p.grad ?? Tensor.full([n], 1)
            try reducer.gradientReady(0)
            try reducer.finish()
        }
        func cell(_ t: Double) -> String { String(format: "%8.1f us %6.2f GB/s", t * 1e6, Double(n * 4) / t / 1e9) }
        say(comm, String(format: "%10d %@ %@ %@", n, cell(plain), cell(polled), cell(step)))
    }
    let params = resnet20Parameters()
    let reducer = try GradientReducer(parameters: params, communicator: comm)
    try comm.barrier()
    let step = try timePerCall(inner: 100) {
        for i in (0..<reducer.parameterCount).reversed() { try reducer.gradientReady(i) }
        try reducer.finish()
    }
    say(comm, String(format: "ResNet-20 (%d floats, %d tensors, %d buckets at the default caps): reducer step %.1f us, %.2f GB/s",
                     reducer.layout.totalCount, params.count, reducer.layout.buckets.count, step * 1e6,
                     Double(reducer.layout.totalCount * 4) / step / 1e9))
}

func mpiRaw(_ code: Int32, _ call: String) throws {
    if code != tessera_mpi_success() { throw CheckFailure("\(call) returned \(code)") }
}

/// A simulated backward pass over ResNet-20's parameters, last first: `work` GEMMs per
/// parameter, then the gradient is final and `ready(i)` is called.
struct SimulatedBackward {
    let a = Tensor.randn([128, 128]), b = Tensor.randn([128, 128])
    let work: Int

    func run(parameters: Int, ready: (Int) throws -> Void) rethrows {
        for i in (0..<parameters).reversed() {
            for _ in 0..<work { _ = a.matmul(b) }
            try ready(i)
        }
    }
}

func overlapCaps(_ options: [String]) throws -> (Int, Int) {
    (try option(options, "first-kib", 1024) * 1024, try option(options, "later-kib", 25 * 1024) * 1024)
}

/// Median seconds of each variant's step, the variants interleaved step by step (this machine's
/// speed drifts from minute to minute), after one warm-up step each.
func interleavedMedians(rounds: Int, _ variants: [() throws -> Void]) throws -> [Double] {
    for v in variants { try v() }
    var samples = [[Double]](repeating: [], count: variants.count)
    for _ in 0..<rounds {
        for (i, v) in variants.enumerated() {
            let start = ContinuousClock.now
            try v()
            samples[i].append(seconds(since: start))
        }
    }
    return samples.map { $0.sorted()[$0.count / 2] }
}

/// Step time (a barrier ends each step) of the simulated backward alone, with the reducer's
/// allreduce after it (no overlap), and with `gradientReady` called as each gradient becomes
/// final (polled overlap).
func benchOverlapPolling(_ comm: Communicator, _ options: [String]) throws {
    let (first, later) = try overlapCaps(options)
    let params = resnet20Parameters()
    let reducer = try GradientReducer(parameters: params, communicator: comm, firstBucketBytes: first, bucketBytes: later)
    let backward = SimulatedBackward(work: try option(options, "work", 40))
    let t = try interleavedMedians(rounds: try option(options, "steps", 9), [
        { backward.run(parameters: params.count) { _ in }; try comm.barrier() },
        { backward.run(parameters: params.count) { _ in }; try reducer.finish(); try comm.barrier() },
        { try backward.run(parameters: params.count) { try reducer.gradientReady($0) }; try reducer.finish(); try comm.barrier() },
    ])
    say(comm, String(format: "polling (MPI_THREAD_FUNNELED), %d buckets (caps %d / %d KiB), %d ranks, median step: backward alone %.2f ms; "
                     + "allreduce after backward +%.2f ms; overlapped (gradientReady during backward) +%.2f ms",
                     reducer.layout.buckets.count, first / 1024, later / 1024, comm.size, t[0] * 1e3, (t[1] - t[0]) * 1e3, (t[2] - t[0]) * 1e3))
}

/// Horovod's approach for comparison: a background thread doing blocking `MPI_Allreduce`s of
/// complete buckets (in bucket order) while the main thread computes. MPI is initialized here
/// with MPI_THREAD_SERIALIZED: the main thread makes no MPI call while the thread works.
func benchOverlapThread(_ options: [String]) {
    var provided: Int32 = 0
    _ = MPI_Init_thread(nil, nil, tessera_mpi_thread_serialized(), &provided)
    var rank: Int32 = 0, size: Int32 = 0
    MPI_Comm_rank(tessera_mpi_comm_world(), &rank)
    MPI_Comm_size(tessera_mpi_comm_world(), &size)
    guard provided >= tessera_mpi_thread_serialized() else {
        print("bench-overlap-thread: MPI provides thread level \(provided) only")
        MPI_Finalize()
        return
    }
    Runtime.threads = max(1, ProcessInfo.processInfo.activeProcessorCount / Int(size))
    let (first, later) = (try? overlapCaps(options)) ?? (1 << 20, 25 << 20)
    let params = resnet20Parameters()
    let layout = BucketLayout(parameterCounts: params.map(\.tensor.count), firstBucketBytes: first, bucketBytes: later)
    let worker = CommunicationThread(bucketCounts: layout.buckets.map(\.count), ranks: Int(size))
    let backward = SimulatedBackward(work: (try? option(options, "work", 40)) ?? 40)

    func step() {
        var pending = layout.buckets.map(\.parameters.count)
        var next = 0
        backward.run(parameters: params.count) { p in
            let b = layout.bucketOfParameter[p]
            worker.copy(params[p].tensor.grad!, intoBucket: b, at: layout.offsetOfParameter[p])
            pending[b] -= 1
            while next < pending.count && pending[next] == 0 {
                worker.enqueue(next)
                next += 1
            }
        }
        worker.waitUntilIdle(completed: layout.buckets.count)
    }
    let t = (try? interleavedMedians(rounds: (try? option(options, "steps", 9)) ?? 9, [
        { backward.run(parameters: params.count) { _ in }; MPI_Barrier(tessera_mpi_comm_world()) },
        { step(); MPI_Barrier(tessera_mpi_comm_world()) },
    ])) ?? [0, 0]
    if rank == 0 {
        print(String(format: "rank 0: communication thread (MPI_THREAD_SERIALIZED, blocking MPI_Allreduce), %d buckets (caps %d / %d KiB), "
                     + "%d ranks, median step: backward alone %.2f ms; overlapped on the thread +%.2f ms",
                     layout.buckets.count, first / 1024, later / 1024, size, t[0] * 1e3, (t[1] - t[0]) * 1e3))
    }
    worker.stop()
    MPI_Finalize()
}

/// The background thread of ``benchOverlapThread(_:)``: reduces the buckets it is handed, in order.
final class CommunicationThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [Int] = []
    private var completed = 0
    private var stopping = false
    private let buffers: [UnsafeMutableBufferPointer<Float>]
    private let ranks: Float

    init(bucketCounts: [Int], ranks: Int) {
        buffers = bucketCounts.map { n in
            let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
            b.initialize(repeating: 0)
            return b
        }
        self.ranks = Float(ranks)
        let thread = Thread { [unowned self] in self.loop() }
        thread.start()
    }

    func copy(_ grad: Tensor, intoBucket b: Int, at offset: Int) {
        grad.withUnsafeBufferPointer { src in (buffers[b].baseAddress! + offset).update(from: src.baseAddress!, count: src.count) }
    }

    func enqueue(_ bucket: Int) {
        condition.lock()
        queue.append(bucket)
        condition.broadcast()
        condition.unlock()
    }

    func waitUntilIdle(completed target: Int) {
        condition.lock()
        while completed < target { condition.wait() }
        completed = 0
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if stopping { condition.unlock(); return }
            let b = queue.removeFirst()
            condition.unlock()
            let p = buffers[b]
            _ = MPI_Allreduce(tessera_mpi_in_place(), p.baseAddress, Int32(p.count), tessera_mpi_float(), tessera_mpi_sum(), tessera_mpi_comm_world())
            for i in p.indices { p[i] /= ranks }
            condition.lock()
            completed += 1
            condition.broadcast()
            condition.unlock()
        }
    }
}
