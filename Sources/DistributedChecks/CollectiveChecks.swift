import Foundation
import Tessera
import TesseraDistributed
import TesseraNN
import TesseraVision

/// Where each rank runs (printed by every rank; the two-host script checks the namespaces).
func reportHosts(_ comm: Communicator, _ options: [String]) throws {
    let namespace = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")) ?? "n/a"
    let lines = try comm.allgather("host \(ProcessInfo.processInfo.hostName), network namespace \(namespace), "
                                   + "local rank \(comm.localRank) of \(comm.localSize)")
    if comm.rank == 0 { for (r, line) in lines.enumerated() { print("rank \(r): \(line)") } }
}

/// Each collective on each kind of buffer, the state broadcasts and averaging, metric sums.
func checkCollectives(_ comm: Communicator, _ options: [String]) throws {
    let k = comm.size, r = comm.rank
    try comm.barrier()

    var floats = [Float](repeating: Float(r), count: 1000)
    try floats.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: k - 1) }
    try require(floats.allSatisfy { $0 == Float(k - 1) }, "broadcast of floats from rank \(k - 1)")
    let tensor = Tensor.full([4, 5], Float(r + 1))
    try comm.broadcast(tensor)
    try require(tensor.scalars.allSatisfy { $0 == 1 }, "broadcast of a tensor from rank 0")
    var ints = Array(0..<(r + 2))
    try comm.broadcast(&ints)
    try require(ints == [0, 1], "broadcast of [Int] with rank-dependent lengths gave \(ints)")
    var bytes = [UInt8](repeating: UInt8(r), count: 3 + r)
    try comm.broadcast(&bytes)
    try require(bytes == [0, 0, 0], "broadcast of bytes gave \(bytes)")

    let sum = Tensor.full([7], Float(r + 1))
    try comm.allreduceSum(sum)
    try require(sum.scalars.allSatisfy { $0 == Float(k * (k + 1) / 2) }, "allreduceSum of a tensor gave \(sum.scalars)")
    var intSum = [r, 1, -r]
    try comm.allreduceSum(&intSum)
    try require(intSum == [k * (k - 1) / 2, k, -k * (k - 1) / 2], "allreduceSum of [Int] gave \(intSum)")
    var doubleSum = [0.5 * Double(r)]
    try comm.allreduceSum(&doubleSum)
    try require(doubleSum == [0.25 * Double(k * (k - 1))], "allreduceSum of [Double] gave \(doubleSum)")

    let gathered = try comm.allgather(Array(repeating: r, count: r + 1))
    try require(gathered == (0..<k).map { Array(repeating: $0, count: $0 + 1) }, "allgather of [Int] gave \(gathered)")
    try require(try comm.allgather("rank \(r)") == (0..<k).map { "rank \($0)" }, "allgather of strings")
    let stacked = try comm.allgather(Tensor.full([2, 3], Float(r)))
    try require(stacked.shape == [k, 2, 3] && stacked.scalars == (0..<k).flatMap { [Float](repeating: Float($0), count: 6) },
                "allgather of tensors gave \(stacked.shape)")
    if k > 1 { do {
        _ = try comm.allgather(Tensor.zeros([r == k - 1 ? 3 : 2]))
        try require(false, "allgather of tensors with different shapes was not refused")
    } catch let DistributedError.inconsistentArguments(operation, details) {
        try require(operation == "allgather" && details.contains("rank \(k - 1): [3]"), "unexpected refusal: \(details)")
    } }

    // State: a state dict, an optimizer's state, buffers.
    var sd = StateDict()
    if r == 0 {
        sd.set("w", Tensor([1, 2, 3, 4], shape: [2, 2]))
        sd.set("n", Tensor(scalar: 7), dtype: .int64)
        sd.metadata["epoch"] = "3"
    } else {
        sd.set("other", Tensor.zeros([r]))
    }
    try comm.broadcast(&sd)
    try require(sd.keys == ["w", "n"] && sd["w"]!.scalars == [1, 2, 3, 4] && sd["w"]!.shape == [2, 2]
                && sd.dtype(of: "n") == .int64 && sd["n"]!.item() == 7 && sd.metadata == ["epoch": "3"],
                "broadcast of a state dict gave keys \(sd.keys)")

    GlobalRandom.seed(UInt64(50 + r))
    let net = Sequential(Linear(3, 4), BatchNorm1d(4), Linear(4, 2))
    try comm.broadcastParameters(of: net)
    let optimizer = SGD(net, lr: 0.1, momentum: 0.9)
    for (_, p) in net.namedParameters() { p.grad = Tensor.full(p.shape, Float(r + 1)) }
    optimizer.step()                                  // different momentum buffers on every rank
    try comm.broadcastState(of: optimizer)
    let state = optimizer.stateDict()
    let rootState = try comm.allgather([digest(state.map(\.entry.tensor))]).map { $0[0] }
    try require(Set(rootState).count == 1 && state["0.weight.momentum_buffer"]?.scalars.allSatisfy({ $0 == 1 }) == true,
                "optimizer state after broadcastState is not rank 0's")

    let bn = net[1] as! BatchNorm
    let (mean, variance, tracked) = (bn.runningMean!, bn.runningVar!, bn.numBatchesTracked!)
    mean.assign(Tensor.full([4], Float(r)))
    variance.assign(Tensor.full([4], Float(2 * r)))
    tracked.assign(Tensor(scalar: Float(10 + r)))
    try comm.averageBuffers(of: net)
    let expectedMean = Float(k - 1) / 2
    try require(mean.scalars.allSatisfy { $0 == expectedMean } && variance.scalars.allSatisfy { $0 == 2 * expectedMean }
                && tracked.item() == 10, "averageBuffers gave \(mean.scalars), \(variance.scalars), \(tracked.item())")

    var totals = MetricTotals()
    totals.add(meanLoss: 0.5, count: 10 + r, correct: r)
    let all = try comm.sum(totals)
    try require(all.seen == 10 * k + k * (k - 1) / 2 && all.correct == k * (k - 1) / 2
                && abs(all.lossSum - 0.5 * Double(all.seen)) < 1e-9, "sum of metric totals gave \(all)")
    say(comm, "collectives: barrier, broadcast, allreduce-sum, allgather (floats, tensors, ints, bytes, strings), "
        + "state dict / optimizer state / parameter broadcast, buffer averaging, metric sums")
}

