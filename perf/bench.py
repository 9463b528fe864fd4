"""Atlas speed benchmarks: index build, warm and cold query latency, and the git history miner.

    python perf/bench.py TREE [--index-dir DIR] [--jobs N] [--queries FILE] [--repeat N]
                              [--cold-runs N] [--builds N] [--history-baseline] [--no-build] [--floor] [--json]
    python perf/bench.py --mine REPO [--mine REPO ...] [--commits 10000] [--json]

What it measures, for TREE:
- build: `atlas -q index TREE --index-dir DIR --jobs N --rebuild --reset-settings --format json` in a subprocess (run
  through a thin wrapper that adds three phase timers to those the report has): wall time, files/s,
  MB/s of bytes indexed, peak memory of the whole process tree (RSS summed over the parent and every
  worker every 100 ms, with its anonymous part, and PSS every second; plus ru_maxrss of the parent and
  of the largest child), CPU seconds, index size, skipped counts, and the share the signals phase adds
  to the build. `--history-baseline` alternates with `--no-history` builds to show what git mining costs.
  `--floor` then runs perf/floor.py (walk, read, tree-sitter names of .py files, a plain tantivy index,
  --jobs workers) on TREE and reports Atlas's build over that floor, in CPU and wall seconds.
- warm queries: one in-process `Engine`, `SearchOptions(limit=10)` with and without lines; p50/p95
  per query kind (short: identifiers, phrases, filters; question; long: a ~3 KB bug report).
- cold queries: `atlas -q search --format jsonl -n 10` as a new process, p50/p95 over --cold-runs, and
  the CPU of each process; `--floor` interleaves perf/floor_search.py (a bare Python process opening the
  same tantivy index and running one query) and reports Atlas's cold search over it, and the same floor
  importing the libraries the design requires of the CLI (`CLI_LIBRARIES`) over the bare one.
- correctness beside the times: queries that returned at least one hit, top path of 3 samples.

`--mine REPO` times `atlas.signals.git.mine_history` over the last --commits commits (a work tree
or a bare repository), beside plain `git log` with the same options. Every report carries the
machine, the corpus, the commit of this checkout and the command, and checks against the targets.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import math
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
STATS_ENV = "ATLAS_BENCH_STATS"
CHILD_FLAG = "--child-build"
MiB = 1 << 20
GiB = 1 << 30
TARGETS: dict[str, list[tuple[str, str, float]]] = {
    # (check, the report's key path ('a|b': a if present, else b), limit): a value at or under the limit passes.
    "any": [("warm short p50 ms", "queries.with_lines.short.p50_ms", 5.0),
            ("cold CLI p50 ms", "cold.p50_ms", 150.0),
            ("signals share of build", "build.history.signals_share_vs_no_history|build.signals_share", 0.25)],
    "django": [("build wall s", "build.wall_s", 6.0)],
    "linux": [("build wall s", "build.wall_s", 120.0), ("peak RSS bytes", "build.peak_rss_bytes", 1.5 * GiB)],
    "mine": [("mine_history s", "median_s", 10.0)],
}  # fmt: skip

# --- query sets -----------------------------------------------------------------------------------

DJANGO_QUERIES = {
    "short": ["QuerySet", "get_object_or_404", "select_related", "ForeignKey on_delete", "csrf_exempt",
              "SessionMiddleware", "ModelAdmin", "reverse_lazy", '"DEFAULT_AUTO_FIELD"', "sym:JsonResponse",
              "path:django/db/ bulk_create", '"atomic" savepoint'],
    "question": ["how are database migrations squashed", "where is the CSRF token checked on POST requests",
                 "how does the template engine resolve variables with dots",
                 "where are password hashers configured", "how does the ORM build SQL for Q objects",
                 "where is the maximum request body size enforced", "how does runserver autoreload watch files"],
}  # fmt: skip
LINUX_QUERIES = {
    "short": ["kmalloc", "spin_lock_irqsave", "tcp_v4_connect", "copy_from_user", "task_struct",
              "ext4_fill_super", "module_init", "pci_register_driver", '"page fault"', "sym:schedule",
              "path:drivers/net/ ethtool", '"use after free"'],
    "question": ["how does the scheduler pick the next task", "where are page faults handled on x86",
                 "how does ext4 commit the journal", "where is the TCP retransmission timer",
                 "how are interrupts routed to cpus", "how does the OOM killer choose a victim",
                 "where are USB devices enumerated"],
}  # fmt: skip
LONG_QUERY_CHARS = 3000
GENERIC_QUESTIONS = ["how is the configuration loaded", "where are errors handled",
                     "how are command line arguments parsed", "what does the main entry point do"]  # fmt: skip
REPORT_BODY = (
    "We upgraded last week and since then this fails about one time in five under load; it never failed "
    "before the upgrade. Nothing in our code changed. The failure looks like a race: when two requests "
    "arrive together the second one sees a half-initialised object and everything after that is wrong. "
    "Restarting the service makes it go away for a few hours. We tried pinning the previous version and the "
    "problem disappears, so it is a regression. Setting the cache size to zero does not help. Running with "
    "a single worker hides it. The logs below are from production with debug logging switched on; the "
    "first frames are ours and are left out. Expected: the call returns the cached value or recomputes it. "
    "Actual: the exception below, and afterwards every call fails until the process restarts.\n"
)
DJANGO_TRACE = [
    ("django/core/handlers/exception.py", 55, "inner"), ("django/core/handlers/base.py", 197, "_get_response"),
    ("django/views/generic/base.py", 104, "view"), ("django/views/generic/edit.py", 151, "post"),
    ("django/forms/models.py", 554, "save"), ("django/db/models/base.py", 891, "save_base"),
    ("django/db/models/query.py", 821, "bulk_create"), ("django/db/models/sql/compiler.py", 1823, "execute_sql"),
    ("django/db/backends/utils.py", 105, "_execute"), ("django/db/backends/postgresql/base.py", 300, "execute"),
]  # fmt: skip
LINUX_TRACE = [
    ("net/ipv4/tcp_timer.c", 455, "tcp_retransmit_timer"), ("net/ipv4/tcp_timer.c", 640, "tcp_write_timer_handler"),
    ("net/ipv4/tcp_timer.c", 662, "tcp_write_timer"), ("kernel/time/timer.c", 1700, "call_timer_fn"),
    ("kernel/time/timer.c", 1781, "__run_timers"), ("kernel/softirq.c", 571, "__do_softirq"),
    ("mm/kasan/report.c", 433, "kasan_report"), ("net/core/skbuff.c", 770, "kfree_skb_reason"),
    ("net/ipv4/tcp_output.c", 3270, "__tcp_retransmit_skb"), ("net/ipv4/tcp.c", 2950, "tcp_close"),
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Query:
    """One benchmark query and its kind: short, question or long."""

    text: str
    kind: str


def corpus_kind(tree: Path) -> str:
    """django, linux or generic: picks the built-in query set and the build targets."""
    if (tree / "django" / "__init__.py").is_file():
        return "django"
    if (tree / "Kconfig").is_file() and (tree / "kernel").is_dir():
        return "linux"
    return "generic"


def bug_report(title: str, trace: list[tuple[str, int, str]], python: bool) -> str:
    """A ~3 KB bug report: title, prose, and a traceback (Python) or call trace (kernel)."""
    if python:
        frames = "".join(f'  File "/srv/app/venv/lib/{p}", line {n}, in {f}\n    {f}()\n' for p, n, f in trace)
        trace_text = f"Traceback (most recent call last):\n{frames}ValueError: {title}\n"
    else:
        frames = "".join(f" {f}+0x{n:x}/0x{4 * n:x} {p}:{n}\n" for p, n, f in trace)
        trace_text = f"BUG: KASAN: {title}\nCall Trace:\n <IRQ>\n{frames} </IRQ>\n"
    text = f"{title}\n\n{REPORT_BODY}\n{trace_text}\n{REPORT_BODY}"
    while len(text) < LONG_QUERY_CHARS:
        text += REPORT_BODY
    return text


def builtin_queries(tree: Path, kind: str) -> list[Query]:
    """About 20 realistic queries for the corpus kind; generic ones are built from the tree's paths."""
    if kind == "django":
        sets, long = (
            DJANGO_QUERIES,
            bug_report(
                "bulk_create(update_conflicts=True) crashes when the primary key has a db_column", DJANGO_TRACE, True
            ),
        )
    elif kind == "linux":
        sets, long = LINUX_QUERIES, bug_report("slab-use-after-free Read in tcp_retransmit_timer", LINUX_TRACE, False)
    else:
        paths = sample_paths(tree, 12)
        words = [Path(p).stem.replace("_", " ").replace("-", " ") for p in paths]
        sets = {"short": [w for w in words if w.strip()][:12], "question": GENERIC_QUESTIONS}
        long = bug_report("crash in " + (words[0] if words else "main"), [(p, 10, "run") for p in paths[:8]], True)
    queries = [Query(text, kind) for kind in ("short", "question") for text in sets[kind]]
    return [*queries, Query(long, "long")]


