"""Which code produced an artifact: the git commit of the working tree Parley runs from, if it is a checkout.

Training runs record it when they start (``code.json`` in the run directory) and shipped adapters carry both
the commit that trained them and the one that exported them, so a number in the docs can be traced to code.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

CODE_FILE = "code.json"  # in a training run directory: {"started": code_version(), "resumed": [...]}
# The libraries whose version can change sampled tokens (kernels, sampling code, cache layouts): a seed reproduces a
# transcript only under the same commit and these. (Seed 2 of the deliberation config did replicate across two setups
# two days apart, transformers 5.24 then 5.25, filter counts equal; code.json now says which versions a run had.)
LIBRARIES = ("torch", "transformers", "trl", "peft", "accelerate", "numpy")


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True, timeout=10,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def library_versions() -> dict:
    """The installed version of each of ``LIBRARIES`` (None where one is not installed), and Python's."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def source_digest(root: Path | None = None) -> str:
    """sha256 of every file of the running ``parley`` package (code, templates, packaged data, shipped adapters;
    bytecode caches left out), path by path. Unlike the commit it sees uncommitted edits, works outside a git
    checkout, and stays put across commits that touch only docs, tests or benchmarks. ~0.1 s for the 41 MB."""
    root = Path(root or Path(__file__).parent)
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def code_version() -> dict:
    """{"commit": sha or None (not a git checkout), "dirty": uncommitted changes to tracked files, or None,
    "source": ``source_digest()``, "libraries": ``library_versions()``}: a seed reproduces a transcript only under
    the same code and libraries."""
    commit = _git("rev-parse", "HEAD") or None
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status), "source": source_digest(),
            "libraries": library_versions()}


def recorded_code(run_dir: Path) -> dict | None:
    """What a training run recorded in its ``code.json``, or None for a run made before runs recorded it."""
    path = Path(run_dir) / CODE_FILE
    return json.loads(path.read_text()) if path.is_file() else None