/// A dataset of `count` one-pixel samples whose value is the index; label index % 10.
struct IndexDataset: Dataset {
    let count: Int
    var sampleShape: SampleShape { SampleShape(channels: 1, height: 1, width: 1) }
    var classNames: [String] { (0..<10).map(String.init) }
    func label(at index: Int) -> Int { index % 10 }
    func writeSample(at index: Int, into buffer: UnsafeMutableBufferPointer<Float>) throws { buffer[0] = Float(index) }
}

/// Training: over the ranks, every index exactly once per epoch plus the padding (taken from
/// the start of the permutation); the same number of steps on every rank. Evaluation: exactly N
/// images counted over the ranks, through DataLoader with the shard's order.
func checkSharding(_ comm: Communicator, _ options: [String]) throws {
    let k = comm.size
    for n in [50_000, 10_000, 9_999, 10_001, k - 1] where n >= 0 {
        let sampler = DistributedSampler(count: n, communicator: comm, seed: 11)
        for epoch in 0..<2 {
            let all = try comm.allgather(sampler.indices(epoch: epoch))
            try require(Set(all.map(\.count)).count == 1 && all[0].count == sampler.samplesPerRank,
                        "n \(n): ranks got \(all.map(\.count)) samples, expected \(sampler.samplesPerRank) each")
            var seen = [Int](repeating: 0, count: n)
            for list in all { for i in list { seen[i] += 1 } }
            let padding = sampler.totalSize - n
            let permutation = sampler.permutation(epoch: epoch)
            var expected = [Int](repeating: 1, count: n)
            for p in 0..<padding { expected[permutation[p % max(n, 1)]] += 1 }
            try require(seen == expected, "n \(n), epoch \(epoch): some index is not seen exactly once (plus the \(padding) padding samples from the start)")
            if epoch == 1 {
                try require(permutation != sampler.permutation(epoch: 0) || n < 3, "n \(n): epochs 0 and 1 have the same order")
            }
        }
    }
    for n in [10_000, 9_999, 10_001] {
        let shard = EvaluationShard(count: n, communicator: comm)
        let loader = DataLoader(dataset: IndexDataset(count: n), batchSize: 128, shuffle: false, prefetch: 0,
                                sampleOrder: SampleOrder(count: shard.range.count) { _ in shard.indices })
        var totals = MetricTotals()
        var visited: [Int] = []
        try loader.forEachBatch(epoch: 0) { batch in
            visited += batch.images.scalars.map { Int($0) }
            totals.add(meanLoss: 1, count: batch.count, correct: batch.labelIndices.filter { $0 == 0 }.count)
        }
        let all = try comm.sum(totals)
        let everyone = try comm.allgather(visited).flatMap { $0 }
        try require(all.seen == n && everyone.sorted() == Array(0..<n), "evaluation of \(n) images counted \(all.seen)")
        try require(all.correct == (n + 9) / 10, "evaluation of \(n) images: \(all.correct) with label 0, expected \((n + 9) / 10)")
    }
    say(comm, "sharding: training indices once per epoch plus padding from the permutation's start (n = 50000, 10000, 9999, 10001, \(k - 1)); "
        + "evaluation counts exactly n images (10000, 9999, 10001) over \(k) ranks")
}

/// The last rank runs with another batch size and model: the start-up check must refuse
/// (the process exits non-zero with the message; the script checks it).
func checkMismatch(_ comm: Communicator, _ options: [String]) throws {
    struct Config: Codable {
        var model: String
        var batchSize: Int
        var trainSamples: Int
        var optimizer: [String: Double]
    }
    let last = comm.rank == comm.size - 1
    let config = Config(model: last ? "resnet56" : "resnet20", batchSize: last ? 32 : 64, trainSamples: 50_000,
                        optimizer: ["lr": 0.1, "momentum": 0.9])
    try comm.checkConsistency(config, of: "training configuration")
    throw CheckFailure("the mismatched configuration was not refused")
}

/// Keeps the ranks in collectives until rank 0 sends `signal` to the last rank (SIGKILL: it
/// dies; SIGSTOP: it hangs). The others must then fail with a message naming it; the script
/// checks the messages, the times and the exit status.
func injectFault(_ signal: Int32, _ comm: Communicator, _ options: [String]) throws {
    try require(comm.size >= 2, "needs at least 2 ranks")
    let pids = try comm.allgather([Int(getpid())]).map { $0[0] }
    let victim = comm.size - 1
    let buffer = Tensor.zeros([1000])
    say(comm, "watchdog timeout \(comm.timeout) s, probe window \(comm.probeWindow) s")
    for i in 0..<1_000_000 {
        try comm.allreduceSum(buffer)
        if i == 20 && comm.rank == 0 {
            let name = signal == SIGKILL ? "SIGKILL" : "SIGSTOP"
            say(comm, "sending \(name) to rank \(victim) (pid \(pids[victim])) at unix time \(unixTime())")
            kill(pid_t(pids[victim]), signal)
        }
    }
    throw CheckFailure("the fault was not detected")
}
