"""Links: a file the issue links into the repository is where its reporter points.

An issue may name several files (a dotted path it imports, a traceback's outer frames) and link one: a code host's
URL of the file (`…/blob/main/shop/pricing.py#L12`) or "line 12 of shop/pricing.py". The `linked` signal ranks the
linked files; the other names still count as path mentions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas.config import IndexConfig
from tests.ranking.searching import indexed_with_filler, top_paths

CART = """\
class Cart:
    '''A shopping cart: its items and what they cost.'''

    def total(self):
        return apply_discount(sum(item.price for item in self.items), self.discount)
"""

PRICING = """\
def rounded(amount):
    '''Money rounded to cents.'''
    return round(amount, 2)


def apply_discount(total, discount):
    '''Less the rate, in cents.'''
    return rounded(total * (1 - discount))
"""

TITLE = "Cart total is wrong when a discount applies"
BODY = (
    "Using `shop.cart.Cart`, the total of a cart with a discount of 10% is off by a cent: the items cost 9.99 and "
    "the cart total says 8.98, where the discount should give 8.99."
)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> IndexConfig:
    return indexed_with_filler(Path(tmp_path_factory.mktemp("linked")) / "repo", {
        "shop/cart.py": CART,
        "shop/pricing.py": PRICING,
        "shop/checkout.py": "from shop.cart import Cart\n\ndef pay(cart: Cart):\n    return cart.total()\n",
    })  # fmt: skip


@pytest.mark.parametrize("pointer", [
    "I think the bug is here: https://github.com/acme/shop/blob/4f2a9c1/shop/pricing.py#L6",
    "It looks like line 6 of shop/pricing.py rounds before it should.",
    "See https://gitlab.com/acme/shop/-/blob/main/shop/pricing.py?ref_type=heads#L6",
])  # fmt: skip
def test_the_linked_file_comes_first(config: IndexConfig, pointer: str) -> None:
    assert top_paths(config, f"{TITLE}\n\n{BODY} {pointer}")[0] == "shop/pricing.py"


def test_without_the_link_the_named_module_comes_first(config: IndexConfig) -> None:
    assert top_paths(config, f"{TITLE}\n\n{BODY}")[0] == "shop/cart.py"
    linked = f"{TITLE}\n\n{BODY} https://github.com/acme/shop/blob/main/shop/pricing.py#L6"
    assert top_paths(config, linked, linked=0)[0] == "shop/cart.py"


def test_a_link_into_another_project_sharing_only_a_file_name_changes_nothing(config: IndexConfig) -> None:
    query = f"{TITLE}\n\n{BODY} https://github.com/other/lib/blob/main/src/deep/pricing.py#L6"
    assert top_paths(config, query) == top_paths(config, query, linked=0)
