"""A small multi-language git repository whose obvious answers are known, for integration tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

FILES: dict[str, str] = {
    "README.md": "# Shop\n\nA toy shop service used by the tests. See docs/payments.md for payments.\n",
    "docs/payments.md": "# Payments\n\nRefunds go through the payment gateway; see the refund flow.\n",
    "shop/__init__.py": "",
    "shop/cart.py": (
        '"""Shopping cart."""\n\nfrom shop.pricing import apply_discount\n\n\n'
        "class ShoppingCart:\n    def __init__(self):\n        self.items = []\n\n"
        "    def add_item(self, sku, quantity=1):\n        self.items.append((sku, quantity))\n\n"
        "    def total(self, prices):\n        subtotal = sum(prices[s] * q for s, q in self.items)\n"
        "        return apply_discount(subtotal)\n"
    ),
    "shop/pricing.py": (
        "DISCOUNT_THRESHOLD = 100\n\n\ndef apply_discount(amount):\n"
        '    """Ten percent off large orders."""\n    if amount > DISCOUNT_THRESHOLD:\n'
        "        return amount * 0.9\n    return amount\n"
    ),
    "shop/payments/gateway.py": (
        "import hmac\n\n\nclass PaymentGateway:\n    def charge_card(self, token, amount):\n"
        "        return {'token': token, 'amount': amount}\n\n"
        "    def refund_payment(self, charge_id):\n        return {'refunded': charge_id}\n\n\n"
        "def verify_webhook_signature(secret, body, signature):\n"
        "    return hmac.compare_digest(hmac.new(secret, body, 'sha256').hexdigest(), signature)\n"
    ),
    "tests/test_cart.py": (
        "from shop.cart import ShoppingCart\n\n\ndef test_total():\n    cart = ShoppingCart()\n"
        "    cart.add_item('a', 2)\n    assert cart.total({'a': 10}) == 20\n"
    ),
    "web/src/router.ts": (
        "import { renderInvoice } from './invoice';\n\nexport function routeRequest(path: string): string {\n"
        "  if (path.startsWith('/invoice')) {\n    return renderInvoice(path);\n  }\n  return 'not found';\n}\n"
    ),
    "web/src/invoice.ts": (
        "export interface InvoiceLine { description: string; cents: number }\n\n"
        "export function renderInvoice(path: string): string {\n  return `<h1>Invoice ${path}</h1>`;\n}\n"
    ),
    "services/inventory/stock.go": (
        "package inventory\n\nimport \"sync\"\n\n// StockLedger tracks warehouse stock levels.\n"
        "type StockLedger struct {\n\tmu sync.Mutex\n\tlevels map[string]int\n}\n\n"
        "func (l *StockLedger) Reserve(sku string, n int) bool {\n\tl.mu.Lock()\n\tdefer l.mu.Unlock()\n"
        "\tif l.levels[sku] < n {\n\t\treturn false\n\t}\n\tl.levels[sku] -= n\n\treturn true\n}\n"
    ),
    "native/src/checksum.rs": (
        "/// CRC32 over a byte slice.\npub fn crc32_checksum(data: &[u8]) -> u32 {\n"
        "    let mut crc = 0xFFFF_FFFFu32;\n    for b in data {\n        crc ^= *b as u32;\n    }\n    !crc\n}\n"
    ),
    "native/compress/lz_window.c": (
        "#include <string.h>\n\nstatic int lz_find_match(const char *window, int len) {\n"
        "    return (int)strnlen(window, len);\n}\n"
    ),
    "scripts/deploy.sh": "#!/bin/bash\nset -e\n\ndeploy_release() {\n  rsync -a build/ server:/srv/shop\n}\n",
    "config/settings.yaml": "database:\n  host: localhost\n  pool_size: 5\n",
}

OBVIOUS_ANSWERS: list[tuple[str, str]] = [
    ("shopping cart add item", "shop/cart.py"),
    ("apply discount threshold", "shop/pricing.py"),
    ("verify webhook signature", "shop/payments/gateway.py"),
    ("refundPayment", "shop/payments/gateway.py"),
    ("route request invoice", "web/src/router.ts"),
    ("StockLedger reserve", "services/inventory/stock.go"),
    ("crc32 checksum", "native/src/checksum.rs"),
    ("lz find match window", "native/compress/lz_window.c"),
    ("deploy release rsync", "scripts/deploy.sh"),
    ("database pool size", "config/settings.yaml"),
]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Atlas Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Atlas Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_AUTHOR_DATE": "2024-01-01T12:00:00Z",
    "GIT_COMMITTER_DATE": "2024-01-01T12:00:00Z",
}


def git(root: Path, *args: str) -> str:
    """Run git in `root` with a fixed identity and dates."""
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True)
    return done.stdout


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    """Write `files` (path → text or bytes) under `root`."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def make_shop_repo(root: Path) -> Path:
    """Write FILES under `root` and commit them in a fresh git repository."""
    root.mkdir(parents=True, exist_ok=True)
    write_files(root, dict(FILES))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root
