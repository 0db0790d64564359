import Foundation

/// A learning-rate schedule: the learning rate for each step (counted from 0), in closed form.
///
/// Every schedule gives the values PyTorch's scheduler of the same name gives after that many
/// `scheduler.step()` calls (the "step" is PyTorch's `last_epoch`). Schedules compose with
/// ``SequentialLR`` (one after another) and ``ChainedLR`` (factors multiplied).
public protocol LRSchedule {
    /// The learning rate the optimizer starts from.
    var baseLR: Float { get }
    /// The learning rate at `step` (0 is the value before the first `step()`).
    func lr(at step: Int) -> Double
    /// The momentum (SGD, RMSProp) or β₁ (Adam) at `step` for a schedule that cycles it, or nil
    /// (the default) to leave the optimizer's momentum alone.
    func scheduledMomentum(at step: Int) -> Double?
}

extension LRSchedule {
    /// No momentum schedule.
    public func scheduledMomentum(at step: Int) -> Double? { nil }

    /// `lr(at:)` divided by ``baseLR``: the multiplicative factor at `step`.
    public func factor(at step: Int) -> Double { baseLR == 0 ? 0 : lr(at: step) / Double(baseLR) }
}

/// Drives an optimizer's learning rate from a schedule, as a PyTorch scheduler object:
/// call ``step()`` once per epoch or iteration (after `optimizer.step()`).
public final class LRScheduler {
    /// The optimizer whose `lr` is set.
    public let optimizer: Optimizer
    /// The schedule.
    public let schedule: LRSchedule
    /// Steps taken so far (PyTorch's `last_epoch`); settable to resume from a checkpoint.
    public var stepCount: Int { didSet { apply() } }

    /// Attaches `schedule` to `optimizer` and sets the learning rate for step 0.
    public init(_ optimizer: Optimizer, schedule: LRSchedule, stepCount: Int = 0) {
        self.optimizer = optimizer
        self.schedule = schedule
        self.stepCount = stepCount
        apply()
    }

    /// Advances one step and updates the optimizer's learning rate.
    public func step() { stepCount += 1 }

    /// The current learning rate.
    public var lastLR: Float { optimizer.lr }

    private func apply() {
        optimizer.lr = Float(schedule.lr(at: stepCount))
        if let m = schedule.scheduledMomentum(at: stepCount) { optimizer.scheduledMomentum = Float(m) }
    }
}

private func checkStep(_ step: Int, _ name: String) {
    precondition(step >= 0, "\(name).lr: step must be >= 0, got \(step)")
}

/// Multiplies the rate by `gamma` every `stepSize` steps, as `StepLR`.
public struct StepLR: LRSchedule {
    public let baseLR: Float
    /// Steps between decays.
    public let stepSize: Int
    /// Decay factor.
    public let gamma: Float

    /// A step-decay schedule.
    public init(baseLR: Float, stepSize: Int, gamma: Float = 0.1) {
        precondition(stepSize > 0, "StepLR: stepSize must be > 0, got \(stepSize)")
        precondition(baseLR >= 0, "StepLR: baseLR must be >= 0, got \(baseLR)")
        self.baseLR = baseLR; self.stepSize = stepSize; self.gamma = gamma
    }

    public func lr(at step: Int) -> Double {
        checkStep(step, "StepLR")
        return Double(baseLR) * Foundation.pow(Double(gamma), Double(step / stepSize))
    }
}

/// Multiplies the rate by `gamma` at each milestone step, as `MultiStepLR`.
public struct MultiStepLR: LRSchedule {
    public let baseLR: Float
    /// Steps at which the rate decays (repeats decay more than once, as in PyTorch).
    public let milestones: [Int]
    /// Decay factor.
    public let gamma: Float

    /// A multi-step schedule.
    public init(baseLR: Float, milestones: [Int], gamma: Float = 0.1) {
        precondition(baseLR >= 0, "MultiStepLR: baseLR must be >= 0, got \(baseLR)")
        precondition(milestones.allSatisfy { $0 >= 0 }, "MultiStepLR: milestones must be >= 0, got \(milestones)")
        self.baseLR = baseLR; self.milestones = milestones.sorted(); self.gamma = gamma
    }

    public func lr(at step: Int) -> Double {
        checkStep(step, "MultiStepLR")
        let passed = milestones.filter { $0 <= step }.count
        return Double(baseLR) * Foundation.pow(Double(gamma), Double(passed))
    }
}

