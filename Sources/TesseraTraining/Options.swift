import ArgumentParser

// The choices of a training run, each one declaration that drives the command line's parsing,
// help and validation (ExpressibleByArgument, CaseIterable) and the config file (Codable, by
// the same raw names).

/// The optimizer of a run.
public enum OptimizerKind: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
    case sgd, adam, adamw, rmsprop

    /// One line for the help.
    public var summary: String {
        switch self {
        case .sgd: return "SGD with momentum (and Nesterov with --nesterov)"
        case .adam: return "Adam (L2 weight decay)"
        case .adamw: return "AdamW (decoupled weight decay)"
        case .rmsprop: return "RMSProp (with momentum)"
        }
    }
}

/// The learning-rate schedule over a run.
public enum ScheduleKind: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
    case onecycle, triangle, cosine, step, multistep, constant

    /// One line for the help.
    public var summary: String {
        switch self {
        case .onecycle: return "cosine one-cycle (PyTorch's OneCycleLR)"
        case .triangle: return "linear from lr/5 up to lr over the first 20% of steps, then down to 0"
        case .cosine: return "cosine annealing to 0"
        case .step: return "×0.1 after each third of the run"
        case .multistep: return "×0.1 at 50% and 75% of the run"
        case .constant: return "lr throughout"
        }
    }
}

/// A running average of the weights kept beside them.
public enum AveragingKind: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
    case none, ema, lookahead

    /// One line for the help.
    public var summary: String {
        switch self {
        case .none: return "the weights as trained"
        case .ema: return "an exponential moving average (PyTorch's AveragedModel, decay --ema-decay), evaluated and kept as the final model"
        case .lookahead: return "airbench's lookahead: every 5 steps the average moves toward the weights by 0.95^5·(t/T)^3 and the weights become it"
        }
    }
}

/// How a data-parallel run of K processes scales the learning rate.
public enum LRScaling: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
    case none, linear

    /// One line for the help.
    public var summary: String {
        switch self {
        case .none: return "--lr as given, whatever the number of processes"
        case .linear: return "--lr × K for K processes (Goyal et al.'s rule for a K times larger batch; the warm-up then starts from --lr)"
        }
    }
}

/// Which parameters a run freezes.
public enum FreezeMode: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
    case none, backbone

    /// One line for the help.
    public var summary: String {
        switch self {
        case .none: return "train everything"
        case .backbone: return "train the classifier head only"
        }
    }
}

/// How augmentation flips images horizontally.
public enum FlipMode: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
    case random, alternating, none

    /// One line for the help.
    public var summary: String {
        switch self {
        case .random: return "each image with probability 1/2 every epoch"
        case .alternating: return "a fixed random orientation per image, all mirrored every odd epoch"
        case .none: return "never"
        }
    }
}

extension CaseIterable where Self: RawRepresentable, Self.RawValue == String {
    /// "a (what a does), b (what b does), …" for a help text, from each case's `summary`.
    public static func helpList(_ summary: (Self) -> String) -> String {
        allCases.map { "\($0.rawValue) (\(summary($0)))" }.joined(separator: ", ")
    }
}
