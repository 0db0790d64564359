import Tessera
import TesseraDistributed
import TesseraModels
import TesseraNN

/// The same training on K ranks (per-rank batch B/K, gradients averaged by the reducer) and in
/// one process (batch B, computed on every rank as the reference) must give the same weights:
/// an MLP, SGD with momentum and weight decay, the same global order from the sampler. Run with
/// the default bucket caps (one bucket for this small model) and with tiny caps (a bucket per
/// few parameters, so several allreduces are in flight while gradients are still arriving).
func checkEquivalence(_ comm: Communicator, _ options: [String]) throws {
    let steps = try option(options, "steps", 20), batch = try option(options, "batch", 24)
    try require(batch % comm.size == 0, "--batch \(batch) is not divisible by \(comm.size) ranks")
    let n = 240, features = 20, classes = 5, widths = [features, 32, 16, classes]
    var gen = SeededGenerator(seed: 7)
    let x = Tensor.randn([n, features], generator: &gen)
    let labels = x.matmul(Tensor.randn([features, classes], generator: &gen)).argmax(axis: 1).scalars.map { Int($0) }
    let perRank = batch / comm.size

    for (first, later) in [(BucketLayout.defaultFirstBucketBytes, BucketLayout.defaultBucketBytes), (256, 1024)] {
        GlobalRandom.seed(UInt64(1000 + comm.rank))      // different initial weights on every rank…
        let model = MLP(widths: widths)
        try comm.broadcastParameters(of: model)           // …until rank 0's are broadcast
        let reference = MLP(widths: widths)
        try reference.loadStateDict(model.stateDict())
        let optimizer = SGD(model, lr: 0.05, momentum: 0.9, weightDecay: 5e-4)
        let referenceOptimizer = SGD(reference, lr: 0.05, momentum: 0.9, weightDecay: 5e-4)
        let reducer = try GradientReducer(module: model, communicator: comm, firstBucketBytes: first, bucketBytes: later)
        let sampler = DistributedSampler(count: n, communicator: comm, seed: 3)
        let global = DistributedSampler(count: n, rank: 0, ranks: 1, seed: 3)

        var step = 0, epoch = 0
        while step < steps {
            let mine = sampler.indices(epoch: epoch), order = global.indices(epoch: epoch)
            for s in 0..<(mine.count / perRank) where step < steps {
                let indices = Array(mine[(s * perRank)..<((s + 1) * perRank)])
                let loss = crossEntropy(model(gatherRows(x, indices)), indices.map { labels[$0] })
                optimizer.zeroGrad()
                loss.backward()
                // What an autograd hook will do: the non-throwing entry point, last parameter first.
                for i in (0..<reducer.parameterCount).reversed() {
                    if first == BucketLayout.defaultFirstBucketBytes { try reducer.gradientReady(i) } else { reducer.noteGradientReady(i) }
                }
                try reducer.finish()
                optimizer.step()

                let globalIndices = Array(order[(s * batch)..<((s + 1) * batch)])
                let together = try comm.allgather(indices).flatMap { $0 }
                try require(together.sorted() == globalIndices.sorted(),
                            "step \(step): the ranks' batches \(together) are not the single-process batch \(globalIndices)")
                let referenceLoss = crossEntropy(reference(gatherRows(x, globalIndices)), globalIndices.map { labels[$0] })
                referenceOptimizer.zeroGrad()
                referenceLoss.backward()
                referenceOptimizer.step()
                step += 1
            }
            epoch += 1
        }

        var worst = 0.0
        for ((name, a), (_, b)) in zip(model.namedParameters(), reference.namedParameters()) {
            let d = relativeDifference(a, b)
            try require(d <= 1e-5, "'\(name)' differs from the single-process weights by \(d) (relative) after \(steps) steps")
            worst = max(worst, d)
        }
        let digests = try comm.allgather([digest(model.parameters)]).map { $0[0] }
        try require(Set(digests).count == 1, "the ranks' weights are not bit-identical after \(steps) steps")
        say(comm, "equivalence: \(comm.size) ranks x batch \(perRank) = 1 process x batch \(batch) after \(steps) SGD steps "
            + "(momentum 0.9, weight decay 5e-4), \(reducer.layout.buckets.count) bucket(s): max relative difference "
            + "\(worst), weights bit-identical across ranks")
    }
}

/// The reducer's rules: buckets start in bucket order whatever order gradients arrive in (rank
/// parity decides the order here); a parameter without gradient on some ranks gets the sum over
/// the ranks that had one divided by the number of ranks, everywhere; one without gradient on
/// every rank stays nil everywhere; `finish()` alone takes every gradient from `.grad`.
func checkReducerRules(_ comm: Communicator, _ options: [String]) throws {
    func parameter(_ shape: [Int]) -> Tensor {
        var t = Tensor.zeros(shape)
        t.requiresGrad = true
        return t
    }
    let params = [("a", parameter([3])), ("b", parameter([2, 2])), ("c", parameter([5])), ("d", parameter([4]))]
    let reducer = try GradientReducer(parameters: params, communicator: comm, firstBucketBytes: 8, bucketBytes: 8)
    try require(reducer.layout.buckets.map(\.parameters) == [[3], [2], [1], [0]],
                "tiny caps should give one bucket per parameter in reverse order, got \(reducer.layout.buckets.map(\.parameters))")
    try require(reducer.index(of: params[2].1) == 2 && reducer.index(of: "d") == 3 && reducer.index(of: Tensor.zeros([5])) == nil,
                "parameter lookup by tensor and by name")
    let k = Float(comm.size), r = Float(comm.rank)
    let meanOfRanks = (k - 1) / 2 + 1          // mean of 1 ... k

    for step in 0..<3 {
        let (a, b, c, d) = (params[0].1, params[1].1, params[2].1, params[3].1)
        a.grad = Tensor.full([3], r + 1)
        b.grad = comm.rank == 0 ? Tensor.full([2, 2], 10) : nil
        c.grad = nil
        d.grad = Tensor.full([4], Float(step) + r)
        switch step {
        case 0: for i in [3, 2, 1, 0] { try reducer.gradientReady(i) }
        case 1: for i in comm.rank % 2 == 0 ? [3, 1, 0] : [0, 1, 3] { try reducer.gradientReady(i) }
        default: break                          // finish() alone
        }
        try reducer.finish()
        try require(a.grad?.scalars == [Float](repeating: meanOfRanks, count: 3), "step \(step): a.grad \(String(describing: a.grad?.scalars)), expected \(meanOfRanks)")
        try require(b.grad?.scalars == [Float](repeating: 10 / k, count: 4), "step \(step): b.grad \(String(describing: b.grad?.scalars)), expected \(10 / k) (rank 0's gradient / ranks)")
        try require(c.grad == nil, "step \(step): c had no gradient on any rank but got one")
        let dMean = Float(step) + meanOfRanks - 1
        try require(d.grad?.scalars == [Float](repeating: dMean, count: 4), "step \(step): d.grad \(String(describing: d.grad?.scalars)), expected \(dMean)")
    }
    say(comm, "reducer-rules: bucket order independent of readiness order, partial and missing gradients, finish() alone")
}
