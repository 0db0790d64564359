#!/usr/bin/env python3
"""Reference PyTorch models for Tessera's interop tests and fixtures.

Module names and layer arrangement follow torchvision.models.resnet (BasicBlock, Bottleneck,
ResNet: conv1, bn1, relu, maxpool, layer1..4, avgpool, fc; blocks with conv1, bn1, ...,
downsample.0/.1), so a state dict of this ResNet is a state dict of torchvision's. When
torchvision is installed, `make_resnet` uses torchvision itself for the standard widths.
Two options torchvision lacks: `base_width` (narrow test models) and `cifar_stem` (3x3
stride-1 stem, max-pool replaced by Identity).

Command line (used by the Swift test TorchInteropTests, which skips when torch is absent):
    python3 torch_models.py logits ARCH CLASSES CIFAR_STEM WEIGHTS.safetensors INPUT.safetensors
        loads WEIGHTS strictly into the model, runs INPUT["input"] in eval mode and prints
        {"logits": [...], "shape": [...], "impl": "torchvision" | "reference"} as JSON.
    python3 torch_models.py export ARCH CLASSES CIFAR_STEM SEED OUT.safetensors OUT_LOGITS.json
        builds the model with torch.manual_seed(SEED), randomizes the batch-norm statistics,
        saves its state dict with safetensors.torch.save_file and writes the input and eval
        logits for a fixed batch as JSON.
"""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

ARCHS = {
    "resnet18": ("basic", [2, 2, 2, 2]),
    "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]),
}


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000, base_width=64, cifar_stem=False):
        super().__init__()
        self.inplanes = base_width
        if cifar_stem:
            self.conv1 = nn.Conv2d(3, base_width, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, base_width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if cifar_stem else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for i, n in enumerate(layers):
            setattr(self, f"layer{i + 1}", self._stage(block, base_width << i, n, 1 if i == 0 else 2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear((base_width << 3) * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _stage(self, block, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def make_resnet(arch, num_classes, cifar_stem=False, base_width=64, layers=None):
    """(model, implementation name). `arch` is "basic"/"bottleneck" with `layers`, or a torchvision name."""
    if arch in ARCHS:
        kind, layers = ARCHS[arch]
    else:
        kind = arch
    if base_width == 64 and not cifar_stem and arch in ARCHS:
        try:
            import torchvision
            return getattr(torchvision.models, arch)(num_classes=num_classes), "torchvision"
        except ImportError:
            pass
    block = BasicBlock if kind == "basic" else Bottleneck
    return ResNet(block, layers, num_classes, base_width, cifar_stem), "reference"


class OptionAShortcut(nn.Module):
    """He et al.'s CIFAR option-A shortcut: x[:, :, ::s, ::s] zero-padded by `pad` channels per side."""

    def __init__(self, stride, pad):
        super().__init__()
        self.stride, self.pad = stride, pad

    def forward(self, x):
        return F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.pad, self.pad))


class CIFARBasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride != 1 or inplanes != planes:
            self.shortcut = OptionAShortcut(stride, (planes - inplanes) // 2)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CIFARResNet(nn.Module):
    def __init__(self, depth, num_classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = conv3x3(3, 16)
        self.bn1 = nn.BatchNorm2d(16)
        inplanes = 16
        for i, planes in enumerate([16, 32, 64]):
            blocks = []
            for b in range(n):
                blocks.append(CIFARBasicBlock(inplanes, planes, 2 if (i > 0 and b == 0) else 1))
                inplanes = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def randomize_batchnorm(model, gen):
    """Non-trivial batch-norm state, so an eval-mode comparison exercises every buffer."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(1 + 0.2 * torch.randn(c, generator=gen))
                m.bias.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=gen)))


def _main(argv):
    from safetensors.torch import load_file, save_file
    torch.set_num_threads(1)
    cmd = argv[1]
    if cmd == "logits":
        arch, classes, cifar_stem, weights, inputs = argv[2], int(argv[3]), argv[4] == "1", argv[5], argv[6]
        model, impl = make_resnet(arch, classes, cifar_stem)
        model.load_state_dict(load_file(weights), strict=True)
        model.eval()
        with torch.no_grad():
            y = model(load_file(inputs)["input"])
        print(json.dumps({"impl": impl, "shape": list(y.shape), "logits": [float(v) for v in y.reshape(-1)]}))
    elif cmd == "export":
        arch, classes, cifar_stem, seed, out, out_json = argv[2], int(argv[3]), argv[4] == "1", int(argv[5]), argv[6], argv[7]
        torch.manual_seed(seed)
        model, impl = make_resnet(arch, classes, cifar_stem)
        gen = torch.Generator().manual_seed(seed + 1)
        randomize_batchnorm(model, gen)
        model.eval()
        x = torch.randn(2, 3, 32, 32, generator=gen)
        with torch.no_grad():
            y = model(x)
        save_file(model.state_dict(), out)
        with open(out_json, "w") as f:
            json.dump({"impl": impl, "input": {"shape": list(x.shape), "data": [float(v) for v in x.reshape(-1)]},
                       "logits": {"shape": list(y.shape), "data": [float(v) for v in y.reshape(-1)]}}, f)
    else:
        sys.exit(f"torch_models.py: unknown command {cmd}")


if __name__ == "__main__":
    _main(sys.argv)
