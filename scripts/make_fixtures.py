#!/usr/bin/env python3
"""Regenerates the PyTorch conformance fixtures that Tessera's tests read.

Every module in scripts/fixtures/*.py (names not starting with "_") is imported and its
`generate(repo_root)` is called; each writes small JSON files into a test target's
Fixtures/ directory. The fixtures are committed, so the Swift tests never need PyTorch.

Usage: python3 scripts/make_fixtures.py [module ...]   (default: all modules)
"""
import importlib.util
import pathlib
import sys


def main(argv):
    root = pathlib.Path(__file__).resolve().parent.parent
    fixtures_dir = root / "scripts" / "fixtures"
    try:
        import torch
    except ImportError:
        sys.exit("make_fixtures.py: PyTorch is needed to regenerate fixtures (pip install torch)")
    print(f"torch {torch.__version__}")

    wanted = set(argv[1:])
    modules = sorted(p for p in fixtures_dir.glob("*.py") if not p.name.startswith("_"))
    if wanted:
        modules = [p for p in modules if p.stem in wanted]
        missing = wanted - {p.stem for p in modules}
        if missing:
            sys.exit(f"make_fixtures.py: no fixture module named {', '.join(sorted(missing))}")
    for path in modules:
        spec = importlib.util.spec_from_file_location(f"tessera_fixtures_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, "generate"):
            sys.exit(f"make_fixtures.py: {path} has no generate(repo_root) function")
        print(f"{path.stem}:")
        module.generate(root)


if __name__ == "__main__":
    main(sys.argv)
