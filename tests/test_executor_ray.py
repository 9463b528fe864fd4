"""`atlas index --executor ray`: shard builds as Ray tasks on a real local cluster started by the test.

The cluster listens on loopback only (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 makes Ray use 127.0.0.1),
with 2 CPUs and no dashboard. Skipped when ray is not installed (`pip install 'atlas[ray]'`; CI installs it).
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

import atlas
from tests.conftest import git, git_env, init_repo, write_tree
from tests.generated_repo import OBVIOUS_ANSWERS, make_shop_repo

LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
BUILD_TITLE = b"ray::_build_on_worker"


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A Ray cluster on this machine: its address, for drivers in other processes."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in LOOPBACK.items():
            patch.setenv(name, value)  # read when ray is imported
        ray = pytest.importorskip("ray")
        context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        try:
            assert all(node["NodeManagerAddress"] == "127.0.0.1" for node in ray.nodes())
            yield context.address_info["gcs_address"]
        finally:
            ray.shutdown()


def _atlas(*args: str, timeout: float = 300, **popen: object) -> subprocess.CompletedProcess[str]:
    env = {**git_env(), **LOOPBACK}
    return subprocess.run([sys.executable, "-m", "atlas", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, **popen)  # type: ignore[call-overload]  # fmt: skip


def _top10(root: Path, index_dir: Path, query: str) -> list[tuple[str, float]]:
    done = _atlas("search", "--repo", str(root), "--index-dir", str(index_dir), "--format", "jsonl", "--no-lines",
                  query)  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return [(hit["path"], hit["score"]) for hit in map(orjson.loads, done.stdout.splitlines())]


def test_ray_shards_assemble_into_the_single_index(cluster: str, tmp_path: Path) -> None:
    root = make_shop_repo(tmp_path / "shop")
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    assert _atlas("-q", "index", str(root), "--out", str(single)).returncode == 0
    done = _atlas("index", str(root), "--out", str(sharded), "--shards", "3", "--executor", "ray",
                  "--ray-address", cluster, "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = orjson.loads(done.stdout)
    assert report["files_indexed"] == orjson.loads(_atlas("index", str(root), "--out", str(single),
                                                          "--format", "json").stdout)["files_indexed"]  # fmt: skip
    assert sorted(p.name for p in (sharded / "shards").iterdir()) == [f"000{i}-of-0003" for i in range(3)]
    for i in range(3):
        assert f"shard {i}/3 built on Ray" in done.stderr
    for query, _ in OBVIOUS_ANSWERS:
        assert _top10(root, sharded, query) == _top10(root, single, query), query


def test_ray_rebuilds_only_the_shard_of_an_edited_file(cluster: str, tmp_path: Path) -> None:
    root = make_shop_repo(tmp_path / "shop")
    args = ("index", str(root), "--shards", "3", "--executor", "ray", "--ray-address", cluster, "--format", "json")
    assert _atlas(*args).returncode == 0
    with open(root / "shop" / "pricing.py", "a", encoding="utf-8") as handle:
        handle.write("\n\ndef loyalty_bonus(points):\n    return points // 10\n")
    done = _atlas(*args)
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["reason"] == "1 of 3 shards built"
    assert _top10(root, root / ".atlas", "loyalty bonus")[0][0] == "shop/pricing.py"


def test_executor_ray_without_shards_builds_as_many_as_the_tree_calls_for(cluster: str, tmp_path: Path) -> None:
    root = make_shop_repo(tmp_path / "shop")
    done = _atlas("index", str(root), "--executor", "ray", "--ray-address", cluster, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert "shard 0/1 built on Ray" in done.stderr
    assert [p.name for p in (root / ".atlas" / "shards").iterdir()] == ["0000-of-0001"]


PLANTED = ("atlas/__init__.py", "atlas/executor_ray.py", "orjson.py", "tantivy.py", "numpy.py")
"""Modules a shard build on a worker imports (Atlas's own package, third-party ones), planted at a repository's top."""


def _planted_repo(root: Path, marker: Path) -> Path:
    """The shop repository with each of PLANTED writing `marker` and failing when imported."""
    trap = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\nraise ImportError('the repository was imported')\n"
    make_shop_repo(root)
    write_tree(root, dict.fromkeys(PLANTED, trap))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "plant modules")
    return root


@pytest.mark.parametrize("local_cluster", [False, True], ids=["ray-address", "started-here"])
def test_regression_ray_workers_import_nothing_of_the_repository_the_build_runs_in(
    cluster: str, tmp_path: Path, local_cluster: bool
) -> None:
    # ray.init puts the driver's working directory first on every worker's module path: `atlas index --executor ray`
    # run in a repository holding an `atlas/` package, or an `orjson.py`, had its workers import those instead of
    # Atlas's and its dependencies (the build failed, or ran the repository's code).
    marker = tmp_path / "imported"
    root = _planted_repo(tmp_path / "shop", marker)
    address = () if local_cluster else ("--ray-address", cluster)
    # Started as the installed `atlas` command starts: the working directory is not on the driver's own module path.
    command = [sys.executable, "-P", "-m", "atlas", "index", "--shards", "2", "--executor", "ray", *address,
               "--format", "json"]  # fmt: skip
    env = {**git_env(), **LOOPBACK, "PYTHONPATH": str(Path(atlas.__file__).parents[1])}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env, timeout=300)
    assert not marker.exists(), f"a Ray worker imported the repository's {marker.read_text().split()}"
    assert done.returncode == 0, done.stderr
    single = _atlas("index", str(root), "--out", str(tmp_path / "single"), "--format", "json")
    assert orjson.loads(done.stdout)["files_indexed"] == orjson.loads(single.stdout)["files_indexed"]
    query, answer = OBVIOUS_ANSWERS[0]
    assert _top10(root, root / ".atlas", query)[0][0] == answer


def test_regression_a_ray_build_runs_from_a_removed_working_directory(cluster: str, tmp_path: Path) -> None:
    # ray.init reads the working directory (to put it on the workers' module path): run from one since removed,
    # `atlas index /abs/repo --executor ray` failed with "unexpected error: FileNotFoundError".
    root = make_shop_repo(tmp_path / "shop")
    gone = tmp_path / "gone"
    gone.mkdir()
    command = shlex.join([sys.executable, "-m", "atlas", "-q", "index", str(root), "--shards", "2", "--executor",
                          "ray", "--ray-address", cluster])  # fmt: skip
    script = f'cd {shlex.quote(str(gone))} && rmdir "$PWD" && exec {command}'
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env={**git_env(), **LOOPBACK},
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not gone.exists() and (root / ".atlas" / "CURRENT").exists()


def _big_repo(root: Path, files: int = 1600) -> Path:
    """A repository whose shard builds take seconds, long enough to be stopped while they run."""
    body = "".join(f"def handler_{n}(request, retries={n}):\n    return request.send(retries)\n\n" for n in range(60))
    write_tree(root, {f"pkg{n % 40}/module_{n}.py": f'"""Module {n}."""\n\n{body}' for n in range(files)})
    init_repo(root)
    return root


def _builds_running() -> list[int]:
    """Pids of Ray workers running a shard build now (Ray titles a busy worker after its task)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(BUILD_TITLE):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _wait_for_builds(deadline: float = 60.0) -> list[int]:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if pids := _builds_running():
            return pids
        time.sleep(0.05)
    raise AssertionError("no shard build started on the cluster")


def test_a_failed_ray_task_names_the_shard_and_the_cause(cluster: str, tmp_path: Path) -> None:
    """Workers killed mid-build (the OOM killer, a lost node): each task is retried twice, then the run
    fails naming the shard and the cause, in one sentence and a hint (exit 3), and publishes nothing."""
    root = _big_repo(tmp_path / "big")
    driver = subprocess.Popen(
        [sys.executable, "-m", "atlas", "index", str(root), "--shards", "2", "--executor", "ray",
         "--ray-address", cluster], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**git_env(), **LOOPBACK},
    )  # fmt: skip
    killed: set[int] = set()
    deadline = time.monotonic() + 120
    while driver.poll() is None and time.monotonic() < deadline:
        for pid in set(_builds_running()) - killed:
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.05)
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == 3, stderr
    assert len(killed) >= 3  # the failed shard ran three times: once and two retries
    failure = [line for line in stderr.splitlines() if line.startswith("atlas: shard ")]
    assert len(failure) == 1 and failure[0] in {
        f"atlas: shard {i}/2 failed on Ray: WorkerCrashedError: The worker died unexpectedly while executing this task."
        for i in range(2)
    }, stderr
    assert "  hint: a worker or node was lost" in stderr
    assert not (root / ".atlas" / "CURRENT").exists()
    shards = root / ".atlas" / "shards"
    half_unpacked = [p for p in shards.iterdir() if p.name.startswith(".")] if shards.is_dir() else []
    assert half_unpacked == []


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_during_a_ray_build_publishes_nothing_and_stops_the_builds(
    cluster: str, tmp_path: Path, stop: signal.Signals, code: int
) -> None:
    # SIGTERM: ray.init put in its own handler (exit 1 with Ray's "*** SIGTERM received ***" dump), and Ray's
    # wait raised its own KeyboardInterrupt, which lost the signal (exit 130): now exit 143, as without Ray.
    root = _big_repo(tmp_path / "big")
    env = {**git_env(), **LOOPBACK}
    driver = subprocess.Popen(
        [sys.executable, "-m", "atlas", "index", str(root), "--shards", "2", "--executor", "ray",
         "--ray-address", cluster], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    _wait_for_builds()
    driver.send_signal(stop)
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == code, stderr
    assert "interrupted" in stderr and "nothing was published" in stderr and "SIGTERM received" not in stderr
    assert not (root / ".atlas" / "CURRENT").exists()
    deadline = time.monotonic() + 20
    while _builds_running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _builds_running()


def test_a_ray_address_where_nothing_listens_fails_at_once(tmp_path: Path) -> None:
    """Ray retries a cluster that is not there for a quarter of an hour, printing its own warnings."""
    pytest.importorskip("ray")
    root = make_shop_repo(tmp_path / "shop")
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    started = time.monotonic()
    done = _atlas("-q", "index", str(root), "--shards", "2", "--executor", "ray", "--ray-address", address, timeout=60)
    assert done.returncode == 3, done.stderr
    assert time.monotonic() - started < 30
    assert done.stderr.startswith(f"atlas: cannot connect to the Ray cluster at {address}")
    assert len(done.stderr.splitlines()) == 2 and "  hint: " in done.stderr
    assert not (root / ".atlas" / "CURRENT").exists()


@pytest.mark.parametrize("address", [":6379", ":", "127.0.0.1:1 ", "127.0.0.1:-1", "127.0.0.1:\u0661", "host:0"])
def test_a_malformed_ray_address_is_a_usage_error_at_once(tmp_path: Path, address: str) -> None:
    # Ray retried these for minutes (a port with a space, a sign or another script's digits), or logged its own
    # traceback before failing (an empty host).
    pytest.importorskip("ray")
    root = make_shop_repo(tmp_path / "shop")
    started = time.monotonic()
    done = _atlas("-q", "index", str(root), "--executor", "ray", "--ray-address", address, timeout=60)
    assert done.returncode == 2, done.stderr
    assert time.monotonic() - started < 20
    assert done.stderr.startswith(f"atlas: --ray-address {address!r} is not HOST:PORT, auto or ray://HOST:PORT")
    assert len(done.stderr.splitlines()) == 2 and "Traceback" not in done.stderr
    assert not (root / ".atlas" / "CURRENT").exists()


def test_without_ray_installed_the_ray_executor_is_exit_3_before_anything_is_written(tmp_path: Path) -> None:
    root = make_shop_repo(tmp_path / "shop")
    script = (  # a None in sys.modules is how Python spells a package that is not there: `import ray` fails
        "import sys\nsys.modules['ray'] = None\nfrom atlas.cli import main\n"
        f"sys.argv = ['atlas', '-q', 'index', {str(root)!r}, '--shards', '2', '--executor', 'ray']\nmain()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=git_env(), timeout=120)
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("atlas: --executor ray needs the optional `ray` package")
    assert done.stderr.splitlines()[1] == "  hint: pip install 'atlas[ray]'"
    assert not (root / ".atlas").exists()


def test_ray_is_imported_only_when_asked_for(tmp_path: Path) -> None:
    root = make_shop_repo(tmp_path / "shop")
    script = (
        "import sys\nfrom click.testing import CliRunner\nfrom atlas.cli import cli\n"
        "assert CliRunner().invoke(cli, ['index', '--help']).exit_code == 0\n"
        f"assert CliRunner().invoke(cli, ['-q', 'index', {str(root)!r}]).exit_code == 0\n"
        f"assert CliRunner().invoke(cli, ['-q', 'index', {str(root)!r}, '--shards', '2', '--rebuild']).exit_code == 0\n"
        "print('ray' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=git_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_scratch_of_a_killed_worker_is_swept_by_the_next_build_on_its_node(tmp_path: Path) -> None:
    # A task cancelled with force (Ctrl-C on the driver) killed its worker before its temporary directory was
    # removed: each interrupted build left a shard's worth of files in the node's /tmp.
    from atlas.executor_ray import SCRATCH_PREFIX, sweep_abandoned_scratch

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = tmp_path / f"{SCRATCH_PREFIX}{gone.pid}-x1"
    (dead / "shard").mkdir(parents=True)
    (dead / "shard" / "files.json").write_text("{}")
    live = tmp_path / f"{SCRATCH_PREFIX}{os.getpid()}-x2"
    live.mkdir()
    unrelated = tmp_path / f"{SCRATCH_PREFIX}cache"
    unrelated.mkdir()

    sweep_abandoned_scratch(tmp_path)

    assert not dead.exists()
    assert live.exists() and unrelated.exists()


def test_regression_the_sweep_leaves_directories_it_did_not_make_and_survives_odd_names(tmp_path: Path) -> None:
    # It removed any `atlas-shard-<dead pid>-*` of this user (the prefix then): a shard built with `--out
    # /tmp/atlas-shard-2-of-4` was deleted by the next Ray build on the node (no process 2 in a container), and a
    # name whose "pid" overflows a C long, or is a digit outside ASCII, stopped the worker's build with
    # OverflowError or ValueError.
    from atlas.executor_ray import SCRATCH_PREFIX, sweep_abandoned_scratch

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    user_out = tmp_path / f"{SCRATCH_PREFIX}{gone.pid}-of-4"
    user_out.mkdir()
    (user_out / "CURRENT").write_text("gen-000001\n")
    dated = tmp_path / f"{SCRATCH_PREFIX}{gone.pid}-20240101"
    (dated / "gen-000001").mkdir(parents=True)
    odd = [tmp_path / f"{SCRATCH_PREFIX}{pid}-abcd1234" for pid in ("9" * 30, "\u00b2", "\u0663")]
    for path in odd:
        path.mkdir()
    dead = tmp_path / f"{SCRATCH_PREFIX}{gone.pid}-k3j_x9q2"
    (dead / "shard").mkdir(parents=True)

    sweep_abandoned_scratch(tmp_path)

    assert (user_out / "CURRENT").exists() and (dated / "gen-000001").exists()
    assert all(path.exists() for path in odd)
    assert not dead.exists()
