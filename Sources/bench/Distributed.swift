import CMPI
import Foundation
import Tessera
import TesseraDistributed
import TesseraModels
import TesseraNN

// `bench --distributed`, under mpirun with K ranks (scripts/bench-distributed.sh runs
// `mpirun -np 2 --bind-to none bench --distributed`): data-parallel training beside one process
// on the same cores.
//
// For each model, at a global batch of 128, three variants are interleaved round by round (this
// machine's speed drifts from minute to minute):
//   one process  rank 0 alone with every core's threads, batch 128 (the others wait in a barrier);
//   K ranks      each rank with cores / K threads and batch 128 / K, gradients averaged through
//                DistributedCoordinator as the Trainer does it (gradient-ready hooks, buckets,
//                buffer averaging, loss and stop agreements);
//   compute only the same K ranks' steps without any communication.
// Exposed communication per step: the time the rank that arrives last at each of the step's
// collectives (the gradient buckets' completion, the buffer average, the loss and stop
// agreements) still waits in them, i.e. the communication backward did not hide; the earlier
// ranks wait longer by the imbalance between the ranks. The difference between the K-rank and the
// compute-only step times, which adds that imbalance and the noise, is shown too. Then the allreduce
// bandwidth of each model's gradient buckets: a plain blocking MPI_Allreduce loop over the
// bucket sizes beside the reducer's step (copy into the buckets, polled MPI_Iallreduce, mean
// written back).

/// The figures of one model.
struct DistributedRow: Codable {
    var model: String
    var ranks: Int
    var globalBatch: Int
    /// Images per second, medians over the rounds.
    var oneProcess: Double, distributed: Double, computeOnly: Double
    /// Milliseconds per step: the last rank's waits (exposed communication; an upper bound, the
    /// sum over the step's collectives of the smallest rank total), rank 0's waits by kind, and
    /// the K-rank minus the compute-only step time.
    var exposedMs: Double, gradientWaitMs: Double, bufferMs: Double, agreementMs: Double, stepDifferenceMs: Double
    /// The gradient buckets: floats each, and the time of one step's allreduces.
    var bucketFloats: [Int]
    var plainAllreduceMs: Double, reducerStepMs: Double

    var ratio: Double { distributed / oneProcess }
}

func runDistributedBench(quick: Bool, filter: String?, json: String?) throws {
    let comm = try Communicator()
    defer { try? comm.finalize() }
    guard comm.size >= 2 else {
        throw ValidationErrorText("bench --distributed runs under mpirun with 2 or more ranks: scripts/bench-distributed.sh")
    }
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let perRank = max(1, cores / comm.localSize)
    if comm.rank == 0 {
        print("\(Machine.summary); \(comm.size) ranks, "
              + "\(comm.localSize) on this host: one process with \(cores) threads beside \(comm.size) ranks x \(perRank)")
        print("model        1 process   \(comm.size) ranks   ratio   compute only   exposed   rank 0 waits: gradients / buffers / agreements"
              + "   step difference   bucket allreduces: plain / reducer")
        fflush(nil)
    }
    let rounds = quick ? 3 : 7, steps = quick ? 2 : 3, batch = 128
    var rows: [DistributedRow] = []
    for name in ["resnet20", "resnet56"] where filter.map({ name.contains($0) }) ?? true {
        var row = try measureDataParallel(name, comm: comm, batch: batch, rounds: rounds, steps: steps, cores: cores, perRank: perRank)
        (row.plainAllreduceMs, row.reducerStepMs) = try measureBucketAllreduce(name, comm: comm, repeats: quick ? 20 : 50)
        rows.append(row)
        if comm.rank == 0 {
            let buckets = row.bucketFloats.map(String.init).joined(separator: "+")
            print(name.padding(toLength: 10, withPad: " ", startingAt: 0)
                  + String(format: "%7.0f i/s %7.0f i/s %6.3f× %9.0f i/s %7.2f ms %19.2f / %.2f / %.2f ms %11.1f ms %16.2f / %.2f ms",
                           row.oneProcess, row.distributed, row.ratio, row.computeOnly, row.exposedMs, row.gradientWaitMs,
                           row.bufferMs, row.agreementMs, row.stepDifferenceMs, row.plainAllreduceMs, row.reducerStepMs)
                  + " (\(buckets) floats)")
            fflush(nil)
        }
    }
    if comm.rank == 0, let json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(["rows": rows]).write(to: URL(fileURLWithPath: json), options: .atomic)
        print("wrote \(json)")
    }
}

/// A usage problem of `bench --distributed`, printed as is.
struct ValidationErrorText: Error, CustomStringConvertible {
    let description: String
    init(_ text: String) { description = text }
}

