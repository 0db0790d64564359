import Foundation
import Tessera
import TesseraNN

/// Keeping models and optimizers identical across ranks: broadcast from one rank at start (or
/// after loading a checkpoint on it), and averaging of buffers such as batch-norm running
/// statistics before evaluation and checkpoints.
extension Communicator {
    /// Copies `root`'s parameters and buffers into `module` on every rank, in place (optimizers
    /// holding the tensors stay valid). Every rank first checks that the modules have the same
    /// names, shapes and dtypes; the values then travel as one packed broadcast.
    /// - Throws: ``DistributedError/configurationMismatch(what:details:)`` naming the entries that
    ///   differ between ranks; the broadcast's errors.
    public func broadcastParameters(of module: Module, root: Int = 0) throws {
        let state = module.stateDict()
        try checkConsistency(Communicator.layout(of: state), of: "model parameters and buffers")
        try broadcastValues(state.map(\.entry.tensor), root: root)
    }

    /// Replaces `stateDict` on every rank by `root`'s: keys, shapes, dtypes, metadata and values
    /// (other ranks' entries are discarded, so their keys may differ from root's).
    public func broadcast(_ stateDict: inout StateDict, root: Int = 0) throws {
        var header: [UInt8] = []
        if rank == root {
            let h = StateDictHeader(entries: stateDict.map { .init(key: $0.key, shape: $0.entry.tensor.shape, dtype: $0.entry.dtype.rawValue) },
                                    metadata: stateDict.metadata)
            header = Array(try JSONEncoder().encode(h))
        }
        try broadcast(&header, root: root)
        if rank != root {
            let h: StateDictHeader
            do { h = try JSONDecoder().decode(StateDictHeader.self, from: Data(header)) } catch {
                throw DistributedError.inconsistentArguments(operation: "broadcast(StateDict)",
                                                             details: "rank \(root)'s header could not be read: \(error)")
            }
            var sd = StateDict()
            for e in h.entries {
                guard let dtype = DType(rawValue: e.dtype) else {
                    throw DistributedError.inconsistentArguments(operation: "broadcast(StateDict)",
                                                                 details: "rank \(root) sent unknown dtype '\(e.dtype)' for '\(e.key)'")
                }
                sd.set(e.key, Tensor.zeros(e.shape), dtype: dtype)
            }
            sd.metadata = h.metadata
            stateDict = sd
        }
        try broadcastValues(stateDict.map { $0.entry.tensor.contiguous() }, root: root)
    }

    /// Gives every rank `root`'s optimizer state (`Optimizer.stateDict()`: per-parameter step
    /// counts and buffers such as `momentum_buffer`, and `lr`), e.g. after rank 0 resumed from a
    /// checkpoint.
    /// - Throws: the broadcast's errors, and `OptimizerStateError` when `root`'s state does not
    ///   fit this rank's parameters.
    public func broadcastState(of optimizer: Optimizer, root: Int = 0) throws {
        var sd = rank == root ? optimizer.stateDict() : StateDict()
        try broadcast(&sd, root: root)
        if rank != root { try optimizer.loadStateDict(sd) }
    }

    /// Replaces every floating-point buffer of `module` (batch-norm `running_mean`,
    /// `running_var`, …) by its mean over the ranks, and every integer buffer
    /// (`num_batches_tracked`) by rank 0's, in place. Call it before evaluating or saving when
    /// each rank has updated its buffers from its own batches.
    /// - Throws: ``DistributedError/configurationMismatch(what:details:)`` when the ranks' buffers
    ///   differ in names or shapes; the collectives' errors.
    public func averageBuffers(of module: Module) throws {
        let buffers = module.namedBuffers()
        try checkConsistency(buffers.map { "\($0.name) = \($0.tensor.shape) \($0.dtype.rawValue)" }.joined(separator: "\n"),
                             of: "model buffers")
        let floating: Set<DType> = [.float32, .float64, .float16, .bfloat16]
        let averaged = buffers.filter { floating.contains($0.dtype) }.map(\.tensor)
        let integer = buffers.filter { !floating.contains($0.dtype) }.map(\.tensor)
        let total = averaged.reduce(0) { $0 + $1.count }
        var packed = [Float](repeating: 0, count: total)
        try packed.withUnsafeMutableBufferPointer { flat in
            Communicator.pack(averaged, into: flat)
            try allreduceSum(flat)
            let scale = 1 / Float(size)
            for i in flat.indices { flat[i] *= scale }
            Communicator.unpack(flat, into: averaged)
        }
        try broadcastValues(integer, root: 0)
    }

    /// Broadcasts the values of `tensors` from `root` as one packed buffer, writing them back in place.
    func broadcastValues(_ tensors: [Tensor], root: Int) throws {
        let total = tensors.reduce(0) { $0 + $1.count }
        var packed = [Float](repeating: 0, count: total)
        try packed.withUnsafeMutableBufferPointer { flat in
            if rank == root { Communicator.pack(tensors, into: flat) }
            try broadcast(flat, root: root)
            if rank != root { Communicator.unpack(flat, into: tensors) }
        }
    }

    static func pack(_ tensors: [Tensor], into flat: UnsafeMutableBufferPointer<Float>) {
        guard let base = flat.baseAddress else { return }
        var offset = 0
        for t in tensors {
            t.withUnsafeBufferPointer { src in
                if let s = src.baseAddress { (base + offset).update(from: s, count: src.count) }
                offset += src.count
            }
        }
    }

    static func unpack(_ flat: UnsafeMutableBufferPointer<Float>, into tensors: [Tensor]) {
        guard let base = flat.baseAddress else { return }
        var offset = 0
        for t in tensors {
            let n = t.count
            if t.isContiguous {
                t.withUnsafeMutableBufferPointer { dst in
                    if let d = dst.baseAddress { d.update(from: base + offset, count: n) }
                }
            } else {
                t.assign(Tensor(Array(flat[offset..<(offset + n)]), shape: t.shape))
            }
            offset += n
        }
    }

    /// `name = [shape] dtype` lines of a state dict, for the consistency check.
    static func layout(of state: StateDict) -> String {
        state.map { "\($0.key) = \($0.entry.tensor.shape) \($0.entry.dtype.rawValue)" }.joined(separator: "\n")
    }
}

/// What ``Communicator/broadcast(_:root:)-(StateDict,_)`` sends ahead of the values.
struct StateDictHeader: Codable {
    struct Entry: Codable {
        var key: String
        var shape: [Int]
        var dtype: String
    }
    var entries: [Entry]
    var metadata: [String: String]
}
