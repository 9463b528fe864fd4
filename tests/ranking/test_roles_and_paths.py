"""Ranking failure classes decided by what a file is: unparsed source languages, generated bundles.

Each case is a small generated repository where the file an issue is about competes with a file of
another kind that matches the issue's words as well or better.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from atlas.api import index_config, index_repo, open_engine
from atlas.query.engine import SearchOptions


def ranking(repo: Path, query: str) -> list[str]:
    config = index_config(repo, jobs=1, git_history=False)
    index_repo(config, show_progress=False)
    engine = open_engine(config, build_if_missing=False)
    return [hit.path for hit in engine.search(query, SearchOptions(limit=10, with_lines=False)).hits]


def _filler(count: int) -> Mapping[str, str]:
    """Unrelated modules, so that BM25's statistics look like a real repository's."""
    return {f"shop/module_{i}.py": f"def helper_{i}(value):\n    return value + {i}\n" for i in range(count)}


def test_a_protobuf_schema_outranks_python_that_only_uses_its_names(make_repo: Callable[..., Path]) -> None:
    repo = make_repo({
        **_filler(30),
        "proto/refunds.proto": (
            "syntax = \"proto3\";\n\nmessage RefundRequest {\n  string order_id = 1;\n  int64 amount = 2;\n}\n\n"
            "message RefundReply {\n  bool accepted = 1;\n}\n\nservice Refunds {\n"
            "  rpc Refund (RefundRequest) returns (RefundReply);\n}\n"
        ),
        "shop/client.py": (
            "from proto import refunds_pb2\n\n\ndef send(stub, order_id, amount):\n"
            "    request = refunds_pb2.RefundRequest(order_id=order_id, amount=amount)\n"
            "    return stub.Refund(request).accepted\n"
        ),
    }, git=False)  # fmt: skip

    top = ranking(repo, "RefundRequest message needs a currency field next to amount")

    assert top[0] == "proto/refunds.proto", top


def test_a_bundle_built_into_dist_ranks_below_its_source(make_repo: Callable[..., Path]) -> None:
    source = (
        "export function formatPrice(amount, currency) {\n"
        "  return new Intl.NumberFormat('en', { style: 'currency', currency }).format(amount);\n}\n"
    )
    bundle = "(function(){\n" + source.replace("export ", "") * 3 + "window.formatPrice = formatPrice;\n})();\n"
    repo = make_repo({**_filler(30), "web/src/price.js": source, "web/dist/app.js": bundle}, git=False)

    top = ranking(repo, "formatPrice shows the wrong currency symbol")

    assert top[0] == "web/src/price.js", top
    assert top.index("web/dist/app.js") > 0


def test_a_file_named_after_a_common_word_of_the_issue_does_not_beat_the_feature(
    make_repo: Callable[..., Path],
) -> None:
    repo = make_repo({
        **_filler(30),
        "shop/errors.py": "class ShopError(Exception):\n    pass\n\n\nclass PaymentError(ShopError):\n    pass\n",
        "shop/checkout.py": (
            "from shop.errors import PaymentError\n\n\ndef apply_coupon(cart, coupon):\n"
            "    if coupon.expired:\n        raise PaymentError('coupon expired')\n"
            "    cart.total -= coupon.discount\n\n\ndef checkout(cart, coupon=None):\n"
            "    if coupon is not None:\n        apply_coupon(cart, coupon)\n    return cart.total\n"
        ),
    }, git=False)  # fmt: skip

    top = ranking(repo, "Errors when applying an expired coupon at checkout\n\nThe errors are confusing: "
                        "applying a coupon that expired gives a discount anyway, no errors shown.")

    assert top[0] == "shop/checkout.py", top


def test_a_vendored_copy_ranks_below_the_project_module(make_repo: Callable[..., Path]) -> None:
    module = (
        "def parse_retry_after(header):\n    return int(header)\n\n\n"
        "def backoff(attempt):\n    return 2 ** attempt\n"
    )
    repo = make_repo({
        **_filler(30),
        "shop/http/retry.py": module,
        "shop/_vendor/urllib3/util/retry.py": module * 3 + "\n# parse_retry_after backoff retry\n",
    }, git=False)  # fmt: skip

    top = ranking(repo, "parse_retry_after fails when Retry-After holds a date; backoff retries too fast")

    assert top[0] == "shop/http/retry.py", top


RETRY = "def parse_retry_after(header):\n    return int(header)\n\n\ndef backoff(attempt):\n    return 2 ** attempt\n"
RETRY_REPORT = "parse_retry_after fails when Retry-After holds a date; backoff retries too fast"


def test_a_copy_the_repository_marks_linguist_vendored_ranks_below_the_project_module(
    make_repo: Callable[..., Path],
) -> None:
    # Nothing in `shop/compat/` says vendored to the path priors; the project's .gitattributes says it, as GitHub
    # reads it. Without the attributes the bigger copy wins.
    files = {**_filler(30), "shop/http/retry.py": RETRY,
             "shop/compat/requests_retry.py": RETRY * 3 + "\n# parse_retry_after backoff retry\n"}  # fmt: skip
    repo = make_repo(files)
    assert ranking(repo, RETRY_REPORT)[0] == "shop/compat/requests_retry.py"

    (repo / ".gitattributes").write_text("shop/compat/** linguist-vendored\n")  # then an update, not a rebuild

    assert ranking(repo, RETRY_REPORT)[0] == "shop/http/retry.py"


def test_a_vendor_directory_the_repository_unmarks_is_its_own_code(make_repo: Callable[..., Path]) -> None:
    # `-linguist-vendored`: the project's own code in a directory named like a vendored one. Without it the path
    # prior weighs `vendor/` down, below a file that only names the words.
    files = {**_filler(30), "vendor/retry.py": RETRY,
             "shop/notes.py": "# parse_retry_after: Retry-After, backoff retries\nNOTES = 1\n"}  # fmt: skip
    assert ranking(make_repo(files, name="plain"), RETRY_REPORT)[0] == "shop/notes.py"

    unmarked = make_repo({**files, ".gitattributes": "vendor/** -linguist-vendored\n"}, name="unmarked")

    assert ranking(unmarked, RETRY_REPORT)[0] == "vendor/retry.py"


def test_a_file_the_repository_marks_linguist_generated_is_generated(make_repo: Callable[..., Path]) -> None:
    files = {**_filler(30), "shop/http/retry.py": RETRY,
             "shop/http/retry_client.py": RETRY * 3 + "\n# parse_retry_after backoff retry\n"}  # fmt: skip
    assert ranking(make_repo(files, name="plain"), RETRY_REPORT)[0] == "shop/http/retry_client.py"

    marked = make_repo({**files, ".gitattributes": "*_client.py linguist-generated=true\n"}, name="marked")

    assert ranking(marked, RETRY_REPORT)[0] == "shop/http/retry.py"
