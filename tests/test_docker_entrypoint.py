"""The container's entry point, run outside Docker exactly as the image runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.generated_repo import make_shop_repo
from tests.mounts import read_only_view

PROJECT = Path(__file__).resolve().parent.parent
ENTRYPOINT = PROJECT / "docker" / "entrypoint.sh"


def run_entrypoint(
    root: Path, index: Path, *args: str, require_mount: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ, "ATLAS_ROOT": str(root), "ATLAS_INDEX_DIR": str(index), "ATLAS_MEMORY": "256M",
        "ATLAS_JOBS": "2", "ATLAS_BIN": f"{sys.executable} -m atlas",
    }  # fmt: skip
    env.pop("ATLAS_REQUIRE_MOUNT", None)
    if require_mount:
        env["ATLAS_REQUIRE_MOUNT"] = "1"
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


def test_regression_global_options_before_the_command_keep_the_entry_points_work(tmp_path: Path) -> None:
    # `docker run IMAGE -q index` took "-q" for the command: the checks were skipped and the index went into
    # atlas's default place, without --index-dir, --memory or --jobs.
    root = make_shop_repo(tmp_path / "repo")
    index = tmp_path / "volume"
    settings = tmp_path / "my settings.toml"
    settings.write_text("[search]\nlimit = 2\n")
    done = run_entrypoint(root, index, "-q", "--config", str(settings), "index", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["index_dir"] == str(index) and done.stderr == ""
    assert not (root / ".atlas").exists()
    found = run_entrypoint(root, index, "--quiet", f"--config={settings}", "search", "--format", "jsonl", "cart")
    assert found.returncode == 0 and len(found.stdout.splitlines()) == 2, found.stderr  # the config's limit
    missing = run_entrypoint(tmp_path / "nothing", index, "-q", "index")
    assert missing.returncode == 2 and "atlas-entrypoint:" in missing.stderr


def test_missing_repository_mount_is_a_usage_error(tmp_path: Path) -> None:
    done = run_entrypoint(tmp_path / "absent", tmp_path / "volume", "index")
    assert done.returncode == 2
    assert "hint:" in done.stderr


def test_dockerfile_copies_what_exists_and_uses_the_entrypoint() -> None:
    dockerfile = (PROJECT / "docker" / "Dockerfile").read_text()
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, flags=re.M))
    for stage in re.findall(r"^COPY --from=(\S+) ", dockerfile, flags=re.M):
        assert stage in stages, stage
    for source in re.findall(r"^COPY (?!--from=)(.+) \S+$", dockerfile, flags=re.M):
        for item in source.split():
            assert (PROJECT / item).exists(), item
    assert "ENTRYPOINT" in dockerfile and "USER atlas" in dockerfile
    assert "slim" in dockerfile and "alpine" not in dockerfile


def test_regression_an_empty_repository_mount_keeps_the_index(tmp_path: Path) -> None:
    # It indexed the empty directory (exit 0, files_indexed 0) over the volume's index.
    index = tmp_path / "volume"
    assert run_entrypoint(make_shop_repo(tmp_path / "repo"), index, "index").returncode == 0
    live = (index / "CURRENT").read_text()
    (tmp_path / "empty").mkdir()
    done = run_entrypoint(tmp_path / "empty", index, "index")
    assert done.returncode == 2, done.stderr
    message, hint = done.stderr.splitlines()
    assert message == f"atlas-entrypoint: {tmp_path / 'empty'} is empty or unreadable, so there is nothing to index"
    assert hint.startswith("  hint: mount the repository")
    assert (index / "CURRENT").read_text() == live


def test_regression_an_unmounted_repository_in_the_image_is_refused(tmp_path: Path) -> None:
    # The image creates /repo, so without `-v ...:/repo` the directory existed, empty, on the image's own
    # filesystem. ATLAS_REQUIRE_MOUNT=1 (set by the image) asks for a mount; `/` never is one.
    done = run_entrypoint(Path("/"), tmp_path / "volume", "index", "--help", require_mount=True)
    assert done.returncode == 2, done.stdout
    assert "/ is not mounted, so there is nothing to index" in done.stderr and "  hint: mount" in done.stderr
    assert not (tmp_path / "volume").exists()


def test_a_repository_on_a_mount_passes_the_mount_check(tmp_path: Path) -> None:
    root = make_shop_repo(tmp_path / "repo")
    mount = root.resolve()
    while not os.path.ismount(mount):
        mount = mount.parent
    done = run_entrypoint(root, tmp_path / "volume", "index", require_mount=True)
    assert done.returncode == (2 if mount == Path("/") else 0), done.stderr


def test_regression_a_repository_mounted_at_a_path_with_a_space_passes_the_mount_check(tmp_path: Path) -> None:
    # /proc/self/mountinfo writes a space in a mount point as \040, so a repository mounted at "/src/my repo"
    # was "not mounted, so there is nothing to index", exit 2.
    root = make_shop_repo(tmp_path / "repo")
    with read_only_view(root, tmp_path / "my repo") as view:
        done = run_entrypoint(view, tmp_path / "volume", "index", require_mount=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "volume" / "CURRENT").is_file()


def test_export_and_import_need_no_repository(tmp_path: Path) -> None:
    # As in the image without a /repo mount: the directory is there, empty.
    index, unmounted = tmp_path / "volume", tmp_path / "unmounted"
    assert run_entrypoint(make_shop_repo(tmp_path / "repo"), index, "index").returncode == 0
    unmounted.mkdir()
    archive = tmp_path / "index.tgz"
    assert run_entrypoint(unmounted, index, "export", str(archive)).returncode == 0
    done = run_entrypoint(unmounted, tmp_path / "other", "import", str(archive))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "other" / "CURRENT").is_file()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere; docker/smoke-test.sh covers uid 10001")
def test_an_index_directory_this_user_cannot_write_is_refused_up_front(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    done = run_entrypoint(make_shop_repo(tmp_path / "repo"), locked / "index", "index")
    assert done.returncode == 2, done.stderr
    assert "so the index cannot be written" in done.stderr and "  hint: " in done.stderr
    assert not list(locked.iterdir())


def test_dockerfile_pins_dependencies_runs_tini_and_sets_git_config() -> None:
    dockerfile = (PROJECT / "docker" / "Dockerfile").read_text()
    assert "FROM debian:bookworm-slim AS runtime" in dockerfile
    assert 'ENTRYPOINT ["/usr/bin/tini", "--",' in dockerfile
    assert "GIT_CONFIG_KEY_0=safe.directory" in dockerfile and "ATLAS_REQUIRE_MOUNT=1" in dockerfile
    assert "--no-index" in dockerfile and "'/src[mcp]'" in dockerfile
    lock = (PROJECT / "docker" / "requirements.lock").read_text().splitlines()
    pins = dict(line.split("==") for line in lock if line and not line.startswith("#"))
    assert {"tantivy", "tree-sitter", "mcp", "numpy", "setuptools"} <= set(pins)
    ignored = (PROJECT / ".dockerignore").read_text().splitlines()
    assert {".git", ".venv", ".atlas", "**/__pycache__"} <= set(ignored)


def test_the_index_dir_a_command_names_is_the_one_checked_for_writing(tmp_path: Path) -> None:
    # `index --index-dir X` checked $ATLAS_INDEX_DIR, then atlas failed on the read-only X (exit 3, not 2).
    root = make_shop_repo(tmp_path / "repo")
    writable = tmp_path / "volume"
    (tmp_path / "ro-source").mkdir()
    with read_only_view(tmp_path / "ro-source", tmp_path / "ro") as read_only:
        for args in (["--index-dir", str(read_only / "idx")], [f"--index-dir={read_only / 'idx'}"]):
            done = run_entrypoint(root, writable, "index", *args)
            assert done.returncode == 2, done.stderr
            assert f"{read_only} is read-only" in done.stderr and "hint:" in done.stderr
    done = run_entrypoint(root, tmp_path / "ro", "index", "--index-dir", str(writable), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert (writable / "CURRENT").is_file()
