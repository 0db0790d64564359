import CMPI
import Tessera

/// Element types the collectives move, with their MPI datatype.
protocol MPIElement {
    static var mpiType: MPI_Datatype { get }
}

extension Float: MPIElement { static var mpiType: MPI_Datatype { tessera_mpi_float() } }
extension Double: MPIElement { static var mpiType: MPI_Datatype { tessera_mpi_double() } }
extension Int: MPIElement {
    // Int is 64-bit on every platform Tessera builds for (Linux and macOS on x86-64 and arm64).
    static var mpiType: MPI_Datatype { tessera_mpi_int64_t() }
}
extension UInt8: MPIElement { static var mpiType: MPI_Datatype { tessera_mpi_byte() } }

/// MPI counts are `Int32`.
func mpiCount(_ n: Int, _ op: String) -> Int32 {
    precondition(n <= Int(Int32.max), "\(op): \(n) elements exceed MPI's Int32 count")
    return Int32(n)
}

/// The collectives. Every rank must call the same collectives in the same order; each is
/// watched by the watchdog described on ``Communicator``. Buffers and tensors are used in place
/// and must be contiguous. Operations on Swift arrays accept different lengths on different
/// ranks where noted; elsewhere every rank passes the same number of elements.
extension Communicator {
    /// Waits until every rank has entered the barrier (`MPI_Ibarrier`).
    public func barrier() throws {
        try collective(.barrier, count: 0, call: "MPI_Ibarrier") { MPI_Ibarrier(comm, $0) }
    }

    // MARK: Broadcast

