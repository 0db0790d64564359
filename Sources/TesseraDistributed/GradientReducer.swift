import CMPI
import Tessera
import TesseraNN

/// Averages gradients over the ranks in buckets, overlapping communication with backward, in
/// the style of PyTorch's DDP and Horovod.
///
/// Each step, after (or during) `backward()`:
///
/// ```swift
/// let reducer = try GradientReducer(module: model, communicator: comm)
/// // per step:
/// optimizer.zeroGrad()
/// loss.backward()                      // without gradient-ready hooks: every bucket is sent here, after backward
/// for i in (0..<reducer.parameterCount).reversed() { try reducer.gradientReady(i) }
/// try reducer.finish()                 // every .grad is now the mean over the ranks
/// optimizer.step()
/// ```
///
/// ``gradientReady(_:)`` copies one parameter's gradient into its bucket (``BucketLayout``);
/// when that completes a bucket, the bucket's `MPI_Iallreduce` starts — in bucket order only, so
/// every rank starts the same collectives in the same order whatever order its gradients arrive
/// in — and later calls move the ones in flight along (`MPI_Test`), so communication proceeds
/// while the rest of backward computes. ``finish()`` takes the parameters not marked ready from
/// their `.grad`, starts the remaining buckets, waits for all under the communicator's watchdog,
/// divides by the number of ranks and writes the mean back into each parameter's `.grad`.
///
/// **Parameters without a gradient.** A parameter whose `.grad` is nil on a rank (unused in
/// that rank's loss) contributes zeros there, and each bucket carries one flag per parameter
/// counting the ranks that had a gradient. If some rank had one, every rank receives the sum
/// over the ranks divided by the number of ranks (the mean with zeros for the others, what a
/// single process would compute for the combined batch); if none had, the gradient is left nil
/// on every rank. So every rank takes the same optimizer step.
///
/// The parameters are fixed at creation (those requiring gradients, for ``init(module:communicator:firstBucketBytes:bucketBytes:)``):
/// build a new reducer after freezing or replacing layers. All calls come from the thread that
/// created the communicator; `gradientReady` may be called from inside `backward()` on that thread.
public final class GradientReducer {
    /// The communicator the buckets are reduced over.
    public let communicator: Communicator
    /// The bucket layout (the same on every rank).
    public let layout: BucketLayout
    /// The parameters' names, in registration order (the indices `gradientReady` takes).
    public let names: [String]
    let parameters: [Tensor]
    private let indexByName: [String: Int]
    /// For each parameter, its position within its bucket's parameter list (its flag's index).
    private let slotOfParameter: [Int]

    /// Per bucket: `count` gradient floats, then one has-gradient flag per parameter.
    private var buffers: [UnsafeMutableBufferPointer<Float>]
    private var pendingParameters: [Int]
    private var ready: [Bool]
    private var requests: [MPI_Request?]
    private var nextBucket = 0
    private var firstSequence = 0
    /// The first error of ``noteGradientReady(_:)`` in this step, thrown by ``finish()``.
    private var deferredError: Error?
    /// Steps completed by ``finish()``.
    public private(set) var steps = 0

