"""Warm MCP round trips: `atlas mcp` in a subprocess, driven over stdio by the SDK's client, as an agent does.

    python perf/bench_mcp.py TREE [--index-dir DIR] [--repeat N] [--check-interval S] [--json]

What it measures, for TREE (whose index is built into --index-dir first when there is none):
- start: spawn to `initialize` answered, and the first `search` (engine already open, nothing cached).
- search: client-observed round trip of `tools/call search` (limit 10, line ranges on) per query kind,
  with the same queries as perf/bench.py (short: identifiers, phrases, filters; question; long: a ~3 KB
  bug report); p50/p90/p99/max over --repeat timed passes after one untimed pass. Beside it the
  server's own `took_ms` (the engine's share) and the answer size in bytes.
- symbols, related, status: the same over a few names and the top paths the searches returned.
- correctness beside the times: queries with at least one hit, top path of three samples.

The server keeps its default freshness check (a walk + stat of TREE every 2 s) unless --check-interval
says otherwise, so the numbers include that cost. Target: warm search p50 <= 20 ms on Django.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

PERF = Path(__file__).resolve().parent
SEARCH_P50_TARGET_MS = 20.0
SYMBOL_NAMES = {
    "django": ["QuerySet", "QuerySet.filter", "get_object_or_404", "csrf_exempt", "ModelAdmin", "__init__"],
    "linux": ["task_struct", "kmalloc", "tcp_v4_connect", "schedule", "ext4_fill_super", "copy_from_user"],
}


def _bench_module() -> Any:
    """perf/bench.py, for its query sets and machine description (one definition of both)."""
    spec = importlib.util.spec_from_file_location("atlas_perf_bench", PERF / "bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def summary(samples: list[float]) -> dict[str, Any]:
    """n, p50, p90, p99 and max of millisecond samples (nearest rank)."""
    ordered = sorted(samples)

    def rank(q: float) -> float:
        return round(ordered[max(0, -(-len(ordered) * q // 100) - 1)], 2) if ordered else 0.0

    return {"n": len(ordered), "p50_ms": rank(50), "p90_ms": rank(90), "p99_ms": rank(99), "max_ms": rank(100)}


async def call(session: ClientSession, tool: str, arguments: dict[str, Any]) -> tuple[float, Any, int]:
    """(round trip in ms, parsed answer or {"error": text}, answer size in bytes)."""
    started = time.perf_counter()
    result = await session.call_tool(tool, arguments)
    elapsed = (time.perf_counter() - started) * 1000
    text = result.content[0].text
    return elapsed, ({"error": text} if result.is_error else json.loads(text)), len(text.encode())


async def settle(session: ClientSession, timeout: float = 120.0) -> float:
    """Wait until the server's index is fresh and no refresh runs; seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        _, status, _ = await call(session, "status", {})
        if status.get("fresh") and not status.get("refreshing"):
            break
        await anyio.sleep(0.2)
    return round(time.monotonic() - started, 2)


async def time_searches(session: ClientSession, queries: list[Any], repeat: int, lines: bool) -> dict[str, Any]:
    """Round trips of `search` per query kind, the engine's share, answer sizes and hits."""
    for query in queries:  # untimed pass: file pages and lazy tables warm
        await call(session, "search", {"query": query.text, "lines": lines})
    trips: dict[str, list[float]] = {}
    engine: list[float] = []
    sizes: list[int] = []
    tops: list[str | None] = []
    for round_number in range(repeat):
        for query in queries:
            elapsed, answer, size = await call(session, "search", {"query": query.text, "lines": lines})
            trips.setdefault(query.kind, []).append(elapsed)
            engine.append(answer.get("took_ms", 0.0))
            sizes.append(size)
            if round_number == 0:
                tops.append(answer["results"][0]["path"] if answer.get("results") else None)
    everything = [ms for values in trips.values() for ms in values]
    result: dict[str, Any] = {"all": summary(everything), **{kind: summary(v) for kind, v in trips.items()}}
    result["engine_p50_ms"] = round(statistics.median(engine), 2)
    result["answer_bytes_median"] = int(statistics.median(sizes))
    result["queries_with_hits"] = f"{sum(t is not None for t in tops)}/{len(tops)}"
    result["samples"] = [{"query": q.text[:50], "top": t} for q, t in list(zip(queries, tops, strict=True))[:3]]
    result["top_paths"] = [t for t in tops if t]
    return result


async def time_tool(session: ClientSession, tool: str, argument_sets: list[dict[str, Any]], repeat: int) -> dict:
    """Round trips of `tool` over `argument_sets`, after one untimed pass."""
    for arguments in argument_sets:
        await call(session, tool, arguments)
    samples = []
    errors = 0
    for _ in range(repeat):
        for arguments in argument_sets:
            elapsed, answer, _ = await call(session, tool, arguments)
            samples.append(elapsed)
            errors += "error" in answer
    return {**summary(samples), "errors": errors}