    func broadcastElements<T: MPIElement>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        precondition(root >= 0 && root < size, "broadcast: root \(root) is not a rank of a job of size \(size)")
        let n = mpiCount(buffer.count, "broadcast")
        try collective(.broadcast, count: buffer.count, call: "MPI_Ibcast") {
            MPI_Ibcast(buffer.baseAddress, n, T.mpiType, Int32(root), comm, $0)
        }
    }

    /// Replaces `buffer` on every rank by `root`'s (`MPI_Ibcast`).
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int = 0) throws {
        try broadcastElements(buffer, root: root)
    }

    /// Replaces the elements of `tensor` (in place, seen by every view of its storage) by `root`'s.
    /// - Precondition: `tensor` is contiguous.
    public func broadcast(_ tensor: Tensor, root: Int = 0) throws {
        precondition(tensor.isContiguous, "broadcast: tensor of shape \(tensor.shape) is not contiguous")
        try tensor.withUnsafeMutableBufferPointer { try broadcastElements($0, root: root) }
    }

    /// Replaces `values` by `root`'s, whose length may differ from this rank's.
    public func broadcast(_ values: inout [Int], root: Int = 0) throws { try broadcastArray(&values, root: root) }

    /// Replaces `bytes` by `root`'s, whose length may differ from this rank's.
    public func broadcast(_ bytes: inout [UInt8], root: Int = 0) throws { try broadcastArray(&bytes, root: root) }

    func broadcastArray<T: MPIElement & Numeric>(_ values: inout [T], root: Int) throws {
        var count = [values.count]
        try count.withUnsafeMutableBufferPointer { try broadcastElements($0, root: root) }
        if rank != root { values = [T](repeating: 0, count: count[0]) }
        try values.withUnsafeMutableBufferPointer { try broadcastElements($0, root: root) }
    }

    // MARK: Allreduce

    /// Sums `buffer` over the ranks in place, in the given type.
    func allreduceSumElements<T: MPIElement>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
        let n = mpiCount(buffer.count, "allreduceSum")
        try collective(.allreduce, count: buffer.count, call: "MPI_Iallreduce") {
            MPI_Iallreduce(tessera_mpi_in_place(), buffer.baseAddress, n, T.mpiType, tessera_mpi_sum(), comm, $0)
        }
    }

    /// Replaces `buffer` on every rank by its sum over the ranks (`MPI_Iallreduce`, in place).
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try allreduceSumElements(buffer)
    }

    /// Replaces the elements of `tensor` by their sum over the ranks, in place.
    /// - Precondition: `tensor` is contiguous.
    public func allreduceSum(_ tensor: Tensor) throws {
        precondition(tensor.isContiguous, "allreduceSum: tensor of shape \(tensor.shape) is not contiguous")
        try tensor.withUnsafeMutableBufferPointer { try allreduceSumElements($0) }
    }

    /// Replaces `values` by their element-wise sum over the ranks (64-bit integers).
    public func allreduceSum(_ values: inout [Int]) throws {
        try values.withUnsafeMutableBufferPointer { try allreduceSumElements($0) }
    }

    /// Replaces `values` by their element-wise sum over the ranks (in Double).
    public func allreduceSum(_ values: inout [Double]) throws {
        try values.withUnsafeMutableBufferPointer { try allreduceSumElements($0) }
    }

    // MARK: Allgather

    /// Every rank's `values`, indexed by rank; the lengths may differ between ranks.
    public func allgather(_ values: [Int]) throws -> [[Int]] { try allgatherArrays(values) }

    /// Every rank's `bytes`, indexed by rank; the lengths may differ between ranks.
    public func allgather(_ bytes: [UInt8]) throws -> [[UInt8]] { try allgatherArrays(bytes) }

    /// Every rank's `values`, indexed by rank; the lengths may differ between ranks.
    public func allgather(_ values: [Float]) throws -> [[Float]] { try allgatherArrays(values) }

    /// Every rank's string, indexed by rank.
    public func allgather(_ string: String) throws -> [String] {
        try allgatherArrays(Array(string.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Copies `buffer` of every rank into `output` in rank order (`MPI_Iallgather`).
    /// - Precondition: `output.count == size * buffer.count`.
    /// - Throws: ``DistributedError/inconsistentArguments(operation:details:)`` when the ranks'
    ///   lengths differ.
    public func allgather(_ buffer: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) throws {
        precondition(output.count == size * buffer.count,
                     "allgather: output holds \(output.count) elements, not \(size) ranks x \(buffer.count)")
        try requireSame([buffer.count], what: "buffer length", operation: "allgather") { String($0[0]) }
        let n = mpiCount(buffer.count, "allgather")
        try collective(.allgather, count: buffer.count, call: "MPI_Iallgather") {
            MPI_Iallgather(buffer.baseAddress, n, tessera_mpi_float(), output.baseAddress, n, tessera_mpi_float(), comm, $0)
        }
    }

    /// The tensors of every rank stacked along a new first dimension of length ``size``.
    /// - Throws: ``DistributedError/inconsistentArguments(operation:details:)`` when the ranks'
    ///   shapes differ.
    public func allgather(_ tensor: Tensor) throws -> Tensor {
        try requireSame(tensor.shape, what: "tensor shape", operation: "allgather")
        let out = Tensor.zeros([size] + tensor.shape)
        try tensor.withUnsafeBufferPointer { src in
            try out.withUnsafeMutableBufferPointer { dst in try allgather(src, into: dst) }
        }
        return out
    }

    /// Every rank's array, indexed by rank (counts first, then `MPI_Iallgatherv`).
    func allgatherArrays<T: MPIElement & Numeric>(_ values: [T]) throws -> [[T]] {
        var counts = [Int](repeating: 0, count: size)
        try [values.count].withUnsafeBufferPointer { mine in
            try counts.withUnsafeMutableBufferPointer { all in
                try collective(.allgather, count: 1, call: "MPI_Iallgather") {
                    MPI_Iallgather(mine.baseAddress, 1, tessera_mpi_int64_t(), all.baseAddress, 1, tessera_mpi_int64_t(), comm, $0)
                }
            }
        }
        let total = counts.reduce(0, +)
        var received = [Int32](repeating: 0, count: size), offsets = [Int32](repeating: 0, count: size)
        var offset = 0
        for r in 0..<size {
            received[r] = mpiCount(counts[r], "allgather")
            offsets[r] = mpiCount(offset, "allgather")
            offset += counts[r]
        }
        var output = [T](repeating: 0, count: total)
        let n = mpiCount(values.count, "allgather")
        try values.withUnsafeBufferPointer { src in
            try output.withUnsafeMutableBufferPointer { dst in
                try collective(.allgather, count: values.count, call: "MPI_Iallgatherv") {
                    MPI_Iallgatherv(src.baseAddress, n, T.mpiType, dst.baseAddress, received, offsets, T.mpiType, comm, $0)
                }
            }
        }
        var result: [[T]] = []
        result.reserveCapacity(size)
        for r in 0..<size { result.append(Array(output[Int(offsets[r])..<(Int(offsets[r]) + counts[r])])) }
        return result
    }

    /// Throws unless every rank passes the same `values` (a length, a shape) to `operation`.
    func requireSame(_ values: [Int], what: String, operation: String, format: ([Int]) -> String = { "\($0)" }) throws {
        let all = try allgather(values)
        guard all.contains(where: { $0 != all[0] }) else { return }
        let listed = all.enumerated().map { "rank \($0.offset): \(format($0.element))" }.joined(separator: ", ")
        throw DistributedError.inconsistentArguments(operation: operation, details: "\(what) per rank: \(listed)")
    }
}