    /// A reducer over named parameters (registration order, as `Module.namedParameters()`).
    /// Every rank checks that the others have the same names, shapes and bucket caps.
    /// - Parameters:
    ///   - parameters: the model's trainable parameters with their dotted names.
    ///   - communicator: the ranks that average the gradients.
    ///   - firstBucketBytes: cap of the first bucket (default 1 MiB).
    ///   - bucketBytes: cap of the later buckets (default 25 MiB).
    /// - Throws: ``DistributedError/configurationMismatch(what:details:)`` when the ranks'
    ///   parameters or caps differ; the check's collective errors.
    public init(parameters: [(name: String, tensor: Tensor)], communicator: Communicator,
                firstBucketBytes: Int = BucketLayout.defaultFirstBucketBytes,
                bucketBytes: Int = BucketLayout.defaultBucketBytes) throws {
        self.communicator = communicator
        self.names = parameters.map(\.name)
        self.parameters = parameters.map(\.tensor)
        var byName: [String: Int] = [:]
        for (i, n) in names.enumerated() {
            precondition(byName.updateValue(i, forKey: n) == nil, "GradientReducer: parameter name '\(n)' appears twice")
        }
        indexByName = byName
        let layout = BucketLayout(parameterCounts: parameters.map(\.tensor.count), firstBucketBytes: firstBucketBytes,
                                  bucketBytes: bucketBytes)
        self.layout = layout
        var slots = [Int](repeating: 0, count: parameters.count)
        for b in layout.buckets {
            for (j, p) in b.parameters.enumerated() { slots[p] = j }
        }
        slotOfParameter = slots
        let description = "first_bucket_bytes = \(firstBucketBytes)\nbucket_bytes = \(bucketBytes)\n"
            + parameters.map { "\($0.name) = \($0.tensor.shape)" }.joined(separator: "\n")
        buffers = layout.buckets.map { b in
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: b.count + b.parameters.count)
            buffer.initialize(repeating: 0)
            return buffer
        }
        pendingParameters = layout.buckets.map(\.parameters.count)
        ready = [Bool](repeating: false, count: parameters.count)
        requests = [MPI_Request?](repeating: nil, count: layout.buckets.count)
        try communicator.checkConsistency(description, of: "gradient reducer parameters")
    }

    /// A reducer over the parameters of `module` that require gradients.
    public convenience init(module: Module, communicator: Communicator,
                            firstBucketBytes: Int = BucketLayout.defaultFirstBucketBytes,
                            bucketBytes: Int = BucketLayout.defaultBucketBytes) throws {
        try self.init(parameters: module.namedParameters().filter { $0.tensor.requiresGrad }, communicator: communicator,
                      firstBucketBytes: firstBucketBytes, bucketBytes: bucketBytes)
    }

    deinit {
        // A bucket still in flight (after a failure) may yet be written by MPI: keep its memory.
        guard requests.allSatisfy({ $0 == nil }) else { return }
        for b in buffers { b.deallocate() }
    }

    /// The number of parameters (valid indices are `0 ..< parameterCount`).
    public var parameterCount: Int { parameters.count }

    /// The index of the parameter called `name`, or nil.
    public func index(of name: String) -> Int? { indexByName[name] }

    /// The index of `parameter` (the same storage and offset as one of the reducer's
    /// parameters, as a leaf handed to an autograd hook), or nil.
    public func index(of parameter: Tensor) -> Int? {
        parameters.firstIndex { $0.storage === parameter.storage && $0.offset == parameter.offset && $0.shape == parameter.shape }
    }

    /// Marks parameter `index`'s gradient as final for this step: copies its `.grad` (zeros if
    /// nil) into its bucket, starts the allreduce of every bucket that is now complete and whose
    /// predecessors have started, and moves the allreduces in flight along.
    /// - Precondition: `index` is valid and was not marked ready yet in this step; the gradient
    ///   has the parameter's element count.
    public func gradientReady(_ index: Int) throws {
        precondition(index >= 0 && index < parameters.count,
                     "GradientReducer.gradientReady: index \(index) out of range 0..<\(parameters.count)")
        precondition(!ready[index], "GradientReducer.gradientReady: parameter \(index) '\(names[index])' was already marked ready in this step")
        try communicator.ensureUsable()
        copyIn(index)
        try startCompleteBuckets()
        try communicator.progress(&requests, Activity(kind: .gradientBuckets, sequence: firstSequence, count: layout.totalCount, since: .now))
    }

    /// ``gradientReady(_:)`` for callers that cannot throw, such as a hook called from inside
    /// `backward()`: an error is kept and thrown by the next ``finish()`` (which then reduces
    /// nothing, since the communicator is unusable or the step is incomplete).
    public func noteGradientReady(_ index: Int) {
        guard deferredError == nil else { return }
        do { try gradientReady(index) } catch { deferredError = error }
    }

    /// ``gradientReady(_:)`` by parameter name.
    /// - Precondition: `name` is one of ``names``.
    public func gradientReady(name: String) throws {
        guard let i = indexByName[name] else { preconditionFailure("GradientReducer.gradientReady: no parameter named '\(name)'") }
        try gradientReady(i)
    }

    /// Completes the step: takes every parameter not marked ready from its current `.grad`,
    /// starts the remaining buckets, waits for all of them (watchdog included), and writes the
    /// mean over the ranks into each parameter's `.grad` (nil where no rank had a gradient).
    public func finish() throws {
        if let error = deferredError {
            deferredError = nil
            throw error
        }
        try communicator.ensureUsable()
        for b in layout.buckets {
            for p in b.parameters where !ready[p] { copyIn(p) }
        }
        try startCompleteBuckets()
        try communicator.wait(&requests, activity: Activity(kind: .gradientBuckets, sequence: firstSequence,
                                                            count: layout.totalCount, since: .now))
        let k = Float(communicator.size)
        for (bi, b) in layout.buckets.enumerated() {
            let base = buffers[bi].baseAddress!
            for (j, p) in b.parameters.enumerated() {
                let param = parameters[p]
                guard base[b.count + j] > 0 else {
                    param.grad = nil
                    continue
                }
                let src = UnsafePointer(base + b.offsets[j])
                let n = param.count
                if n == 0 { continue }
                if let g = param.grad, g.isContiguous, g.shape == param.shape {
                    g.withUnsafeMutableBufferPointer { dst in GradientReducer.divide(src, by: k, into: dst.baseAddress!, count: n) }
                } else {
                    param.grad = Tensor(shape: param.shape) { dst in GradientReducer.divide(src, by: k, into: dst.baseAddress!, count: n) }
                }
            }
        }
        for i in ready.indices { ready[i] = false }
        pendingParameters = layout.buckets.map(\.parameters.count)
        nextBucket = 0
        steps += 1
    }

    /// Copies parameter `p`'s gradient (or zeros) into its bucket and sets its flag.
    private func copyIn(_ p: Int) {
        let b = layout.bucketOfParameter[p]
        let bucket = layout.buckets[b]
        let dst = buffers[b].baseAddress! + layout.offsetOfParameter[p]
        let n = parameters[p].count
        let slot = slotOfParameter[p]
        if let g = parameters[p].grad {
            precondition(g.count == n, "GradientReducer: gradient of '\(names[p])' has shape \(g.shape), parameter \(parameters[p].shape)")
            if n > 0 { g.withUnsafeBufferPointer { src in dst.update(from: src.baseAddress!, count: n) } }
            buffers[b][bucket.count + slot] = 1
        } else {
            dst.update(repeating: 0, count: n)
            buffers[b][bucket.count + slot] = 0
        }
        ready[p] = true
        pendingParameters[b] -= 1
    }

    /// Starts, in bucket order, every complete bucket whose predecessors have started.
    private func startCompleteBuckets() throws {
        while nextBucket < buffers.count && pendingParameters[nextBucket] == 0 {
            let buffer = buffers[nextBucket]
            let seq = communicator.nextSequence()
            if nextBucket == 0 { firstSequence = seq }
            try mpiCheck(MPI_Iallreduce(tessera_mpi_in_place(), buffer.baseAddress, mpiCount(buffer.count, "GradientReducer"),
                                        tessera_mpi_float(), tessera_mpi_sum(), communicator.comm, &requests[nextBucket]),
                         "MPI_Iallreduce (gradient bucket \(nextBucket))")
            nextBucket += 1
        }
    }

    private static func divide(_ src: UnsafePointer<Float>, by k: Float, into dst: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n { dst[i] = src[i] / k }
    }
}
