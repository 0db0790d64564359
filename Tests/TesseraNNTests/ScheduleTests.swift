import XCTest
import TesseraTestSupport
import Tessera
@testable import TesseraNN

final class ScheduleTests: XCTestCase {
    private func f(_ a: [String: Any], _ k: String) -> Float { (a[k] as! NSNumber).floatValue }
    private func d(_ a: [String: Any], _ k: String) -> Double { (a[k] as! NSNumber).doubleValue }
    private func i(_ a: [String: Any], _ k: String) -> Int { (a[k] as! NSNumber).intValue }

    private func schedule(_ name: String, _ a: [String: Any]) -> LRSchedule {
        switch name {
        case "step": return StepLR(baseLR: f(a, "base_lr"), stepSize: i(a, "step_size"), gamma: f(a, "gamma"))
        case "multistep":
            return MultiStepLR(baseLR: f(a, "base_lr"), milestones: (a["milestones"] as! [NSNumber]).map(\.intValue), gamma: f(a, "gamma"))
        case "exponential": return ExponentialLR(baseLR: f(a, "base_lr"), gamma: f(a, "gamma"))
        case "cosine": return CosineAnnealingLR(baseLR: f(a, "base_lr"), tMax: i(a, "t_max"), etaMin: f(a, "eta_min"))
        case "onecycle": return OneCycleLR(maxLR: f(a, "max_lr"), totalSteps: i(a, "total_steps"))
        case "onecycle_three_phase_linear":
            return OneCycleLR(maxLR: f(a, "max_lr"), totalSteps: i(a, "total_steps"), pctStart: d(a, "pct_start"), anneal: .linear,
                              divFactor: d(a, "div_factor"), finalDivFactor: d(a, "final_div_factor"), threePhase: true)
        case "linear_warmup":
            return LinearWarmup(baseLR: f(a, "base_lr"), warmupSteps: i(a, "total_iters"), startFactor: f(a, "start_factor"))
        case "linear_decay":
            return LinearLR(baseLR: f(a, "base_lr"), startFactor: f(a, "start_factor"), endFactor: f(a, "end_factor"),
                            totalIters: i(a, "total_iters"))
        case "constant": return ConstantLR(baseLR: f(a, "base_lr"), factor: f(a, "factor"), totalIters: i(a, "total_iters"))
        case "warmup_then_cosine":
            let base = f(a, "base_lr")
            return SequentialLR([LinearWarmup(baseLR: base, warmupSteps: i(a, "warmup_iters"), startFactor: f(a, "warmup_start_factor")),
                                 CosineAnnealingLR(baseLR: base, tMax: i(a, "t_max"), etaMin: f(a, "eta_min"))],
                                milestones: [i(a, "milestone")])
        case "chained_warmup_exponential":
            let base = f(a, "base_lr")
            return ChainedLR([LinearWarmup(baseLR: base, warmupSteps: i(a, "warmup_iters"), startFactor: f(a, "warmup_start_factor")),
                              ExponentialLR(baseLR: base, gamma: f(a, "gamma"))])
        default: fatalError("unknown schedule \(name)")
        }
    }

    func testEveryScheduleMatchesPyTorchAtEveryStep() throws {
        let fixture = try JSONFixture.object("schedules.json", in: .module)
        let cases = fixture["cases"] as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 11)
        for c in cases {
            let name = c["name"] as! String
            let s = schedule(name, c["args"] as! [String: Any])
            let lrs = (c["lrs"] as! [NSNumber]).map(\.doubleValue)
            XCTAssertGreaterThanOrEqual(lrs.count, 6, name)
            for (step, expected) in lrs.enumerated() {
                let got = s.lr(at: step)
                XCTAssertEqual(got, expected, accuracy: 1e-6 * Swift.max(Swift.abs(expected), 1e-12) + 1e-12, "\(name) step \(step)")
            }
            if let momenta = c["momenta"] as? [NSNumber], let oc = s as? OneCycleLR {
                for (step, m) in momenta.enumerated() {
                    XCTAssertEqual(oc.momentum(at: step), m.doubleValue, accuracy: 1e-9, "\(name) momentum step \(step)")
                }
            }
        }
    }

    func testOneCycleWithAPhaseOfNoLengthStartsAtThatPhasesEndInsteadOfNaN() {
        // 5 steps with pctStart 0.2: the warm-up phase ends at step 0.
        let s = OneCycleLR(maxLR: 1, totalSteps: 5, pctStart: 0.2, anneal: .linear, divFactor: 5)
        XCTAssertEqual(s.lr(at: 0), 1)
        XCTAssertEqual(s.lr(at: 2), 1 - (1 - 0.2 / 1e4) * 0.5, accuracy: 1e-9)
        for step in 0..<5 { XCTAssertTrue(s.lr(at: step).isFinite) }
    }

    func testSchedulerDrivesTheOptimizerLearningRate() {
        var p = Tensor.zeros([1])
        p.requiresGrad = true
        let opt = SGD(parameters: [("p", p)], lr: 1)
        let sched = LRScheduler(opt, schedule: StepLR(baseLR: 0.4, stepSize: 2, gamma: 0.5))
        XCTAssertEqual(opt.lr, 0.4)
        sched.step()
        XCTAssertEqual(opt.lr, 0.4)
        sched.step()
        XCTAssertEqual(opt.lr, 0.2)
        sched.stepCount = 6          // resume from a checkpoint
        XCTAssertEqual(opt.lr, 0.05)
    }
}
