import Tessera
import TesseraNN

/// The totals an epoch (or an evaluation) adds up, which a data-parallel run sums over its processes.
public struct EpochTotals: Codable, Equatable, Sendable {
    /// Σ loss · images.
    public var lossSum: Double = 0
    /// Images whose prediction was right.
    public var correct = 0
    /// Images seen.
    public var seen = 0

    /// Empty totals.
    public init() {}

    /// Totals from their parts.
    public init(lossSum: Double, correct: Int, seen: Int) {
        self.lossSum = lossSum
        self.correct = correct
        self.seen = seen
    }

    /// The mean loss (NaN when nothing was seen).
    public var meanLoss: Double { seen > 0 ? lossSum / Double(seen) : .nan }
    /// The accuracy (0 when nothing was seen).
    public var accuracy: Double { seen > 0 ? Double(correct) / Double(seen) : 0 }

    /// The totals of both.
    public static func + (a: EpochTotals, b: EpochTotals) -> EpochTotals {
        EpochTotals(lossSum: a.lossSum + b.lossSum, correct: a.correct + b.correct, seen: a.seen + b.seen)
    }
}

/// What a ``Trainer`` asks of the other processes of a data-parallel run at the points where
/// they must agree (TesseraDistributed implements it over MPI). A single-process run has none.
public protocol TrainingCoordinator: AnyObject {
    /// Whether this process writes the run's files (rank 0 only).
    var writesOutputs: Bool { get }
    /// Makes every process start identical, before the first step of a fresh or resumed run
    /// (rank 0's parameters, buffers and optimizer state).
    func synchronizeStart(model: Module, optimizer: Optimizer) throws
    /// Called right after `backward()` of every step: the gradients become the mean over processes.
    func reduceGradients() throws
    /// The step's loss as the processes agree on it, so all stop together on a non-finite one.
    func agreedLoss(_ loss: Float) throws -> Float
    /// Whether any process was asked to stop (a signal), agreed after every step.
    func agreedStop(_ localStop: Bool) throws -> Bool
    /// Called before every evaluation and checkpoint: buffers (batch-norm running statistics) as
    /// the mean over processes, so rank 0's checkpoint evaluates like the ensemble.
    func synchronizeBuffers(model: Module) throws
    /// Totals summed over processes.
    func sum(_ totals: EpochTotals) throws -> EpochTotals
}
