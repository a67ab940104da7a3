"""The repository stands alone: no tracked file cites a document or folder it does not hold."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Built from parts, so that this file does not cite them itself.
CITATIONS = ("ARCHITECTURE" + ".md", "ARCHITECTURE" + " §", "../" + "shared/", "/work/" + "shared")


def _tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed.decode().split("\0") if name]


def test_no_tracked_file_cites_a_document_the_repository_does_not_hold() -> None:
    """The shared picture and its folders are never cited: docs/design.md says what is needed."""
    citing = []
    for path in _tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary files, and files deleted in the work tree
        citing += [f"{path.relative_to(ROOT)}: {c}" for c in CITATIONS if c in text]
    assert citing == []