/// Multiplies the rate by `gamma` every step, as `ExponentialLR`.
public struct ExponentialLR: LRSchedule {
    public let baseLR: Float
    /// Decay factor per step.
    public let gamma: Float

    /// An exponential schedule.
    public init(baseLR: Float, gamma: Float) {
        precondition(baseLR >= 0, "ExponentialLR: baseLR must be >= 0, got \(baseLR)")
        self.baseLR = baseLR; self.gamma = gamma
    }

    public func lr(at step: Int) -> Double {
        checkStep(step, "ExponentialLR")
        return Double(baseLR) * Foundation.pow(Double(gamma), Double(step))
    }
}

/// Cosine annealing from `baseLR` to `etaMin` over `tMax` steps, as `CosineAnnealingLR`
/// (without restarts; past `tMax` the cosine continues, as PyTorch's does).
public struct CosineAnnealingLR: LRSchedule {
    public let baseLR: Float
    /// Half-period in steps.
    public let tMax: Int
    /// Minimum rate.
    public let etaMin: Float

    /// A cosine schedule.
    public init(baseLR: Float, tMax: Int, etaMin: Float = 0) {
        precondition(baseLR >= 0, "CosineAnnealingLR: baseLR must be >= 0, got \(baseLR)")
        precondition(tMax > 0, "CosineAnnealingLR: tMax must be > 0, got \(tMax)")
        self.baseLR = baseLR; self.tMax = tMax; self.etaMin = etaMin
    }

    public func lr(at step: Int) -> Double {
        checkStep(step, "CosineAnnealingLR")
        let lo = Double(etaMin), hi = Double(baseLR)
        return lo + (hi - lo) * (1 + Foundation.cos(Double.pi * Double(step) / Double(tMax))) / 2
    }
}

/// Scales the rate linearly from `startFactor`·base to `endFactor`·base over `totalIters`
/// steps, then holds it, as `LinearLR`; with the defaults, a linear warm-up.
public struct LinearLR: LRSchedule {
    public let baseLR: Float
    /// Factor at step 0.
    public let startFactor: Float
    /// Factor from `totalIters` on.
    public let endFactor: Float
    /// Length of the ramp in steps.
    public let totalIters: Int

    /// A linear ramp.
    public init(baseLR: Float, startFactor: Float = 1.0 / 3, endFactor: Float = 1, totalIters: Int = 5) {
        precondition(baseLR >= 0, "LinearLR: baseLR must be >= 0, got \(baseLR)")
        precondition(startFactor > 0 && startFactor <= 1, "LinearLR: startFactor must be in (0, 1], got \(startFactor)")
        precondition(endFactor >= 0 && endFactor <= 1, "LinearLR: endFactor must be in [0, 1], got \(endFactor)")
        precondition(totalIters > 0, "LinearLR: totalIters must be > 0, got \(totalIters)")
        self.baseLR = baseLR; self.startFactor = startFactor; self.endFactor = endFactor; self.totalIters = totalIters
    }

    public func lr(at step: Int) -> Double {
        checkStep(step, "LinearLR")
        let s = Double(startFactor), e = Double(endFactor)
        let t = Double(Swift.min(step, totalIters)) / Double(totalIters)
        return Double(baseLR) * (s + (e - s) * t)
    }
}

/// Linear warm-up from `startFactor`·base to base over `warmupSteps` steps, then constant
/// (PyTorch: `LinearLR(start_factor=startFactor, end_factor=1, total_iters=warmupSteps)`).
public struct LinearWarmup: LRSchedule {
    public let baseLR: Float
    /// Length of the warm-up in steps.
    public let warmupSteps: Int
    /// Factor at step 0.
    public let startFactor: Float

    /// A warm-up schedule.
    public init(baseLR: Float, warmupSteps: Int, startFactor: Float = 0.1) {
        precondition(warmupSteps > 0, "LinearWarmup: warmupSteps must be > 0, got \(warmupSteps)")
        self.baseLR = baseLR; self.warmupSteps = warmupSteps; self.startFactor = startFactor
        _ = LinearLR(baseLR: baseLR, startFactor: startFactor, endFactor: 1, totalIters: warmupSteps)
    }

    public func lr(at step: Int) -> Double {
        LinearLR(baseLR: baseLR, startFactor: startFactor, endFactor: 1, totalIters: warmupSteps).lr(at: step)
    }
}