/// The three interleaved variants of one model (see the top of this file).
func measureDataParallel(_ name: String, comm: Communicator, batch: Int, rounds: Int, steps: Int,
                         cores: Int, perRank: Int) throws -> DistributedRow {
    let k = comm.size
    GlobalRandom.seed(0)
    let single = zooModel(name), ranked = zooModel(name), alone = zooModel(name)
    for m in [single, ranked, alone] { m.train() }
    let (singleOpt, rankedOpt, aloneOpt) = (paperSGD(single), paperSGD(ranked), paperSGD(alone))
    let (x, y) = syntheticBatch(batch, seed: 3)
    let (xr, yr) = syntheticBatch(batch / k, seed: 10 + UInt64(comm.rank))
    let coordinator = DistributedCoordinator(communicator: comm)   // timing: rank 0's waits are reported
    try coordinator.synchronizeStart(model: ranked, optimizer: rankedOpt)

    func ddpStep() throws {
        rankedOpt.zeroGrad()
        let loss = crossEntropy(ranked(xr), yr)
        _ = try coordinator.agreedLoss(loss.item())
        loss.backward()
        try coordinator.reduceGradients()
        rankedOpt.step()
        _ = try coordinator.agreedStop(false)
    }
    /// Seconds per step of `body` over `steps` steps, after a barrier.
    func perStep(_ body: () throws -> Void) throws -> Double {
        try comm.barrier()
        let start = ContinuousClock.now
        for _ in 0..<steps { try body() }
        return seconds(since: start) / Double(steps)
    }
    /// This rank's seconds in the coordinator's collectives in each of its steps since `from`.
    var waits: [Float] = []
    func waited(since from: CommunicationTiming) -> Double {
        let t = coordinator.timing
        return t.gradientSeconds + t.bufferSeconds + t.agreementSeconds - from.gradientSeconds - from.bufferSeconds - from.agreementSeconds
    }
    var one: [Double] = [], ddp: [Double] = [], compute: [Double] = [], exposed: [Double] = []
    var timing = CommunicationTiming()
    for round in -1..<rounds {              // round -1 warms every variant up
        Runtime.threads = cores
        let t1 = comm.rank == 0 ? try perStep { trainStep(single, singleOpt, x, y) } : 0
        if comm.rank != 0 { try comm.barrier() }
        try comm.barrier()
        Runtime.threads = perRank
        let before = coordinator.timing
        waits = []
        let t2 = try perStep {
            let start = coordinator.timing
            try ddpStep()
            waits.append(Float(waited(since: start)))
        }
        let after = coordinator.timing
        let allWaits = try comm.allgather(waits)
        let t3 = try perStep { trainStep(alone, aloneOpt, xr, yr) }
        // The ranks' step times: the slowest rank decides; rank 0 prints.
        var times = [t2, t3]
        times = try comm.allgather(times.map { Float($0) }).reduce([0, 0]) { [max($0[0], Double($1[0])), max($0[1], Double($1[1]))] }
        guard round >= 0 else { continue }
        exposed += waits.indices.map { s in Double(allWaits.map { $0[s] }.min() ?? 0) }
        one.append(t1)
        ddp.append(times[0])
        compute.append(times[1])
        timing.steps += after.steps - before.steps
        timing.gradientSeconds += after.gradientSeconds - before.gradientSeconds
        timing.bufferSeconds += after.bufferSeconds - before.bufferSeconds
        timing.agreementSeconds += after.agreementSeconds - before.agreementSeconds
    }
    var oneSeconds = [Float(Measurement(samples: one).median)]
    try oneSeconds.withUnsafeMutableBufferPointer { try comm.broadcast($0) }   // rank 0 measured it
    let (d, c) = (Measurement(samples: ddp).median, Measurement(samples: compute).median)
    let perStepMs = { (s: Double) in s / Double(max(timing.steps, 1)) * 1000 }
    return DistributedRow(model: name, ranks: k, globalBatch: batch, oneProcess: Double(batch) / Double(oneSeconds[0]),
                          distributed: Double(batch) / d, computeOnly: Double(batch) / c,
                          exposedMs: Measurement(samples: exposed).median * 1000,
                          gradientWaitMs: perStepMs(timing.gradientSeconds), bufferMs: perStepMs(timing.bufferSeconds),
                          agreementMs: perStepMs(timing.agreementSeconds), stepDifferenceMs: (d - c) * 1000,
                          bucketFloats: coordinator.reducer?.layout.buckets.map(\.count) ?? [], plainAllreduceMs: 0, reducerStepMs: 0)
}

/// Milliseconds of one step's allreduces for `name`'s gradient buckets (default caps): a plain
/// blocking `MPI_Allreduce` of each bucket's floats in turn, and the reducer's step (every
/// gradient handed in, last first, then `finish()`); medians of `repeats` steps.
func measureBucketAllreduce(_ name: String, comm: Communicator, repeats: Int) throws -> (Double, Double) {
    let params = zooModel(name).namedParameters()
    for (_, p) in params { p.grad = Tensor.full(p.shape, 1) }
    let reducer = try GradientReducer(parameters: params, communicator: comm)
    var buffers = reducer.layout.buckets.map { [Float](repeating: 1, count: $0.count + $0.parameters.count) }
    var plain: [Double] = [], stepped: [Double] = []
    for i in -2..<repeats {
        try comm.barrier()
        var start = ContinuousClock.now
        for b in buffers.indices {
            let rc = buffers[b].withUnsafeMutableBufferPointer {
                MPI_Allreduce(tessera_mpi_in_place(), $0.baseAddress, Int32($0.count), tessera_mpi_float(), tessera_mpi_sum(), tessera_mpi_comm_world())
            }
            guard rc == tessera_mpi_success() else { throw ValidationErrorText("MPI_Allreduce returned \(rc)") }
        }
        let p = seconds(since: start)
        try comm.barrier()
        start = ContinuousClock.now
        for j in (0..<reducer.parameterCount).reversed() { try reducer.gradientReady(j) }
        try reducer.finish()
        let s = seconds(since: start)
        if i >= 0 { plain.append(p); stepped.append(s) }
    }
    return (Measurement(samples: plain).median * 1000, Measurement(samples: stepped).median * 1000)
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
