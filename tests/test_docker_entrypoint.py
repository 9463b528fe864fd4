"""The container's entry point, run outside Docker exactly as the image runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.generated_repo import make_shop_repo

PROJECT = Path(__file__).resolve().parent.parent
ENTRYPOINT = PROJECT / "docker" / "entrypoint.sh"


def run_entrypoint(root: Path, index: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ, "ATLAS_ROOT": str(root), "ATLAS_INDEX_DIR": str(index), "ATLAS_MEMORY": "256M",
        "ATLAS_JOBS": "2", "ATLAS_BIN": f"{sys.executable} -m atlas",
    }  # fmt: skip
    return subprocess.run(["sh", str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=300)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_index_then_search_without_writing_to_the_repository(tmp_path: Path) -> None:
    root = make_shop_repo(tmp_path / "repo")
    before = snapshot(root)
    index = tmp_path / "volume"
    done = run_entrypoint(root, index, "index", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["files_indexed"] == 14 and report["index_dir"] == str(index)
    assert snapshot(root) == before
    found = run_entrypoint(root, index, "search", "--format", "jsonl", "verify webhook signature")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout.splitlines()[0])["path"] == "shop/payments/gateway.py"
    again = run_entrypoint(root, index, "index", "--format", "json")
    assert json.loads(again.stdout)["mode"] == "unchanged"


def test_default_command_is_index(tmp_path: Path) -> None:
    root = make_shop_repo(tmp_path / "repo")
    done = run_entrypoint(root, tmp_path / "volume")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "volume" / "CURRENT").is_file()


def test_missing_repository_mount_is_a_usage_error(tmp_path: Path) -> None:
    done = run_entrypoint(tmp_path / "absent", tmp_path / "volume", "index")
    assert done.returncode == 2
    assert "hint:" in done.stderr


def test_dockerfile_copies_what_exists_and_uses_the_entrypoint() -> None:
    dockerfile = (PROJECT / "docker" / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.M):
        for item in source.split():
            assert (PROJECT / item).exists(), item
    assert "ENTRYPOINT" in dockerfile and "USER atlas" in dockerfile
    assert "slim" in dockerfile and "alpine" not in dockerfile