/// The one-cycle policy of Smith & Topin, as `OneCycleLR` (cosine annealing by default):
/// from `maxLR / divFactor` up to `maxLR` over the first `pctStart` of `totalSteps`, then down
/// to `maxLR / divFactor / finalDivFactor`; with `threePhase`, back to the initial rate before
/// the final descent. ``momentum(at:)`` gives the matching inverse momentum cycle.
public struct OneCycleLR: LRSchedule {
    /// The annealing shape between phase ends.
    public enum Anneal: Sendable { case cos, linear }

    /// The peak rate.
    public let maxLR: Float
    /// Total number of steps in the cycle (steps 0...totalSteps-1 are valid, plus the final one PyTorch allows).
    public let totalSteps: Int
    /// Fraction of the cycle spent increasing.
    public let pctStart: Double
    /// The interpolation.
    public let anneal: Anneal
    /// initial = maxLR / divFactor.
    public let divFactor: Double
    /// min = initial / finalDivFactor.
    public let finalDivFactor: Double
    /// Whether to use the three-phase variant.
    public let threePhase: Bool
    /// Momentum at the peak rate (lowest momentum).
    public let baseMomentum: Double
    /// Momentum at the lowest rates.
    public let maxMomentum: Double
    /// Whether the optimizer's momentum (Adam's β₁) follows the cycle, from ``maxMomentum`` down
    /// to ``baseMomentum`` at the peak rate and back, as PyTorch's `cycle_momentum` (its default).
    public let cycleMomentum: Bool

    /// The initial rate maxLR / divFactor.
    public var baseLR: Float { Float(Double(maxLR) / divFactor) }

    /// A one-cycle schedule with PyTorch's defaults.
    public init(maxLR: Float, totalSteps: Int, pctStart: Double = 0.3, anneal: Anneal = .cos, divFactor: Double = 25,
                finalDivFactor: Double = 1e4, threePhase: Bool = false, cycleMomentum: Bool = true,
                baseMomentum: Double = 0.85, maxMomentum: Double = 0.95) {
        precondition(maxLR >= 0, "OneCycleLR: maxLR must be >= 0, got \(maxLR)")
        precondition(totalSteps > 0, "OneCycleLR: totalSteps must be > 0, got \(totalSteps)")
        precondition(pctStart >= 0 && pctStart <= 1, "OneCycleLR: pctStart must be in [0, 1], got \(pctStart)")
        precondition(divFactor > 0 && finalDivFactor > 0, "OneCycleLR: divFactor and finalDivFactor must be > 0")
        self.maxLR = maxLR; self.totalSteps = totalSteps; self.pctStart = pctStart; self.anneal = anneal
        self.divFactor = divFactor; self.finalDivFactor = finalDivFactor; self.threePhase = threePhase
        self.baseMomentum = baseMomentum; self.maxMomentum = maxMomentum; self.cycleMomentum = cycleMomentum
    }

    private struct Phase { let end: Double; let startLR: Double; let endLR: Double; let startM: Double; let endM: Double }

    private var phases: [Phase] {
        let initial = Double(maxLR) / divFactor, peak = Double(maxLR), minLR = initial / finalDivFactor
        let t = Double(totalSteps)
        if threePhase {
            return [Phase(end: pctStart * t - 1, startLR: initial, endLR: peak, startM: maxMomentum, endM: baseMomentum),
                    Phase(end: 2 * pctStart * t - 2, startLR: peak, endLR: initial, startM: baseMomentum, endM: maxMomentum),
                    Phase(end: t - 1, startLR: initial, endLR: minLR, startM: maxMomentum, endM: maxMomentum)]
        }
        return [Phase(end: pctStart * t - 1, startLR: initial, endLR: peak, startM: maxMomentum, endM: baseMomentum),
                Phase(end: t - 1, startLR: peak, endLR: minLR, startM: baseMomentum, endM: maxMomentum)]
    }

    private func interpolate(_ a: Double, _ b: Double, _ pct: Double) -> Double {
        switch anneal {
        case .cos: return b + (a - b) / 2 * (Foundation.cos(Double.pi * pct) + 1)
        case .linear: return (b - a) * pct + a
        }
    }

