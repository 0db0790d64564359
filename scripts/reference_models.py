#!/usr/bin/env python3
"""Whole-model workloads of `swift run -c release bench`, in plain PyTorch, imported by
scripts/reference_bench.py: `workloads(torch)` returns {name: {config: factory}} with the names
of Sources/bench/ModelWorkloads.swift and the configurations each runs in (see
reference_bench.py: nchw, channels_last, onnxruntime, torch). A factory returns (fn, figure) --
fn() is one timed run, figure(seconds) its figure -- or, for workloads that measure themselves,
a finished {"median", "spread"} dict.

The onnxruntime configuration (evaluation and batch-1 latency only) exports the same PyTorch
model, in eval mode, at the workload's batch size to ONNX with torch.onnx.export (the dynamo
exporter, which needs onnxscript; the TorchScript one if that fails), checks that ONNX Runtime's
output matches PyTorch's, and times `session.run` on the CPU execution provider with
intra_op_num_threads = torch's thread count, inter_op_num_threads 1 and sequential execution.

Models: the CIFAR ResNets (option-A shortcuts) and the CIFAR-stem resnet18 come from the
torchvision-layout reference in Tests/TesseraNNTests/Fixtures/torch_models.py (torchvision
itself is not needed), the same definitions Tessera's interop tests check against.

Run as `reference_models.py --peak-rss-child STEPS --threads T` it is the child process of
the peak-memory workload: it prints {"baseline_mib", "peak_mib"} as JSON, its peak resident
set after `import torch` and after STEPS ResNet-20 training steps at batch 128.
"""
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FIXTURES = os.path.join(REPO, "Tests", "TesseraNNTests", "Fixtures")

# Same counts as ModelWorkloads.swift.
LATENCY_PASSES_PER_SAMPLE = 20
MLP_STEPS_PER_SAMPLE = 10
LOADER_BATCHES_PER_SAMPLE = 20
# reference_bench.py's own --quick flag (it does not pass it to workloads()).
QUICK = "--quick" in sys.argv


def _models():
    if FIXTURES not in sys.path:
        sys.path.insert(0, FIXTURES)
    import torch_models
    return torch_models


def make_model(name):
    tm = _models()
    if name.startswith("resnet") and name[6:].isdigit():
        return tm.CIFARResNet(int(name[6:]), 10)
    if name == "resnet18_cifar":
        model, _ = tm.make_resnet("resnet18", 10, cifar_stem=True)
        return model
    raise KeyError(name)


def synthetic_batch(torch, n, features=None, classes=10):
    x = torch.randn(n, features) if features else torch.randn(n, 3, 32, 32)
    return x, torch.randint(0, classes, (n,))


def paper_sgd(torch, model):
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)


def train_step_fn(torch, model, optimizer, x, y):
    F = torch.nn.functional

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    return step


def to_layout(torch, layout, *items):
    """Models and 4-D inputs in `layout`: unchanged for nchw, converted with
    `memory_format=torch.channels_last` for channels_last."""
    if layout == "nchw":
        return items
    assert layout == "channels_last", layout
    return tuple(t.to(memory_format=torch.channels_last) for t in items)


def train(torch, name, batch, layout):
    torch.manual_seed(0)
    model = make_model(name)
    model.train()
    x, y = synthetic_batch(torch, batch)
    model, x = to_layout(torch, layout, model, x)
    return train_step_fn(torch, model, paper_sgd(torch, model), x, y), (lambda s: batch / s)


def _onnx_modules():
    """onnxruntime and onnx, imported (ImportError when either is missing)."""
    import onnx  # noqa: F401  (the exporter writes through it)
    import onnxruntime
    return onnxruntime


def onnxruntime_status():
    """(onnxruntime version or None, a note on why it is not used or None)."""
    try:
        ort = _onnx_modules()
    except ImportError as e:
        return None, f"onnxruntime not used: {e.name or e} is not installed (pip install onnxruntime onnx onnxscript)"
    return ort.__version__, None


def onnx_forward(torch, model, x):
    """A function running `model` (eval mode) on `x` in ONNX Runtime, exported from PyTorch."""
    import contextlib, io, tempfile, warnings
    import numpy as np
    ort = _onnx_modules()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.onnx")
        log = io.StringIO()   # the exporter reports its progress on stdout
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(model, (x,), path, dynamo=True, external_data=False)
            except Exception:
                torch.onnx.export(model, (x,), path, dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x.numpy()}
    with torch.no_grad():
        expected = model(x).numpy()
    got = session.run(None, feed)[0]
    if not np.allclose(got, expected, rtol=1e-3, atol=1e-3):
        raise RuntimeError(f"ONNX Runtime's output differs from PyTorch's by up to {np.abs(got - expected).max():.3g}")
    return lambda: session.run(None, feed)


def eval_forward(torch, batch, config):
    """ResNet-20 in eval mode at `batch`: a function running one forward without gradients."""
    torch.manual_seed(0)
    model = make_model("resnet20")
    model.eval()
    x, _ = synthetic_batch(torch, batch)
    if config == "onnxruntime":
        return onnx_forward(torch, model, x)
    model, x = to_layout(torch, config, model, x)

    def fwd():
        with torch.no_grad():
            model(x)
    return fwd


def evaluation(torch, batch, config):
    return eval_forward(torch, batch, config), (lambda s: batch / s)


def latency(torch, config):
    fwd = eval_forward(torch, 1, config)

    def passes():
        for _ in range(LATENCY_PASSES_PER_SAMPLE):
            fwd()
    return passes, (lambda s: s * 1000 / LATENCY_PASSES_PER_SAMPLE)


