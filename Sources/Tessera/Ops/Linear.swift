extension Tensor {
    /// x · weightᵀ + bias, as `torch.nn.functional.linear`: x [*, in], weight [out, in], bias [out].
    /// One GEMM with the weight passed transposed by flag; backward computes dW = gᵀ·x directly
    /// in the weight's layout (no transposed gradient to copy) and dx = g·W.
    public func linear(weight: Tensor, bias: Tensor? = nil) -> Tensor {
        let profile = Profiler.begin(.linear); defer { Profiler.end(profile) }
        precondition(weight.rank == 2 && rank >= 1 && shape[rank - 1] == weight.shape[1],
                     "linear: input \(shape) does not fit weight \(weight.shape) (expects [*, \(weight.rank == 2 ? weight.shape[1] : -1)])")
        let outF = weight.shape[0], inF = weight.shape[1]
        if let bias { precondition(bias.shape == [outF], "linear: bias \(bias.shape) does not fit weight \(weight.shape)") }
        let lead = Array(shape.dropLast()), rows = lead.reduce(1, *)
        let x = detach().contiguous().reshaped([rows, inF]), w = weight.detach().contiguous()
        let out = LinearKernel.forward(x: x, weight: w, bias: bias.map { $0.detach().contiguous() }).reshaped(lead + [outF])
        guard Tensor.isRecording(self, weight, bias) else { return out }
        let inShape = shape
        return out.recorded("linear", inputs: [self, weight, bias]) { g, needs in
            let gc = g.contiguous().reshaped([rows, outF])
            return [needs[0] ? LinearKernel.inputGradient(gc, weight: w).reshaped(inShape) : nil,
                    needs[1] ? LinearKernel.weightGradient(gc, input: x) : nil,
                    needs[2] ? gc.sum(axes: [0]) : nil]
        }
    }
}
