#!/usr/bin/env python3
"""The PyTorch side of `swift run -c release bench`: the same workloads, by name, with the same
thread count, each in every configuration that applies, so the reference is PyTorch at its best
on this machine rather than in one layout:

  nchw           PyTorch's default contiguous layout (convolutions and models)
  channels_last  model and input (for a convolution: input and weight) converted with
                 `memory_format=torch.channels_last`, the layout oneDNN prefers on CPUs
  onnxruntime    the same model exported from PyTorch to ONNX (torch.onnx, onnxscript) and run
                 by ONNX Runtime's CPU execution provider with the same thread count
                 (intra_op_num_threads = threads, inter_op 1, sequential execution); only the
                 evaluation rows (eval at batch 128, batch-1 latency), and only when
                 onnxruntime and onnx are importable
  torch          workloads with no layout to choose (sgemm, elementwise ReLU, the MLP, the loader,
                 peak memory)

Writes {"torch_version": ..., "onnxruntime_version": ... or null, "onnxruntime_note": ...,
"threads": T, "environment": {OMP_WAIT_POLICY etc. when set}, "results": {name: {"median": x, "spread": s, "best": config,
"configs": {config: {"median": x, "spread": s}}, "errors": {config: message}}}}, where the
top-level median and spread are those of the best configuration (higher is better except for
latency and memory). A configuration that fails is left out with its error; the others stay.
Exit code 3 means torch is not installed."""
import argparse, json, statistics, sys, time

WARMUP_SECONDS = 0.3


def measure(fn, warmup, repeats, figure):
    """Median and spread of `repeats` timed runs, after at least `warmup` runs and WARMUP_SECONDS
    of them (a millisecond workload first in a fresh process ran several times slower for its
    first few calls; bench's Swift side warms up the same way)."""
    t0 = time.perf_counter()
    done = 0
    while done < warmup or time.perf_counter() - t0 < WARMUP_SECONDS:
        fn()
        done += 1
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); out.append(figure(time.perf_counter() - t0))
    med = statistics.median(out)
    return {"median": med, "spread": (max(out) - min(out)) / med if med else 0.0}


def threading_environment():
    """The settings of torch's OpenMP threads that are set in the environment. OMP_WAIT_POLICY
    matters most on a machine with other load: OpenMP's default spinning lost up to 10x there
    (ResNet-20 batch-1 latency 62 ms against 7 ms with PASSIVE, 2 threads, 2 busy cores)."""
    import os
    keys = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "KMP_BLOCKTIME", "GOMP_SPINCOUNT")
    return {k: os.environ[k] for k in keys if k in os.environ}


def lower_is_better(name):
    """Latency and memory rows: a smaller figure is better (as in Sources/bench)."""
    return "latency" in name or name.startswith("peak_rss")


def gemm(torch, n):
    a, b = torch.randn(n, n), torch.randn(n, n)
    flops = 2.0 * n ** 3
    return (lambda: torch.mm(a, b)), (lambda s: flops / s / 1e9)


CONV_LATENCY_CALLS = 20   # batch-1 forwards per timed sample, as bench's convLatencyCallsPerSample


def conv(torch, cin, cout, side, stride, batch, backward, layout, calls=1):
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    x = torch.randn(batch, cin, side, side).to(memory_format=fmt).requires_grad_(backward)
    w = (0.1 * torch.randn(cout, cin, 3, 3)).to(memory_format=fmt).requires_grad_(backward)
    out = side // stride
    flops = 2.0 * batch * cout * out * out * cin * 9 * calls
    F = torch.nn.functional
    if not backward:
        def fwd():
            with torch.no_grad():
                for _ in range(calls):
                    F.conv2d(x, w, stride=stride, padding=1)
        return fwd, (lambda s: flops / s / 1e9)
    y = F.conv2d(x, w, stride=stride, padding=1)
    g = torch.ones_like(y)   # same memory format as y
    def bwd():
        torch.autograd.grad(y, (x, w), g, retain_graph=True)
    return bwd, (lambda s: 2 * flops / s / 1e9)


ELEMENTWISE_CALLS = 100   # calls per timed sample, as bench's elementwiseCallsPerSample


def relu(torch, n):
    x = torch.randn(n)
    def run():
        with torch.no_grad():
            for _ in range(ELEMENTWISE_CALLS):
                torch.relu(x)
    return run, (lambda s: 8.0 * n * ELEMENTWISE_CALLS / s / 1e9)


LAYOUTS = ("nchw", "channels_last")


def workloads(torch, names):
    """{name: {config: factory}}: a factory returns (fn, figure) or a finished {"median", "spread"}."""
    table = {}
    for n in (256, 512, 1024, 2048):
        table[f"sgemm_{n}"] = {"torch": lambda n=n: gemm(torch, n)}
    for n in (1 << 16, 1 << 20):
        table[f"relu_{n}"] = {"torch": lambda n=n: relu(torch, n)}
    for cin, cout, side, stride in [(3, 16, 32, 1), (16, 16, 32, 1), (16, 32, 32, 2), (32, 32, 16, 1), (32, 64, 16, 2), (64, 64, 8, 1)]:
        tag = f"conv_{cin}x{cout}_{side}_s{stride}"
        for suffix, backward in (("_fwd", False), ("_bwd", True)):
            table[tag + suffix] = {layout: (lambda a=(cin, cout, side, stride), b=backward, l=layout: conv(torch, *a, 128, b, l))
                                   for layout in LAYOUTS}
        table[tag + "_b1_fwd"] = {layout: (lambda a=(cin, cout, side, stride), l=layout: conv(torch, *a, 1, False, l, CONV_LATENCY_CALLS))
                                  for layout in LAYOUTS}
    try:
        import reference_models  # training / evaluation / memory workloads, when present
        table.update(reference_models.workloads(torch))
    except ImportError:
        pass
    return {n: table[n] for n in names if n in table}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--names", default="")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--configs", default="", help="only these configurations (comma-separated), e.g. nchw,torch")
    args = p.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit(3)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    warmup, repeats = (1, 3) if args.quick else (2, 7)
    only = {c for c in args.configs.split(",") if c}
    results = {}
    for name, configs in workloads(torch, [n for n in args.names.split(",") if n]).items():
        figures, errors = {}, {}
        for config, make in configs.items():
            if only and config not in only:
                continue
            try:
                spec = make()
                # A workload that measures itself (e.g. memory) returns its figure.
                figures[config] = spec if isinstance(spec, dict) else measure(spec[0], warmup, repeats, spec[1])
            except Exception as e:  # one configuration failing leaves the others
                errors[config] = f"{type(e).__name__}: {e}"
                print(f"reference_bench.py: {name} [{config}]: {errors[config]}", file=sys.stderr)
        if not figures:
            results[name] = {"errors": errors}
            continue
        pick = min if lower_is_better(name) else max
        best = pick(figures, key=lambda c: figures[c]["median"])
        results[name] = dict(figures[best], best=best, configs=figures, errors=errors)
    ort_version, ort_note = None, None
    try:
        import reference_models
        ort_version, ort_note = reference_models.onnxruntime_status()
    except ImportError:
        pass
    with open(args.json, "w") as f:
        json.dump({"torch_version": torch.__version__, "onnxruntime_version": ort_version, "onnxruntime_note": ort_note,
                   "threads": args.threads, "environment": threading_environment(), "results": results}, f)


if __name__ == "__main__":
    sys.path.insert(0, __import__("os").path.dirname(__file__))
    main()
