#!/usr/bin/env python3
"""The PyTorch side of `swift run -c release bench`: the same workloads, by name, with the same
thread count. Writes {"torch_version": ..., "results": {name: {"median": x, "spread": s}}}.
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

def gemm(torch, n):
    a, b = torch.randn(n, n), torch.randn(n, n)
    flops = 2.0 * n ** 3
    return (lambda: torch.mm(a, b)), (lambda s: flops / s / 1e9)

def conv(torch, cin, cout, side, stride, batch, backward):
    x = torch.randn(batch, cin, side, side, requires_grad=backward)
    w = (0.1 * torch.randn(cout, cin, 3, 3)).requires_grad_(backward)
    out = side // stride
    flops = 2.0 * batch * cout * out * out * cin * 9
    F = torch.nn.functional
    if not backward:
        def fwd():
            with torch.no_grad():
                F.conv2d(x, w, stride=stride, padding=1)
        return fwd, (lambda s: flops / s / 1e9)
    y = F.conv2d(x, w, stride=stride, padding=1)
    g = torch.ones_like(y)
    def bwd():
        torch.autograd.grad(y, (x, w), g, retain_graph=True)
    return bwd, (lambda s: 2 * flops / s / 1e9)

def workloads(torch, names):
    table = {}
    for n in (256, 512, 1024, 2048):
        table[f"sgemm_{n}"] = lambda n=n: gemm(torch, n)
    for cin, cout, side, stride in [(3, 16, 32, 1), (16, 16, 32, 1), (16, 32, 32, 2), (32, 32, 16, 1), (32, 64, 16, 2), (64, 64, 8, 1)]:
        tag = f"conv_{cin}x{cout}_{side}_s{stride}"
        table[tag + "_fwd"] = lambda a=(cin, cout, side, stride): conv(torch, *a, 128, False)
        table[tag + "_bwd"] = lambda a=(cin, cout, side, stride): conv(torch, *a, 128, True)
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
    args = p.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit(3)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    warmup, repeats = (1, 3) if args.quick else (2, 7)
    results = {}
    for name, make in workloads(torch, [n for n in args.names.split(",") if n]).items():
        spec = make()
        if isinstance(spec, dict):          # a workload that measures itself (e.g. memory)
            results[name] = spec
            continue
        fn, figure = spec
        results[name] = measure(fn, warmup, repeats, figure)
    with open(args.json, "w") as f:
        json.dump({"torch_version": torch.__version__, "threads": args.threads, "results": results}, f)

if __name__ == "__main__":
    sys.path.insert(0, __import__("os").path.dirname(__file__))
    main()
