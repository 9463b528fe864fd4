"""A generated repository with git history in which each ranking signal decides one query.

Commits are dated so recency and co-change are deterministic. `CASES` names, per query, the
file that should come out on top (or at all) and the signal without which it does not.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

BASE_TIME = 1_700_000_000
DAY = 86_400

FILES: dict[str, str] = {
    "ledger/__init__.py": "",
    "ledger/billing.py": (
        "from ledger.money import Money\n\n\ndef compute_invoice_total(lines):\n"
        '    """Sum the invoice lines into an invoice total."""\n'
        "    return Money(sum(line.cents for line in lines))\n"
    ),
    "ledger/migrations/0007_columns.sql": "ALTER TABLE charges ADD COLUMN cents integer;\n",
    "ledger/rates.py": (
        "from ledger.money import Money\n\n\ndef convert_rate(amount, rate):\n"
        '    """Exchange rate conversion."""\n    return Money(amount.cents * rate)\n'
    ),
    "tests/test_rates.py": (
        "from ledger.rates import convert_rate\n\n\n"
        "def test_exchange_rate_conversion():\n    # exchange rate conversion: rate conversion of an exchange\n"
        "    assert convert_rate  # exchange rate conversion exchange rate conversion\n\n\n"
        "def test_exchange_rate_conversion_rounding():\n    # exchange rate conversion again\n    pass\n"
    ),
    "ledger/export.py": (
        "from ledger.csv_sink import CsvSink\n\n\ndef export_ledger(entries, sink):\n"
        "    for entry in entries:\n        sink.emit(entry)\n"
    ),
    "ledger/csv_sink.py": "class CsvSink:\n    def emit(self, record):\n        print(record)\n",
    "ledger/report.py": (
        "def write_rows(rows, column):\n    # write rows for each column; a missing column raises KeyError\n"
        "    for row in rows:\n        print(row[column])  # write the column of the row\n"
    ),
    "ledger/reconcile.py": (
        "def reconcile_accounts(books):\n    return all(book.ok for book in books)\n"
    ),
    "ledger/audit.py": (
        "from ledger.reconcile import reconcile_accounts\n\n\ndef audit(books):\n"
        "    # the balance drifts when reconcile_accounts fails; reconcile_accounts again\n"
        "    if not reconcile_accounts(books):\n        raise ValueError('balance drifts')\n"
    ),
    "ledger/cache_a.py": "def evict(entries):\n    # cache eviction policy\n    return entries[-10:]\n",
    "ledger/cache_b.py": "def evict(entries):\n    # cache eviction policy\n    return entries[-10:]\n",
    "archive/money.py": "class Money:\n    # money amount rounding\n    cents = 0\n",
    "archive/export.py": (
        "def export_ledger(rows, column):\n    # export ledger: write rows per column, KeyError on a missing column\n"
        "    return [row[column] for row in rows]\n"
    ),
    "ledger/money.py": "class Money:\n    # money amount rounding\n    cents = 0\n",
    "ledger/tax.py": "from ledger.money import Money\n\n\ndef tax(m):\n    return Money(m.cents // 10)\n",
    "ledger/fees.py": "from ledger.money import Money\n\n\ndef fee(m):\n    return Money(5)\n",
    "ledger/refunds.py": "from ledger.money import Money\n\n\ndef refund(m):\n    return Money(-m.cents)\n",
}


@dataclass(frozen=True, slots=True)
class Case:
    """A query, the file it is about, and the signals whose removal must hurt that file."""

    name: str
    query: str
    target: str
    needs: tuple[str, ...]
    without_priors: bool = False


CASES: tuple[Case, ...] = (
    Case("bm25", "compute invoice total", "ledger/billing.py", ()),
    Case("role_prior", "exchange rate conversion", "ledger/rates.py", (), without_priors=True),
    Case(
        "path_mention",
        'Traceback (most recent call last):\n  File "/home/u/app/ledger/export.py", line 4, in export_ledger\n'
        "KeyError: write rows column",
        "ledger/export.py",
        ("path_mention",),
    ),
    Case("cochange", "compute invoice total", "ledger/migrations/0007_columns.sql", ("cochange",)),
    Case("recency", "cache eviction policy", "ledger/cache_b.py", ("recency",)),
    Case("import_graph", "money amount rounding", "ledger/money.py", ("pagerank", "imports")),
    Case("imports", "export entries", "ledger/csv_sink.py", ("imports",)),
)


def _commit(root: Path, message: str, day: int) -> None:
    stamp = f"@{BASE_TIME + day * DAY} +0000"
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp,
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}  # fmt: skip
    for args in (["add", "-A"], ["commit", "-q", "--allow-empty", "-m", message]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


def _touch(root: Path, rel: str, line: str) -> None:
    with open(root / rel, "a", encoding="utf-8") as handle:
        handle.write(line)


def make_history_repo(root: Path) -> Path:
    """Write FILES and a history: billing.py co-changes with the migration; cache_b changed last."""
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True, capture_output=True)
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    _commit(root, "initial", 0)
    for i in range(6):
        _touch(root, "ledger/billing.py", f"# change {i}\n")
        _touch(root, "ledger/migrations/0007_columns.sql", f"-- change {i}\n")
        _commit(root, f"billing change {i}", 10 + i)
    for i in range(5):
        _touch(root, "ledger/cache_a.py", f"# tuning {i}\n")
        _commit(root, f"old cache tuning {i}", 20 + i)
    for i in range(5):
        _touch(root, "ledger/cache_b.py", f"# tuning {i}\n")
        _commit(root, f"cache tuning {i}", 400 + i)
    return root