def sample_paths(tree: Path, count: int) -> list[str]:
    """Up to `count` relative paths of text files spread evenly over the sorted tree (no dot-files)."""
    paths = sorted(rel for rel, _ in iter_files(tree))
    plain = [rel for rel in paths if not Path(rel).name.startswith(".")]
    return [rel for rel in plain[:: max(1, len(plain) // max(count, 1))] if is_text(tree / rel)][:count]


def is_text(path: Path) -> bool:
    """No NUL byte in the first 8 KiB (the walk's own binary test)."""
    try:
        with open(path, "rb") as handle:
            return b"\0" not in handle.read(8192)
    except OSError:
        return False


def load_queries(path: Path) -> list[Query]:
    """Queries from a file: JSON lines {"query", "kind"?}, or plain text, one query per line (# comments)."""
    queries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if path.suffix == ".jsonl":
            row = json.loads(line)
            queries.append(Query(row["query"], row.get("kind") or guess_kind(row["query"])))
        else:
            queries.append(Query(line, guess_kind(line)))
    return queries


def guess_kind(text: str) -> str:
    """long over 500 characters, question from 4 words, else short."""
    return "long" if len(text) > 500 else "question" if len(text.split()) >= 4 else "short"


# --- machine, corpus, checkout --------------------------------------------------------------------


def iter_files(tree: Path) -> Iterator[tuple[str, int]]:
    """(relative path, size) of every regular file, without following links or entering dot-dirs."""
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            full = os.path.join(dirpath, name)
            try:
                info = os.lstat(full)
            except OSError:
                continue
            if os.path.isfile(full) and not os.path.islink(full):
                yield os.path.relpath(full, tree), info.st_size


def corpus_info(tree: Path, kind: str) -> dict[str, Any]:
    """Name, version, file count and size on disk of the tree."""
    files = total = 0
    for _, size in iter_files(tree):
        files, total = files + 1, total + size
    return {"name": tree.name, "kind": kind, "version": corpus_version(tree, kind), "path": str(tree),
            "files": files, "mb": round(total / 1e6, 1)}  # fmt: skip


def corpus_version(tree: Path, kind: str) -> str:
    """The release of a Django sdist or Linux tree; `git describe` for a git tree; else ''."""
    try:
        if kind == "django":
            meta = (tree / "PKG-INFO").read_text(encoding="utf-8")
            return next(line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Version:"))
        if kind == "linux":
            head = dict(
                line.replace(" ", "").split("=", 1)
                for line in (tree / "Makefile").read_text(encoding="utf-8").splitlines()[:6]
                if "=" in line
            )
            return f"{head['VERSION']}.{head['PATCHLEVEL']}.{head['SUBLEVEL']}{head.get('EXTRAVERSION', '')}"
    except (OSError, StopIteration, KeyError):
        return ""
    return git_text(tree, "describe", "--always", "--tags")


def git_text(where: Path, *args: str) -> str:
    """Stripped stdout of a git command, or '' when it fails."""
    proc = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def package_version(name: str) -> str:
    """Installed version of a distribution, or '' when it is missing."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return ""


def machine_info() -> dict[str, Any]:
    """Cores, memory, Python and the versions of the native libraries Atlas runs on."""
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "cores": os.cpu_count(), "memory_gib": round(pages / GiB, 1), "python": platform.python_version(),
        "platform": platform.platform(), "tantivy": package_version("tantivy"),
        "tree_sitter": package_version("tree-sitter"),
        "tree_sitter_language_pack": package_version("tree-sitter-language-pack"),
    }  # fmt: skip


def checkout_info() -> dict[str, Any]:
    """Commit of this checkout and whether atlas/ had uncommitted changes while measuring."""
    dirty = git_text(REPO, "status", "--porcelain", "--", "atlas")
    return {"commit": git_text(REPO, "rev-parse", "--short", "HEAD"), "atlas_dirty": bool(dirty)}


# --- memory of a process tree ---------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, from the parent pids in /proc/*/stat."""
    parents: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, ()))
    return found


PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
PSS_EVERY = 10  # samples: PSS (smaps_rollup walks the page tables) and the process list are slower to read


def rss_of(pid: int) -> tuple[int, int]:
    """(resident, resident anonymous) bytes of one process from /proc/PID/statm (cheap); zeros once gone.

    Anonymous is resident minus shared (file-backed pages such as tantivy's memory-mapped segments).
    """
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            fields = handle.read().split()
        return int(fields[1]) * PAGE_BYTES, (int(fields[1]) - int(fields[2])) * PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return 0, 0


def pss_of(pid: int) -> int:
    """Proportional set size of one process (shared pages split between sharers); 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            line = next(line for line in handle if line.startswith(b"Pss:"))
        return int(line.split()[1]) * 1024
    except (OSError, StopIteration, IndexError, ValueError):
        return 0


@dataclass(slots=True)
class TreeSampler:
    """Samples the summed RSS of a process tree every `interval` seconds on a thread.

    Summed RSS counts pages a forked worker shares with its parent twice, so it is an upper bound;
    PSS (sampled every PSS_EVERY samples, so its peak may be missed by up to a second) is exact.
    """

    pid: int
    interval: float = 0.1
    peak_rss: int = 0
    peak_anon: int = 0
    peak_pss: int = 0
    peak_processes: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TreeSampler:
        """Begin sampling."""
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, int]:
        """Stop and return the peaks."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return {"peak_rss_bytes": self.peak_rss, "peak_anon_bytes": self.peak_anon, "peak_pss_bytes": self.peak_pss,
                "peak_processes": self.peak_processes, "rss_samples": self.samples}  # fmt: skip

    def _run(self) -> None:
        pids: list[int] = []
        while not self._stop.is_set():
            if self.samples % PSS_EVERY == 0:
                pids = descendants(self.pid)
                self.peak_pss = max(self.peak_pss, sum(map(pss_of, pids)))
            usage = [rss_of(pid) for pid in pids]
            self.peak_rss = max(self.peak_rss, sum(rss for rss, _ in usage))
            self.peak_anon = max(self.peak_anon, sum(anon for _, anon in usage))
            self.peak_processes = max(self.peak_processes, sum(1 for rss, _ in usage if rss))
            self.samples += 1
            self._stop.wait(self.interval)


# --- the build, timed by phase in a child process -------------------------------------------------

PHASE_HOOKS = (
    # (module, attribute, phase): timed in the child on top of the phases `atlas index` reports itself
    # (walk, parse_and_index, git_wait, git_mining (in a worker), signals, commit); a hook that no longer
    # exists is reported.
    ("atlas.index.writer", "GenerationWriter.add", "add_documents"),
    ("atlas.build", "compute_store", "signals_compute"),
)
PHASE_ORDER = ("walk", "parse_and_index", "add_documents", "git_wait", "signals", "signals_compute",
               "git_mining", "commit")  # fmt: skip
SIGNAL_PHASES = ("git_wait", "signals")


def install_phase_timers(totals: dict[str, float]) -> list[str]:
    """Wrap each PHASE_HOOKS target so its run time adds up in `totals`; returns the hooks not found."""
    missing = []
    for module_name, attribute, phase in PHASE_HOOKS:
        owner: Any = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        if owner is None or not callable(getattr(owner, name, None)):
            missing.append(f"{module_name}.{attribute}")
            continue
        setattr(owner, name, _timed(getattr(owner, name), phase, totals))
    return missing


def _timed(function: Callable[..., Any], phase: str, totals: dict[str, float]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[phase] = totals.get(phase, 0.0) + time.perf_counter() - started

    return wrapper


def child_build(argv: list[str]) -> None:
    """In the build subprocess: time the phases, run `atlas ARGV`, write stats to $ATLAS_BENCH_STATS."""
    totals: dict[str, float] = {}
    missing = install_phase_timers(totals)
    from atlas.cli import cli

    code: Any = 0
    try:
        cli.main(args=argv, prog_name="atlas")
    except SystemExit as done:
        code = done.code
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    stats = {
        "phases": {k: round(v, 3) for k, v in totals.items()}, "phases_missing": missing,
        "parent_maxrss_bytes": own.ru_maxrss * 1024, "largest_child_maxrss_bytes": children.ru_maxrss * 1024,
        "cpu_parent_s": round(own.ru_utime + own.ru_stime, 2),
        "cpu_children_s": round(children.ru_utime + children.ru_stime, 2),
    }  # fmt: skip
    Path(os.environ[STATS_ENV]).write_text(json.dumps(stats), encoding="utf-8")
    sys.exit(code)


def build_command(tree: Path, index_dir: Path, jobs: int, history: bool = True) -> list[str]:
    """The `atlas` arguments of one benchmarked build."""
    args = ["-q", "index", str(tree), "--index-dir", str(index_dir), "--jobs", str(jobs), "--rebuild"]
    args += ["--reset-settings", "--format", "json"]  # the index would remember an earlier --no-history
    return args if history else [*args, "--no-history"]


def run_build(tree: Path, index_dir: Path, jobs: int, history: bool = True) -> dict[str, Any]:
    """Build the index in a subprocess; wall time, peaks, phases and the index report."""
    args = build_command(tree, index_dir, jobs, history)
    with tempfile.NamedTemporaryFile(suffix=".json") as stats_file:
        env = {**os.environ, STATS_ENV: stats_file.name}
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, __file__, CHILD_FLAG, *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        sampler = TreeSampler(proc.pid).start()
        out, err = proc.communicate()
        wall = time.perf_counter() - started
        peaks = sampler.stop()
        if proc.returncode != 0:
            raise RuntimeError(f"atlas index failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
        stats = json.loads(Path(stats_file.name).read_text(encoding="utf-8"))
    return summarise_build(json.loads(out), stats, peaks, wall, args)


def summarise_build(report: dict[str, Any], stats: dict[str, Any], peaks: dict[str, int], wall: float,
                    args: list[str]) -> dict[str, Any]:  # fmt: skip
    """One build's numbers from the index report, the child's stats and the sampled peaks."""
    phases = {**report.get("phases", {}), **stats["phases"]}
    signals = signal_seconds(phases)
    return {
        "command": "atlas " + shlex.join(args), "mode": report.get("mode", "full"),
        "wall_s": round(wall, 3), "atlas_seconds": report["seconds"],
        "files_indexed": report["files_indexed"], "bytes_indexed": report["bytes_indexed"],
        "files_per_s": round(report["files_indexed"] / wall, 1),
        "mb_per_s": round(report["bytes_indexed"] / 1e6 / wall, 2),
        "skipped": report["skipped"], "parse_errors": report["parse_errors"], "symbols": report["symbols"],
        "index_bytes": report["index_bytes"], **peaks,
        **{k: v for k, v in stats.items() if k != "phases"}, "phases": phases,
        "signals_share": round(signals / max(wall - signals, 1e-9), 4),
        "git": report["signals"].get("git", {}), "graph": report["signals"].get("graph", {}),
    }  # fmt: skip


def signal_seconds(phases: dict[str, float]) -> float:
    """Seconds the build spent on signals after parsing: waiting for git history, then the side store."""
    return sum(phases.get(name, 0.0) for name in SIGNAL_PHASES)


def best_build(builds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median build by wall time (the fastest of two), with every wall time listed."""
    ordered = sorted(builds, key=lambda b: b["wall_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["wall_s_runs"] = [b["wall_s"] for b in builds]
    return chosen


def history_cost(full: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """What git mining adds: the (median) full build against the (median) --no-history build.

    `signals_share_vs_no_history` is the full build over the no-history build without its signals
    phase, minus one: what history, import graph and side store together add to indexing alone.
    Mining runs on a thread beside the parse workers, so on a busy machine its CPU seconds
    (`history_cpu_share`: CPU of the full build over CPU of the no-history build, minus one) are
    the steadier measure of its cost.
    """
    base = baseline["wall_s"] - signal_seconds(baseline["phases"])
    cpu_full = full["cpu_parent_s"] + full["cpu_children_s"]
    cpu_no_history = baseline["cpu_parent_s"] + baseline["cpu_children_s"]
    return {
        "no_history_wall_s": baseline["wall_s"], "no_history_wall_s_runs": baseline["wall_s_runs"],
        "history_adds_s": round(full["wall_s"] - baseline["wall_s"], 3),
        "signals_share_vs_no_history": round((full["wall_s"] - base) / max(base, 1e-9), 4),
        "cpu_no_history_s": round(cpu_no_history, 2), "cpu_full_s": round(cpu_full, 2),
        "history_cpu_share": round(cpu_full / max(cpu_no_history, 1e-9) - 1, 4),
    }  # fmt: skip


def run_floor(tree: Path, jobs: int) -> dict[str, Any]:
    """perf/floor.py on `tree` in a subprocess: its report, with the wall time seen from here."""
    args = [sys.executable, str(Path(__file__).with_name("floor.py")), str(tree), "--jobs", str(jobs)]
    started = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"perf/floor.py failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}")
    return {**json.loads(proc.stdout), "process_wall_s": round(wall, 3)}


def floor_ratio(build: dict[str, Any], floor: dict[str, Any]) -> dict[str, Any]:
    """Atlas's build over the floor: CPU seconds of both process trees, and wall seconds of both
    subprocesses from start to exit (interpreter start-up and imports included on both sides)."""
    cpu_atlas = build["cpu_parent_s"] + build["cpu_children_s"]
    return {
        **floor, "cpu_atlas_s": round(cpu_atlas, 2),
        "cpu_ratio": round(cpu_atlas / max(floor["cpu_s"], 1e-9), 2),
        "wall_ratio": round(build["wall_s"] / max(floor["process_wall_s"], 1e-9), 2),
    }  # fmt: skip


# --- queries --------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def latency(samples: list[float]) -> dict[str, Any]:
    """n, p50 and p95 of millisecond samples."""
    return {"n": len(samples), "p50_ms": round(percentile(samples, 50), 3), "p95_ms": round(percentile(samples, 95), 3)}


def warm_queries(tree: Path, index_dir: Path, queries: list[Query], repeat: int) -> dict[str, Any]:
    """Per-kind latency through one Engine, with and without lines, hit counts and per-query medians."""
    from atlas.api import index_config, open_engine

    started = time.perf_counter()
    engine = open_engine(index_config(tree, index_dir), build_if_missing=False, show_progress=False)
    result: dict[str, Any] = {"engine_open_ms": round((time.perf_counter() - started) * 1000, 2)}
    result["with_lines"], hits, lines_ms = time_queries(engine, queries, repeat, with_lines=True)
    result["without_lines"], _, no_lines_ms = time_queries(engine, queries, repeat, with_lines=False)
    result.update(hit_summary(queries, hits))
    result["per_query"] = [
        {"query": shorten(q.text), "kind": q.kind, "hits": len(paths), "top": paths[0] if paths else None,
         "p50_ms_lines": a, "p50_ms_no_lines": b}
        for q, paths, a, b in zip(queries, hits, lines_ms, no_lines_ms, strict=True)
    ]  # fmt: skip
    return result


def time_queries(
    engine: Any, queries: list[Query], repeat: int, with_lines: bool
) -> tuple[dict[str, Any], list[list[str]], list[float | None]]:
    """Latency per kind over `repeat` timed runs of each query (after one untimed run).

    Also returns each query's paths and median milliseconds (None: nothing searchable in it).
    """
    from atlas.errors import UsageError
    from atlas.query.engine import SearchOptions

    options = SearchOptions(limit=10, with_lines=with_lines)
    samples: dict[str, list[float]] = {}
    first_ms, hits, medians = [], [], []
    for query in queries:
        started = time.perf_counter()
        try:
            paths = [hit.path for hit in engine.search(query.text, options).hits]
        except UsageError:  # counted as no hits, not timed
            hits.append([])
            medians.append(None)
            continue
        first_ms.append((time.perf_counter() - started) * 1000)
        hits.append(paths)
        mine = []
        for _ in range(repeat):
            started = time.perf_counter()
            engine.search(query.text, options)
            mine.append((time.perf_counter() - started) * 1000)
        samples.setdefault(query.kind, []).extend(mine)
        medians.append(round(statistics.median(mine), 3) if mine else None)
    by_kind: dict[str, Any] = {kind: latency(values) for kind, values in samples.items()}
    by_kind["all"] = latency([v for values in samples.values() for v in values])
    by_kind["first_run_max_ms"] = round(max(first_ms, default=0.0), 2)
    return by_kind, hits, medians


def hit_summary(queries: list[Query], hits: list[list[str]]) -> dict[str, Any]:
    """How many queries found something, and the top path of the first query of each kind."""
    samples, seen = [], set()
    for query, paths in zip(queries, hits, strict=True):
        if query.kind not in seen:
            seen.add(query.kind)
            samples.append({"query": shorten(query.text), "kind": query.kind, "hits": len(paths),
                            "top": paths[0] if paths else None})  # fmt: skip
    return {"queries": len(queries), "queries_with_hits": sum(1 for p in hits if p), "samples": samples[:3]}


def shorten(text: str, width: int = 60) -> str:
    """First line of `text`, cut to `width` characters."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def atlas_executable() -> list[str]:
    """The `atlas` console script next to this Python, else `python -m atlas`."""
    script = Path(sys.executable).with_name("atlas")
    return [str(script)] if script.exists() else [sys.executable, "-m", "atlas"]


CLI_LIBRARIES = ("click", "orjson")
"""The libraries the design requires of Atlas's command line (arguments, output): `--floor` also times the floor
with them imported, the least any `atlas search` process can cost."""


def cold_queries(tree: Path, index_dir: Path, queries: list[Query], runs: int, floor: bool = False) -> dict[str, Any]:
    """`atlas -q search --format jsonl -n 10` as a fresh process, cycling through the short queries: wall and
    CPU per process; with `floor`, perf/floor_search.py on the same queries and Atlas's ratio over it."""
    short = [q.text for q in queries if q.kind == "short"] or [q.text for q in queries]
    base = [*atlas_executable(), "-q", "search", "--repo", str(tree), "--index-dir", str(index_dir),
            "--format", "jsonl", "-n", "10"]  # fmt: skip
    floor_script = [sys.executable, str(Path(__file__).with_name("floor_search.py"))]
    bare = [*floor_script, str(index_dir)]
    with_libraries = [*floor_script, *(arg for module in CLI_LIBRARIES for arg in ("--import", module)), str(index_dir)]
    times, cpu, floor_times, floor_cpu, libraries_cpu, with_hits = [], [], [], [], [], 0
    for run in range(runs):
        query = short[run % len(short)]
        wall, used, proc = run_measured([*base, "--", query])
        times.append(wall)
        cpu.append(used)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"atlas search failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
        with_hits += bool(proc.stdout.strip())
        if floor:  # interleaved, so drifting load hits both alike
            wall, used = floor_search([*bare, query])
            floor_times.append(wall)
            floor_cpu.append(used)
            libraries_cpu.append(floor_search([*with_libraries, query])[1])
    version = [time_process([*atlas_executable(), "--version"]) for _ in range(max(3, runs // 2))]
    report = {"command": shlex.join([*base, "QUERY"]), "runs": runs, "runs_with_hits": with_hits,
              **latency(times), "cpu_p50_ms": round(percentile(cpu, 50), 2),
              "version_p50_ms": round(percentile(version, 50), 2)}  # fmt: skip
    if floor and runs:
        floor_wall, floor_used = percentile(floor_times, 50), percentile(floor_cpu, 50)
        libraries_used = percentile(libraries_cpu, 50)
        report["floor"] = {
            "command": shlex.join([*bare, "QUERY"]), "p50_ms": round(floor_wall, 2), "cpu_p50_ms": round(floor_used, 2),
            "cpu_ratio": round(report["cpu_p50_ms"] / max(floor_used, 1e-9), 2),
            "wall_ratio": round(report["p50_ms"] / max(floor_wall, 1e-9), 2),
            "with_cli_libraries": {
                "modules": list(CLI_LIBRARIES), "cpu_p50_ms": round(libraries_used, 2),
                "cpu_ratio": round(libraries_used / max(floor_used, 1e-9), 2),
            },
        }  # fmt: skip
    return report


def floor_search(args: list[str]) -> tuple[float, float]:
    """Run perf/floor_search.py as `args`: its wall and CPU milliseconds; RuntimeError if it fails."""
    wall, used, proc = run_measured(args)
    if proc.returncode != 0:
        raise RuntimeError(f"perf/floor_search.py failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    return wall, used


def run_measured(args: list[str]) -> tuple[float, float, subprocess.CompletedProcess[bytes]]:
    """Run `args` to completion: its wall milliseconds, the CPU milliseconds of its process tree, the process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, check=False)
    wall = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    return wall, used, proc


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its waited-for children (git)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_process(args: list[str]) -> float:
    """Milliseconds one process takes from start to exit."""
    started = time.perf_counter()
    subprocess.run(args, capture_output=True, check=False)
    return (time.perf_counter() - started) * 1000


# --- the git miner --------------------------------------------------------------------------------


def bench_mine(repo: Path, commits: int, runs: int = 3) -> dict[str, Any]:
    """mine_history over the last `commits` commits of `repo`, `runs` times, beside plain `git log`."""
    from atlas.signals.git import HistoryOptions, mine_history

    options = HistoryOptions(max_commits=commits)
    times, cpu, history = [], [], None
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), cpu_seconds()
        history = mine_history(repo, options)
        times.append(round(time.perf_counter() - started, 3))
        cpu.append(round(cpu_seconds() - cpu_started, 3))
    assert history is not None
    log_args = ["git", "-C", str(repo), "log", "--no-merges", "--topo-order", "-M", "--name-status", "-z",
                "--format=%x01%H %ct", f"--max-count={commits}", "HEAD", "--"]  # fmt: skip
    return {
        "repo": str(repo), "commit": git_text(repo, "rev-parse", "--short", "HEAD"), "commits_requested": commits,
        "available": history.available, "reason": history.reason, "commits_mined": history.commits_mined,
        "files_with_history": len(history.files), "files_with_cochange": len(history.cochange),
        "runs_s": times, "median_s": statistics.median(times), "cpu_s": statistics.median(cpu),
        "git_log_s": round(time_process(log_args) / 1000, 3), "command": f"mine_history({repo}, max_commits={commits})",
    }  # fmt: skip


# --- checks and output ----------------------------------------------------------------------------


def lookup(report: dict[str, Any], dotted: str) -> Any:
    """report['a']['b'] for 'a.b', or None when a key is missing; 'x|y' is x if present, else y."""
    for choice in dotted.split("|"):
        value: Any = report
        for key in choice.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def checks(report: dict[str, Any], kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    """The report's numbers beside the targets of `kinds`: value, limit, ok."""
    out = []
    for kind in kinds:
        for name, key, limit in TARGETS.get(kind, []):
            value = lookup(report, key)
            if value is not None:
                out.append({"check": name, "value": value, "target": limit, "ok": value <= limit})
    return out


def human(report: dict[str, Any]) -> str:
    """The report as a table for people."""
    dirty = " (atlas/ dirty)" if report["checkout"]["atlas_dirty"] else ""
    lines = [f"atlas bench · {report['date']} · commit {report['checkout']['commit']}{dirty}"]
    lines.append(f"machine {machine_line(report['machine'])}")
    if "load_after" in report:
        lines.append(f"load average before {report['load_before']}, after {report['load_after']}")
    if "corpus" in report:
        c = report["corpus"]
        lines.append(f"corpus {c['name']} {c['version']} · {c['files']:,} files · {c['mb']} MB · {c['path']}")
    lines += human_build(report.get("build")) + human_queries(report.get("queries")) + human_cold(report.get("cold"))
    for mined in report.get("mine", []):
        lines.append(f"mine_history {mined['repo']} @ {mined['commit']}: {mined['commits_mined']} commits, "
                     f"{mined['files_with_history']} files, median {mined['median_s']:.2f} s (runs {mined['runs_s']}, "
                     f"CPU {mined['cpu_s']:.2f} s); "
                     f"plain git log {mined['git_log_s']:.2f} s")  # fmt: skip
    lines += [f"  {'✓' if c['ok'] else '✗'} {c['check']}: {fmt_value(c['value'])} (target ≤ {fmt_value(c['target'])})"
              for c in report.get("checks", [])]  # fmt: skip
    return "\n".join(lines) + "\n"


def machine_line(m: dict[str, Any]) -> str:
    """Cores, memory and versions on one line."""
    return (f"{m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, tantivy {m['tantivy']}, "
            f"tree-sitter {m['tree_sitter']}")  # fmt: skip


def fmt_value(value: float) -> str:
    """Byte counts in MiB, other numbers as they are."""
    return f"{value / MiB:.0f} MiB" if value > 10 * MiB else f"{value:g}"


def human_build(build: dict[str, Any] | None) -> list[str]:
    """Build lines: time, rates, memory, CPU, size, phases."""
    if not build:
        return []
    timed = sorted(build["phases"].items(), key=lambda i: PHASE_ORDER.index(i[0]) if i[0] in PHASE_ORDER else 99)
    phases = " · ".join(f"{name} {seconds:.2f}" for name, seconds in timed)
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(build["skipped"].items())) or "none"
    lines = [
        f"build   {build['command']}",
        f"  wall {build['wall_s']:.2f} s (runs {build.get('wall_s_runs')}) · {build['files_indexed']:,} files "
        f"({build['files_per_s']:,.0f}/s) · {build['bytes_indexed'] / 1e6:.1f} MB ({build['mb_per_s']:.2f} MB/s)",
        f"  skipped {skipped} · parse errors {build['parse_errors']} · symbols {build['symbols']:,} · "
        f"index {build['index_bytes'] / 1e6:.1f} MB",
        f"  peak memory: tree RSS {build['peak_rss_bytes'] / MiB:.0f} MiB (anonymous "
        f"{build['peak_anon_bytes'] / MiB:.0f} MiB), tree PSS {build['peak_pss_bytes'] / MiB:.0f}"
        f" MiB ({build['peak_processes']} processes); ru_maxrss parent {build['parent_maxrss_bytes'] / MiB:.0f} MiB, "
        f"largest child {build['largest_child_maxrss_bytes'] / MiB:.0f} MiB",
        f"  cpu: parent {build['cpu_parent_s']} s, children {build['cpu_children_s']} s",
        f"  phases (s): {phases}; signals add {build['signals_share']:.1%}",
    ]  # fmt: skip
    if "history" in build:
        h = build["history"]
        lines.append(f"  --no-history build {h['no_history_wall_s']:.2f} s (runs {h['no_history_wall_s_runs']}, CPU "
                     f"{h['cpu_no_history_s']} s vs {h['cpu_full_s']} s, +{h['history_cpu_share']:.0%}): history adds "
                     f"{h['history_adds_s']:.2f} s, "
                     f"signals add {h['signals_share_vs_no_history']:.1%}")  # fmt: skip
    if "floor" in build:
        f = build["floor"]
        lines.append(f"  floor (perf/floor.py, {f['files']:,} files, {f['bytes'] / 1e6:.1f} MB): wall "
                     f"{f['process_wall_s']:.2f} s, CPU {f['cpu_s']:.2f} s; Atlas/floor: CPU {f['cpu_ratio']:.2f}x "
                     f"({f['cpu_atlas_s']} s), wall {f['wall_ratio']:.2f}x")  # fmt: skip
    return lines


def human_queries(queries: dict[str, Any] | None) -> list[str]:
    """Warm latency table and the correctness counts."""
    if not queries:
        return []
    lines = [f"warm queries: one Engine (opened in {queries['engine_open_ms']:.0f} ms), limit 10",
             f"  {'':<24} {'n':>4} {'p50 ms':>8} {'p95 ms':>8}"]  # fmt: skip
    for label in ("with_lines", "without_lines"):
        for kind, row in queries[label].items():
            if isinstance(row, dict):
                lines.append(f"  {label:<14} {kind:<9} {row['n']:>4} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f}")
    lines.append(f"  hits: {queries['queries_with_hits']}/{queries['queries']} queries returned ≥1 result")
    lines += [f"  [{s['kind']}] {s['query']!r} → {s['top']} ({s['hits']} hits)" for s in queries["samples"]]
    return lines


def human_cold(cold: dict[str, Any] | None) -> list[str]:
    """The cold CLI line."""
    if not cold:
        return []
    lines = [f"cold CLI ({cold['runs']} runs, {cold['runs_with_hits']} with hits): p50 {cold['p50_ms']:.0f} ms, "
            f"p95 {cold['p95_ms']:.0f} ms, CPU p50 {cold['cpu_p50_ms']:.0f} ms; `atlas --version` p50 "
            f"{cold['version_p50_ms']:.0f} ms", f"  {cold['command']}"]  # fmt: skip
    if "floor" in cold:
        f = cold["floor"]
        lines.append(
            f"  floor (perf/floor_search.py): wall p50 {f['p50_ms']:.0f} ms, "
            f"CPU p50 {f['cpu_p50_ms']:.0f} ms; Atlas/floor: CPU {f['cpu_ratio']:.2f}x, "
            f"wall {f['wall_ratio']:.2f}x"
        )
        libraries = f.get("with_cli_libraries")
        if libraries:
            lines.append(
                f"  floor importing {' and '.join(libraries['modules'])} too: CPU p50 {libraries['cpu_p50_ms']:.0f} ms "
                f"({libraries['cpu_ratio']:.2f}x the floor)"
            )
    return lines


# --- driver ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", nargs="?", type=Path, help="source tree to index and query")
    parser.add_argument("--index-dir", type=Path, help="where to build (default: a temporary directory)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parse processes (default: cores)")
    parser.add_argument("--queries", type=Path, help="query file: one per line, or .jsonl with query/kind")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per warm query (default 5)")
    parser.add_argument("--cold-runs", type=int, default=10, help="cold CLI searches (default 10)")
    parser.add_argument("--builds", type=int, default=1, help="index builds; the median is reported (default 1)")
    parser.add_argument("--history-baseline", action="store_true", help="also build with --no-history")
    parser.add_argument("--no-build", action="store_true", help="reuse the index in --index-dir")
    parser.add_argument("--floor", action="store_true", help="also run perf/floor.py: Atlas's build over it")
    parser.add_argument("--mine", type=Path, action="append", default=[], help="time mine_history on REPO")
    parser.add_argument("--commits", type=int, default=10_000, help="commits to mine (default 10000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    if args.tree is None and not args.mine:
        parser.error("give a TREE, or --mine REPO")
    if args.no_build and not args.index_dir:
        parser.error("--no-build needs --index-dir")
    if args.floor and args.no_build:
        parser.error("--floor compares with a build: drop --no-build")
    return args


def bench_tree(args: argparse.Namespace, index_dir: Path) -> dict[str, Any]:
    """Build (unless --no-build), then warm and cold queries, for args.tree."""
    tree = args.tree.resolve()
    kind = corpus_kind(tree)
    report: dict[str, Any] = {"corpus": corpus_info(tree, kind)}
    if not args.no_build:
        full, baseline = [], []
        for _ in range(max(1, args.builds)):  # interleaved, so drifting load hits both kinds alike
            if args.history_baseline:
                baseline.append(run_build(tree, index_dir, args.jobs, history=False))
            full.append(run_build(tree, index_dir, args.jobs))  # last: queries run on a full index
        report["build"] = best_build(full)
        if baseline:
            report["build"]["history"] = history_cost(report["build"], best_build(baseline))
        if args.floor:
            report["build"]["floor"] = floor_ratio(report["build"], run_floor(tree, args.jobs))
    queries = load_queries(args.queries) if args.queries else builtin_queries(tree, kind)
    report["queries"] = warm_queries(tree, index_dir, queries, args.repeat)
    report["cold"] = cold_queries(tree, index_dir, queries, args.cold_runs, args.floor)
    report["checks"] = checks(report, ("any", kind))
    return report


def run(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """The whole benchmark as one JSON-ready report."""
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"), "machine": machine_info(), "checkout": checkout_info(),
        "command": shlex.join(["python", "perf/bench.py", *argv]), "load_before": load_average(),
    }  # fmt: skip
    if args.tree is not None:
        index_dir = args.index_dir or Path(tempfile.mkdtemp(prefix="atlas-bench-"))
        try:
            report |= bench_tree(args, index_dir.resolve())
        finally:
            if args.index_dir is None:
                shutil.rmtree(index_dir, ignore_errors=True)
    report["mine"] = [bench_mine(repo, args.commits) for repo in args.mine]
    for mined in report["mine"]:
        mined["checks"] = checks(mined, ("mine",))
    report.setdefault("checks", []).extend(c for mined in report["mine"] for c in mined["checks"])
    report["load_after"] = load_average()
    return report


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: other work on the machine skews every wall time."""
    return [round(value, 2) for value in os.getloadavg()]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table (or --json); 0 when it ran, whatever the targets say."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [CHILD_FLAG]:
        child_build(argv[1:])
    args = parse_args(argv)
    report = run(args, argv)
    sys.stdout.write(json.dumps(report, indent=2) + "\n" if args.json else human(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