async def run_session(args: argparse.Namespace, queries: list[Any], kind: str, errlog: Any) -> dict[str, Any]:
    """Start the server, measure, stop it."""
    extra = ["--check-interval", str(args.check_interval)] if args.check_interval is not None else []
    server = ["-m", "atlas", "mcp", "--root", str(args.tree), "--index-dir", str(args.index_dir), *extra]
    params = StdioServerParameters(command=sys.executable, args=server)
    report: dict[str, Any] = {"server_command": shlex.join([sys.executable, *server])}
    started = time.perf_counter()
    async with stdio_client(params, errlog=errlog) as streams, ClientSession(*streams) as session:
        await session.initialize()
        report["start_ms"] = round((time.perf_counter() - started) * 1000, 1)
        report["first_search_ms"] = round((await call(session, "search", {"query": queries[0].text}))[0], 1)
        report["settle_s"] = await settle(session)
        report["search"] = await time_searches(session, queries, args.repeat, lines=True)
        report["search_no_lines"] = await time_searches(session, queries, args.repeat, lines=False)
        del report["search_no_lines"]["top_paths"], report["search_no_lines"]["samples"]
        tops = list(dict.fromkeys(report["search"].pop("top_paths")))[:6]
        names = SYMBOL_NAMES.get(kind, [Path(p).stem for p in tops])
        report["symbols"] = await time_tool(session, "symbols", [{"name": n} for n in names], args.repeat)
        report["related"] = await time_tool(session, "related", [{"path": p} for p in tops], args.repeat)
        report["status"] = await time_tool(session, "status", [{}], args.repeat)
    return report


def ensure_index(tree: Path, index_dir: Path) -> None:
    """Build (or bring up to date) the index of `tree` in `index_dir`."""
    command = [sys.executable, "-m", "atlas", "-q", "index", str(tree), "--index-dir", str(index_dir)]
    subprocess.run([*command, "--format", "json"], check=True, capture_output=True)


def human(report: dict[str, Any]) -> str:
    """A short readable report."""
    m, search = report["machine"], report["search"]
    lines = [
        f"atlas mcp on {report['corpus']} ({report['tree']}), commit {report['checkout']['commit']}, "
        f"{m['cores']} cores, Python {m['python']}, {report['date']}, load average {report['load_average']}",
        f"  server: {report['server_command']}",
        f"  start {report['start_ms']} ms; first search {report['first_search_ms']} ms; "
        f"settled in {report['settle_s']} s",
    ]
    for name in ("all", "short", "question", "long"):
        if name in search:
            s = search[name]
            lines.append(f"  search {name:<9} n={s['n']:<4} p50 {s['p50_ms']:>6} ms  p90 {s['p90_ms']:>6}  "
                         f"p99 {s['p99_ms']:>6}  max {s['max_ms']:>6}")  # fmt: skip
    lines.append(f"  engine share p50 {search['engine_p50_ms']} ms; answer {search['answer_bytes_median']} bytes "
                 f"(median); hits {search['queries_with_hits']}")  # fmt: skip
    bare = report["search_no_lines"]
    lines.append(f"  search without lines: p50 {bare['all']['p50_ms']} ms (engine {bare['engine_p50_ms']} ms), "
                 f"p90 {bare['all']['p90_ms']}, answer {bare['answer_bytes_median']} bytes")  # fmt: skip
    for tool in ("symbols", "related", "status"):
        s = report[tool]
        lines.append(f"  {tool:<8} n={s['n']:<4} p50 {s['p50_ms']:>6} ms  p90 {s['p90_ms']:>6}  errors {s['errors']}")
    for sample in search["samples"]:
        lines.append(f"  sample {sample['query']!r} -> {sample['top']}")
    verdict = "PASS" if report["target_met"] else "FAIL"
    lines.append(f"  target: warm search p50 <= {SEARCH_P50_TARGET_MS} ms: {verdict}")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tree", type=Path)
    parser.add_argument("--index-dir", type=Path, help="Index location (default: a temporary directory).")
    parser.add_argument("--repeat", type=int, default=10, help="Timed passes over the queries (default 10).")
    parser.add_argument("--check-interval", type=float, help="Pass --check-interval to the server.")
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.tree = args.tree.resolve()
    bench = _bench_module()
    kind = bench.corpus_kind(args.tree)
    queries = bench.builtin_queries(args.tree, kind)
    with tempfile.TemporaryDirectory(prefix="atlas-bench-mcp-") as scratch:
        args.index_dir = (args.index_dir or Path(scratch) / "index").resolve()
        ensure_index(args.tree, args.index_dir)
        with (Path(scratch) / "server-stderr.log").open("w") as errlog:
            report = anyio.run(run_session, args, queries, kind, errlog)
    report.update(
        load_average=[round(x, 2) for x in os.getloadavg()], tree=str(args.tree), corpus=kind,
        date=time.strftime("%Y-%m-%d"), machine=bench.machine_info(),
        checkout=bench.checkout_info(), command=shlex.join([sys.executable, *sys.argv]),
        target_met=report["search"]["all"]["p50_ms"] <= SEARCH_P50_TARGET_MS,
    )  # fmt: skip
    print(json.dumps(report, indent=2) if args.json else human(report), end="" if not args.json else "\n")
    return 0 if report["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