def mlp(torch):
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    x, y = synthetic_batch(torch, 128, features=784)
    step = train_step_fn(torch, model, torch.optim.Adam(model.parameters(), lr=1e-3), x, y)

    def steps():
        for _ in range(MLP_STEPS_PER_SAMPLE):
            step()
    return steps, (lambda s: 128 * MLP_STEPS_PER_SAMPLE / s)


def cifar_dir():
    """TESSERA_DATA (the folder with the .bin files or one holding cifar-10-batches-bin), else
    ../shared/data next to the repository; None when no training file is there."""
    root = os.environ.get("TESSERA_DATA") or os.path.join(os.path.dirname(REPO), "shared", "data")
    for d in (root, os.path.join(root, "cifar-10-batches-bin")):
        if os.path.exists(os.path.join(d, "data_batch_1.bin")):
            return d
    return None


def loader(torch):
    """Shuffled batches of 128 from the uint8 training records: gather, to float in [0, 1],
    zero-pad 4, random 32x32 crop per sample, random horizontal flip, per-channel normalize.
    One process, one Python thread; tensor ops use torch's thread count."""
    import numpy as np
    d = cifar_dir()
    if d is None:
        raise FileNotFoundError("CIFAR-10 binary files not found; set TESSERA_DATA")
    records = np.concatenate([np.fromfile(os.path.join(d, f"data_batch_{i}.bin"), dtype=np.uint8).reshape(-1, 3073)
                              for i in range(1, 6)])
    labels_all = torch.from_numpy(records[:, 0].astype(np.int64))
    images_all = torch.from_numpy(np.ascontiguousarray(records[:, 1:])).view(-1, 3, 32, 32)
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
    F = torch.nn.functional
    n, batch = images_all.shape[0], 128

    def batches():
        order = torch.randperm(n)
        for b in range(LOADER_BATCHES_PER_SAMPLE):
            idx = order[b * batch:(b + 1) * batch]
            padded = F.pad(images_all[idx].float().div_(255), (4, 4, 4, 4))
            offsets = torch.randint(0, 9, (batch, 2)).tolist()
            out = torch.empty(batch, 3, 32, 32)
            for k, (dy, dx) in enumerate(offsets):
                out[k] = padded[k, :, dy:dy + 32, dx:dx + 32]
            flip = torch.rand(batch) < 0.5
            out[flip] = out[flip].flip(3)
            out.sub_(mean).div_(std)
            labels = labels_all[idx]  # the batch labels, as the Tessera loader makes them  # noqa: F841
    return batches, (lambda s: LOADER_BATCHES_PER_SAMPLE * batch / s)


def _summary(values):
    med = statistics.median(values)
    return {"median": med, "spread": (max(values) - min(values)) / med if med else 0.0}


_peak_runs = None


def _peak_rss_runs(torch):
    """Peak RSS of fresh child processes (2 with --quick, else 3), run once for both rows."""
    global _peak_runs
    if _peak_runs is None:
        steps = 2 if QUICK else 3
        runs = []
        for _ in range(2 if QUICK else 3):
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--peak-rss-child", str(steps),
                                  "--threads", str(torch.get_num_threads())],
                                 check=True, capture_output=True, text=True).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
        _peak_runs = runs
    return _peak_runs


def peak_rss_mib():
    """This process's peak resident set in MiB. On Linux VmHWM from /proc/self/status, not
    getrusage's ru_maxrss: the kernel carries ru_maxrss across execve, so in a child forked
    from a big parent (this script's, after the training workloads) it reports the parent's
    size. Elsewhere ru_maxrss (bytes on macOS)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1048576 if sys.platform == "darwin" else r / 1024


def peak_rss_child(steps, threads):
    import torch
    torch.set_num_threads(threads)
    baseline = peak_rss_mib()
    torch.manual_seed(0)
    model = make_model("resnet20")
    model.train()
    x, y = synthetic_batch(torch, 128)
    step = train_step_fn(torch, model, paper_sgd(torch, model), x, y)
    for _ in range(steps):
        step()
    peak = peak_rss_mib()
    print(json.dumps({"baseline_mib": baseline, "peak_mib": peak}))


LAYOUTS = ("nchw", "channels_last")


def workloads(torch):
    """{name: {config: factory}}; see the module's docstring."""
    inference = LAYOUTS + (("onnxruntime",) if onnxruntime_status()[0] else ())
    table = {}
    for name, model, batch in (("resnet20_train_b128", "resnet20", 128), ("resnet56_train_b128", "resnet56", 128),
                               ("resnet18_cifar_train_b64", "resnet18_cifar", 64)):
        table[name] = {layout: (lambda m=model, b=batch, l=layout: train(torch, m, b, l)) for layout in LAYOUTS}
    table["resnet20_eval_b128"] = {c: (lambda c=c: evaluation(torch, 128, c)) for c in inference}
    table["resnet20_latency_b1"] = {c: (lambda c=c: latency(torch, c)) for c in inference}
    table["mlp_train_b128"] = {"torch": lambda: mlp(torch)}
    table["peak_rss_resnet20_train_b128"] = {"torch": lambda: _summary([r["peak_mib"] for r in _peak_rss_runs(torch)])}
    table["peak_rss_baseline"] = {"torch": lambda: _summary([r["baseline_mib"] for r in _peak_rss_runs(torch)])}
    if cifar_dir() is not None:
        table["cifar10_loader_b128"] = {"torch": lambda: loader(torch)}
    return table


if __name__ == "__main__":
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--peak-rss-child", type=int, required=True, metavar="STEPS")
    p.add_argument("--threads", type=int, required=True)
    a = p.parse_args()
    peak_rss_child(a.peak_rss_child, a.threads)
