"""`atlas search --index A --index B`: one ranking over several repositories' indexes, each hit naming its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from atlas.cli import cli
from atlas.query.federated import RepositoryHits, merge_rankings
from atlas.records import Hit
from tests.conftest import init_repo, write_tree
from tests.test_cli import _validator

BILLING = {
    "billing/invoices.py": (
        "class InvoiceBook:\n    def issue_invoice(self, customer, cents):\n        return (customer, cents)\n\n"
        "    def void_invoice(self, number):\n        return number\n"
    ),
    "billing/refunds.py": (
        "def refund_payment(charge_id, cents):\n    \"\"\"Refund part of a captured payment.\"\"\"\n"
        "    return {'charge': charge_id, 'refunded': cents}\n"
    ),
    "billing/refund_policy.py": "def refund_window_days(payment):\n    return 30 if payment else 0\n",
    "billing/ledger.py": "def post_entry(account, cents):\n    return (account, cents)\n",
    "docs/billing.md": "# Billing\n\nInvoices are issued monthly; a refund voids part of a payment.\n",
}
STOREFRONT = {
    "web/checkout.ts": (
        "export function checkoutCart(cart: string[]): number {\n  return cart.length;\n}\n\n"
        "export function payment(total: number): string {\n  return `paid ${total}`;\n}\n"
    ),
    "web/cart.ts": (
        "export class Cart {\n  items: string[] = [];\n  addItem(sku: string) { this.items.push(sku); }\n}\n"
    ),
    "web/refund_button.test.ts": "test('refund button', () => {\n  expect(refundButton()).toContain('refund');\n});\n",
    "README.md": "# Storefront\n\nThe web shop: cart, checkout and payment pages.\n",
}


def _indexed(root: Path, files: dict[str, str], *flags: str) -> Path:
    write_tree(root, files)
    init_repo(root)
    done = CliRunner().invoke(cli, ["-q", "index", str(root), "--format", "json", *flags])
    assert done.exit_code == 0, done.output
    return root


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two repositories of one organisation, each with its index; `storefront` without git history."""
    base = tmp_path_factory.mktemp("org")
    _indexed(base / "billing", BILLING)
    _indexed(base / "storefront", STOREFRONT, "--no-history")
    return base


def _search(*args: str) -> list[dict]:
    done = CliRunner().invoke(cli, ["search", "--format", "jsonl", *args])
    assert done.exit_code == 0, done.output
    return [json.loads(line) for line in done.stdout.splitlines()]


def _both(org: Path) -> list[str]:
    return ["--index", str(org / "billing"), "--index", str(org / "storefront")]


def test_each_hit_names_its_repository_and_the_best_answer_wins_in_either(org: Path) -> None:
    refund = _search(*_both(org), "refund payment")
    assert (refund[0]["repository"], refund[0]["path"]) == ("billing", "billing/refunds.py")
    assert {hit["repository"] for hit in refund} == {"billing", "storefront"}
    checkout = _search(*_both(org), "checkout cart")
    assert (checkout[0]["repository"], checkout[0]["path"]) == ("storefront", "web/checkout.ts")
    assert [hit["rank"] for hit in checkout] == list(range(1, len(checkout) + 1))


def test_records_keep_the_versioned_schema(org: Path) -> None:
    validator = _validator("hit.v1.schema.json")
    for hit in _search(*_both(org), "--explain", "refund payment"):
        validator.validate(hit)
    done = CliRunner().invoke(cli, ["search", *_both(org), "--format", "json", "invoice"])
    assert done.exit_code == 0, done.output
    record = json.loads(done.stdout)
    _validator("search.v1.schema.json").validate(record)
    assert record["documents"] == len(BILLING) + len(STOREFRONT)


def test_indexes_merge_by_rank_not_by_their_incomparable_scores(org: Path) -> None:
    """storefront has no git history, so its fused scores lack the recency term and run lower: merged
    by raw score, its best answer would trail billing's second; merged by rank (RRF over each index's
    ranks) it comes right after billing's first."""
    alone = {
        name: _search("--index", str(org / name), "--explain", "refund payment") for name in ("billing", "storefront")
    }
    assert alone["storefront"][0]["path"] == "web/checkout.ts"
    assert not any(term["signal"] == "recency" for term in alone["storefront"][0]["explain"])
    assert alone["storefront"][0]["explain"][-1]["raw"] < alone["billing"][1]["explain"][-1]["raw"]
    merged = _search(*_both(org), "--explain", "refund payment")
    assert [(hit["repository"], hit["path"]) for hit in merged[:3]] == [
        ("billing", "billing/refunds.py"),
        ("storefront", "web/checkout.ts"),
        ("billing", "billing/refund_policy.py"),
    ]
    own_ranks = [hit["explain"][-1]["rank"] for hit in merged]
    assert own_ranks == sorted(own_ranks)
    assert [hit["score"] for hit in merged] == sorted((hit["score"] for hit in merged), reverse=True)


def test_one_index_ranks_as_a_plain_search_of_it(org: Path) -> None:
    plain = _search("--repo", str(org / "billing"), "invoice refund")
    one = _search("--index", str(org / "billing"), "invoice refund")
    assert [hit["path"] for hit in one] == [hit["path"] for hit in plain]
    assert {hit["repository"] for hit in one} == {"billing"}
    assert all("repository" not in hit for hit in plain)


