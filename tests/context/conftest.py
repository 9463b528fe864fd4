"""Fixtures for context selection: small repositories whose right answers are known."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from referencing import Registry, Resource

from atlas.cli import cli
from tests.conftest import indexed_repo
from tests.generated_repo import make_shop_repo

SCHEMAS = Path(__file__).resolve().parents[2] / "index_schema"


def validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator for the schema file `name` of index_schema/."""
    schemas = [json.loads(p.read_text()) for p in SCHEMAS.glob("*.json") if "$id" in p.read_text()]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    return jsonschema.Draft202012Validator(json.loads((SCHEMAS / name).read_text()), registry=registry)


def big_module(functions: int = 60, body_lines: int = 12) -> str:
    """A Python module of many similar functions; only `parse_invoice_total` talks about invoices."""
    parts = ['"""A module that is too big to include whole."""\n\nimport os\n\n']
    for i in range(functions):
        name = "parse_invoice_total" if i == functions // 2 else f"helper_{i}"
        body = "".join(f"    value_{j} = os.path.join('a', 'b{j}')\n" for j in range(body_lines))
        extra = "    invoice_total = sum(line.cents for line in invoice.lines)\n" if "invoice" in name else ""
        parts.append(f'def {name}(invoice):\n    """Step {i}."""\n{extra}{body}    return value_0\n\n\n')
    parts.append("class LedgerBook:\n    def balance(self):\n        return 0\n")
    return "".join(parts)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated shop repository, indexed."""
    root = make_shop_repo(tmp_path_factory.mktemp("shop"))
    result = CliRunner().invoke(cli, ["-q", "index", str(root), "--format", "json"])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with one big module (chunked under small budgets) and a few small files, indexed."""
    return indexed_repo(tmp_path_factory.mktemp("billing") / "repo", {
        "billing/invoices.py": big_module(),
        "billing/__init__.py": "",
        "billing/currency.py": "def to_cents(amount):\n    return round(amount * 100)\n",
        "docs/invoices.md": "# Invoices\n\nHow invoice totals are computed.\n",
        "README.md": "# Billing\n",
    })  # fmt: skip
