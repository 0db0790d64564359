import XCTest
@testable import TesseraDistributed

/// The parts of the communicator that need no MPI job (MPI is never initialized in this process).
final class CommunicatorTests: XCTestCase {
    func testTimeoutComesFromTheEnvironmentAndIsValidated() throws {
        XCTAssertEqual(try Communicator.timeout(environment: [:]), 30)
        XCTAssertEqual(try Communicator.timeout(environment: ["TESSERA_DIST_TIMEOUT": "5"]), 5)
        XCTAssertEqual(try Communicator.timeout(environment: ["TESSERA_DIST_TIMEOUT": " 12.5 "]), 12.5)
        for bad in ["0", "0.5", "-3", "abc", "", "nan", "inf", "86401", "1e9"] {
            XCTAssertThrowsError(try Communicator.timeout(environment: ["TESSERA_DIST_TIMEOUT": bad]), bad) { error in
                XCTAssertEqual(error as? DistributedError, .invalidEnvironment(
                    variable: "TESSERA_DIST_TIMEOUT", value: bad, expected: "a number of seconds from 1 to 86400 (default 30)"))
                XCTAssertTrue("\(error)".hasPrefix("TESSERA_DIST_TIMEOUT='\(bad)' is invalid"), "\(error)")
            }
        }
    }

    func testAllowedCPUsAreCountedFromTheAffinityMask() {
        XCTAssertEqual(Communicator.allowedCPUs(mask: "\t3"), 2)
        XCTAssertEqual(Communicator.allowedCPUs(mask: "00000000,00000001\n"), 1)
        XCTAssertEqual(Communicator.allowedCPUs(mask: "ff,ffffffff"), 40)
        XCTAssertNil(Communicator.allowedCPUs(mask: "0"))
        XCTAssertNil(Communicator.allowedCPUs(mask: "xyz"))
    }

    func testProbeWindowIsATenthOfTheTimeoutWithinBounds() {
        XCTAssertEqual(Communicator.probeWindow(timeout: 30), 3)
        XCTAssertEqual(Communicator.probeWindow(timeout: 10), 1)
        XCTAssertEqual(Communicator.probeWindow(timeout: 1), 0.5)
        XCTAssertEqual(Communicator.probeWindow(timeout: 600), 3)
    }

    func testProbeAnswersAreGroupedByState() {
        let now = ContinuousClock.now
        let states: [Int: Activity] = [
            0: Activity(kind: .allreduce, sequence: 57, count: 1000, since: now),
            2: Activity(kind: .allreduce, sequence: 57, count: 1000, since: now),
            3: Activity(kind: .none, sequence: 56, count: 0, since: now),
        ]
        XCTAssertEqual(Communicator.describe(states, this: 2),
                       "ranks 0, 2 (this one) are waiting in allreduce #57 (1000 elements); rank 3 is outside collectives (last started: #56)")
    }

    func testErrorMessagesNameTheRanks() {
        XCTAssertEqual(DistributedError.peerUnresponsive(operation: "barrier #3 (0 elements)", ranks: [1], waitedSeconds: 30.02, details: "").description,
                       "barrier #3 (0 elements) did not complete in 30 s: rank 1 did not answer (dead, stopped, or outside every collective for that long)")
        XCTAssertTrue(DistributedError.peerUnresponsive(operation: "x", ranks: [1, 3], waitedSeconds: 2.5, details: "d").description
            .contains("in 2.5 s: ranks 1, 3 did not answer"))
        XCTAssertEqual(DistributedError.mpi(call: "MPI_Test", code: 15, message: "MPI_ERR_TRUNCATE: message truncated").description,
                       "MPI_Test failed with MPI error 15: MPI_ERR_TRUNCATE: message truncated")
    }
}