def test_files_only_prints_paths_under_each_repository_as_given(org: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(org)
    done = CliRunner().invoke(cli, ["search", "-l", "--index", "billing", "--index", "storefront", "refund"])
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert lines[0] == "billing/billing/refunds.py"
    assert "storefront/web/refund_button.test.ts" in lines
    assert all((org / line).is_file() for line in lines)


def test_human_listing_tags_each_hit_with_its_repository(org: Path) -> None:
    done = CliRunner().invoke(cli, ["search", "--format", "human", *_both(org), "checkout cart"])
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[0].startswith("  1. [storefront] web/checkout.ts:1")


def test_atlas_root_and_index_dir_in_the_environment_do_not_stand_in_the_way(
    org: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATLAS_ROOT", str(org / "billing"))
    monkeypatch.setenv("ATLAS_INDEX_DIR", str(org / "billing" / ".atlas"))
    hits = _search(*_both(org), "checkout cart")
    assert (hits[0]["repository"], hits[0]["path"]) == ("storefront", "web/checkout.ts")


def test_repositories_with_the_same_name_are_told_apart_by_their_parent(tmp_path: Path) -> None:
    first = _indexed(tmp_path / "team-a" / "api", BILLING)
    second = _indexed(tmp_path / "team-b" / "api", BILLING)
    hits = _search("--index", str(first), "--index", str(second), "void invoice")
    assert [hit["repository"] for hit in hits[:2]] == ["team-a/api", "team-b/api"]


@pytest.mark.parametrize(
    ("extra", "code", "words"),
    [
        (["--repo", "."], 2, "without --repo"),
        (["--index", "billing"], 2, "given twice"),
        (["--index", "nowhere"], 2, "no such directory"),
        (["--index", "unindexed"], 3, "no index here"),
    ],
)
def test_bad_index_sets_fail_with_one_sentence(
    org: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str], code: int, words: str
) -> None:
    (org / "unindexed").mkdir(exist_ok=True)
    monkeypatch.chdir(org)
    done = CliRunner().invoke(cli, ["search", "--index", "billing", *extra, "refund"])
    assert done.exit_code == code, done.output
    assert words in done.stderr
    assert "hint:" in done.stderr
    assert done.stdout == ""


def test_merge_breaks_equal_ranks_by_the_own_score_then_by_the_order_given() -> None:
    def hits(*scores: float) -> list[Hit]:
        return [Hit(f"f{rank}.py", score, rank, "python", "impl") for rank, score in enumerate(scores, 1)]

    rankings = [RepositoryHits("a", hits(0.3, 0.2)), RepositoryHits("b", hits(0.5, 0.1))]
    rankings.append(RepositoryHits("c", hits(0.3)))
    merged = merge_rankings(rankings, limit=4)
    order = [(hit.repository, hit.path) for hit in merged]
    assert order == [("b", "f1.py"), ("a", "f1.py"), ("c", "f1.py"), ("a", "f2.py")]
    assert merged[0].score == merged[2].score > merged[3].score


def test_regression_a_repository_name_with_control_characters_prints_as_escapes(tmp_path: Path) -> None:
    # The human table printed `[name]` raw: a newline split the hit's line, an escape sequence reached the terminal.
    zebra = {"zebra.py": "def zebra_stripes():\n    pass\n"}
    roots = [_indexed(tmp_path / name, zebra) for name in ("odd\nrepo", "esc\x1b[31mred")]
    result = CliRunner().invoke(cli, ["-q", "search", *(f"--index={root}" for root in roots), "--format", "human",
                                      "--no-color", "--no-lines", "zebra stripes"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "[odd\\nrepo] zebra.py" in result.stdout and "[esc\\x1b[31mred] zebra.py" in result.stdout
    assert "\x1b" not in result.stdout


def test_regression_a_repository_atlas_dir_linking_out_of_it_is_not_searched_through_index(
    org: Path, tmp_path: Path
) -> None:
    # `search --index CLONE` answered from the index a clone's `.atlas` links to, another repository's (its file
    # names and definitions), which `search --repo CLONE` and every other command refuse.
    clone = tmp_path / "clone"
    write_tree(clone, {"a.py": "def attacker(): pass\n"})
    (clone / ".atlas").symlink_to(org / "billing" / ".atlas", target_is_directory=True)
    init_repo(clone)
    done = CliRunner().invoke(cli, ["search", "--index", str(clone), "--index", str(org / "storefront"), "refund"])
    assert done.exit_code == 2, done.output
    assert "outside the repository" in done.stderr and "hint: remove the link and run `atlas index" in done.stderr
    assert "--index-dir" not in done.stderr  # which does not go with --index
    assert "billing" not in done.stdout and "refund" not in done.stdout.lower()


def test_regression_an_index_given_as_a_loop_of_links_is_a_usage_error(org: Path, tmp_path: Path) -> None:
    # `search --index LOOP` was "unexpected error: RuntimeError: Symlink loop" (exit 3, "report it").
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    done = CliRunner().invoke(cli, ["search", "--index", str(tmp_path / "loop1"), "--index", str(org / "storefront"),
                                    "refund"])  # fmt: skip
    assert done.exit_code == 2, done.output
    assert "cannot be resolved" in done.stderr and "hint: pass --index a repository directory" in done.stderr
