// Checks of TesseraDistributed that need several processes; run under mpirun by
// scripts/distributed-checks.sh (called from scripts/test.sh):
//
//   mpirun -np 3 .build/debug/DistributedChecks equivalence sharding collectives
//
// Each check prints what it verified; a failed check prints `rank R: CHECK FAILED at unix time T:
// message` on stderr and the process exits with status 1 (mpirun then stops the other ranks).
// `fault-kill`, `fault-stop` and `mismatch` are meant to fail: the script checks how.
// `make-images` and `compare` (TrainerTools.swift) run alone, without MPI.
import Foundation
import Tessera
import TesseraDistributed

let checks: [String: (Communicator, [String]) throws -> Void] = [
    "equivalence": checkEquivalence,
    "reducer-rules": checkReducerRules,
    "collectives": checkCollectives,
    "sharding": checkSharding,
    "mismatch": checkMismatch,
    "fault-kill": { try injectFault(SIGKILL, $0, $1) },
    "fault-stop": { try injectFault(SIGSTOP, $0, $1) },
    "hosts": reportHosts,
    "bench-allreduce": benchAllreduce,
    "bench-overlap": benchOverlapPolling,
]

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.isEmpty || arguments.contains("--help") {
    print("usage: DistributedChecks CHECK... [--option value]   (under mpirun)")
    print("checks: " + checks.keys.sorted().joined(separator: ", ") + ", bench-overlap-thread (alone)")
    print("tools (one process, no MPI): make-images DIR [--classes --train --test --size], compare A B [--tolerance T]")
    exit(arguments.isEmpty ? 2 : 0)
}
let tools: [String: ([String]) throws -> Void] = ["make-images": makeImages, "compare": compareCheckpoints]
if let tool = tools[arguments[0]] {
    do { try tool(Array(arguments.dropFirst())) } catch {
        FileHandle.standardError.write(Data("DistributedChecks \(arguments[0]): FAILED: \(error)\n".utf8))
        exit(1)
    }
    exit(0)
}
let names = arguments.prefix { !$0.hasPrefix("--") }
let options = Array(arguments.dropFirst(names.count))
for name in names where checks[name] == nil && name != "bench-overlap-thread" {
    FileHandle.standardError.write(Data("DistributedChecks: unknown check '\(name)' (try --help)\n".utf8))
    exit(2)
}

// The Horovod-style comparison initializes MPI itself (MPI_THREAD_SERIALIZED, a communication
// thread), so it cannot share the process with a Communicator.
if names.contains("bench-overlap-thread") {
    benchOverlapThread(options)
    exit(0)
}

var current = "start-up"
var communicator: Communicator?
do {
    let comm = try Communicator()
    communicator = comm
    Runtime.threads = comm.suggestedComputeThreads
    for name in names {
        current = name
        try checks[name]!(comm, options)
        try comm.barrier()
    }
    current = "finalize"
    try comm.finalize()
} catch {
    let rank = communicator.map { String($0.rank) } ?? "?"
    let when = String(format: "%.3f", Date().timeIntervalSince1970)
    FileHandle.standardError.write(Data("rank \(rank): \(current) FAILED at unix time \(when): \(error)\n".utf8))
    // Every rank reports an agreed failure before any exits (mpirun stops the job at the first exit).
    if (error as? DistributedError)?.isRaisedOnEveryRank == true { try? communicator?.barrier() }
    exit(1)
}