    private func evaluate(_ step: Int, momentum: Bool) -> Double {
        checkStep(step, "OneCycleLR")
        precondition(step <= totalSteps, "OneCycleLR: step \(step) is past totalSteps \(totalSteps)")
        let s = Double(step)
        var start = 0.0
        let ph = phases
        for (i, p) in ph.enumerated() {
            if s <= p.end || i == ph.count - 1 {
                // A phase of no length (very short runs) is already at its end value.
                guard p.end > start else { return momentum ? p.endM : p.endLR }
                let pct = (s - start) / (p.end - start)
                return momentum ? interpolate(p.startM, p.endM, pct) : interpolate(p.startLR, p.endLR, pct)
            }
            start = p.end
        }
        return 0
    }

    public func lr(at step: Int) -> Double { evaluate(step, momentum: false) }

    /// The momentum (or Adam's β₁) PyTorch's `cycle_momentum` sets at `step`.
    public func momentum(at step: Int) -> Double { evaluate(step, momentum: true) }

    /// ``momentum(at:)`` with ``cycleMomentum``, else nil.
    public func scheduledMomentum(at step: Int) -> Double? { cycleMomentum ? momentum(at: step) : nil }
}

/// Runs schedules one after another, as `SequentialLR`: schedule i+1 takes over at
/// `milestones[i]` and restarts its own count from 0 there.
public struct SequentialLR: LRSchedule {
    /// The schedules.
    public let schedules: [LRSchedule]
    /// Switch points (one fewer than schedules), increasing.
    public let milestones: [Int]
    /// The first schedule's base rate.
    public var baseLR: Float { schedules[0].baseLR }

    /// A sequence of schedules.
    public init(_ schedules: [LRSchedule], milestones: [Int]) {
        precondition(!schedules.isEmpty, "SequentialLR: needs at least one schedule")
        precondition(milestones.count == schedules.count - 1,
                     "SequentialLR: expects \(schedules.count - 1) milestones for \(schedules.count) schedules, got \(milestones.count)")
        precondition(zip(milestones, milestones.dropFirst()).allSatisfy { $0 < $1 } && milestones.allSatisfy { $0 > 0 },
                     "SequentialLR: milestones must be positive and increasing, got \(milestones)")
        self.schedules = schedules; self.milestones = milestones
    }

    public func lr(at step: Int) -> Double {
        checkStep(step, "SequentialLR")
        let idx = milestones.filter { $0 <= step }.count
        let start = idx == 0 ? 0 : milestones[idx - 1]
        return schedules[idx].lr(at: step - start)
    }
}

/// Applies several multiplicative schedules at once, as `ChainedScheduler` does for
/// multiplicative schedulers: the rate is `baseLR · Π (scheduleᵢ.lr(step) / baseLR)`, each
/// schedule's rate taken relative to the chain's `baseLR` (e.g. a warm-up chained with an
/// exponential decay, both built with the same base rate).
public struct ChainedLR: LRSchedule {
    /// The schedules whose factors are multiplied.
    public let schedules: [LRSchedule]
    public let baseLR: Float

    /// A product of schedules; `baseLR` defaults to the first schedule's.
    public init(_ schedules: [LRSchedule], baseLR: Float? = nil) {
        precondition(!schedules.isEmpty, "ChainedLR: needs at least one schedule")
        self.schedules = schedules
        self.baseLR = baseLR ?? schedules[0].baseLR
        precondition(self.baseLR > 0, "ChainedLR: baseLR must be > 0, got \(self.baseLR)")
    }

    public func lr(at step: Int) -> Double {
        checkStep(step, "ChainedLR")
        let base = Double(baseLR)
        return schedules.reduce(base) { $0 * ($1.lr(at: step) / base) }
    }
}

/// The rate times `factor` for the first `totalIters` steps, then the rate itself, as `ConstantLR`.
public struct ConstantLR: LRSchedule {
    public let baseLR: Float
    /// The factor before `totalIters`.
    public let factor: Float
    /// Steps at the reduced rate.
    public let totalIters: Int

    /// A constant-factor schedule; `factor: 1` gives a constant rate.
    public init(baseLR: Float, factor: Float = 1.0 / 3, totalIters: Int = 5) {
        precondition(factor >= 0 && factor <= 1, "ConstantLR: factor must be in [0, 1], got \(factor)")
        precondition(totalIters >= 0, "ConstantLR: totalIters must be >= 0, got \(totalIters)")
        self.baseLR = baseLR; self.factor = factor; self.totalIters = totalIters
    }

    public func lr(at step: Int) -> Double {
        checkStep(step, "ConstantLR")
        return step < totalIters ? Double(baseLR) * Double(factor) : Double(baseLR)
    }
}
