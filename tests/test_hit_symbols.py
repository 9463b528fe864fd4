"""A hit lists at most MAX_SYMBOLS_PER_HIT matched definitions: the best ones, in file order."""

from __future__ import annotations

from pathlib import Path

from atlas.query.engine import MAX_SYMBOLS_PER_HIT, best_symbols


def test_few_matches_are_kept_as_they_are() -> None:
    names = ("parse_header", "parse_body")
    assert best_symbols(names, {"parse"}) == (names, 0)


def test_many_matches_keep_those_meeting_most_terms_then_the_shortest_in_file_order() -> None:
    noise = tuple(f"parse_generated_value_{i}" for i in range(500))
    names = (*noise[:250], "parse_request_body", *noise[250:], "parse_request")
    kept, omitted = best_symbols(names, {"parse", "request"})
    assert len(kept) == MAX_SYMBOLS_PER_HIT and omitted == len(names) - MAX_SYMBOLS_PER_HIT
    # Both request parsers meet two terms; of the rest, the 18 shortest names (_0 to _17) are kept.
    assert kept == (*noise[:18], "parse_request_body", "parse_request")


def test_regression_a_qualified_sym_filter_keeps_the_files_defining_the_name(tmp_path: Path) -> None:
    # `sym:Server.HandleRequest` filtered on the container's word: it kept types.go (only `type Server`) and left
    # out handler.go, where the method is defined, as Go, Rust impls and C++ methods often are.
    import subprocess
    import sys

    from tests.conftest import init_repo, write_tree

    write_tree(tmp_path, {
        "types.go": "package srv\n\ntype Server struct{ port int }\n",
        "handler.go": "package srv\n\nfunc (s *Server) HandleRequest(path string) error {\n\treturn nil\n}\n",
        "pool.rs": "pub struct Pool;\n", "pool_impl.rs": "impl Pool {\n    pub fn acquire(&self) {}\n}\n",
        "cart.py": "class Cart:\n    def add_item(self, item):\n        pass\n",
        "totals.py": "def cart_total():\n    return 0\n",
    })  # fmt: skip
    init_repo(tmp_path)
    for query, defining in (("sym:Server.HandleRequest", "handler.go"), ("sym:Pool.acquire", "pool_impl.rs"),
                            ("sym:Cart.add_item", "cart.py")):  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "atlas", "-q", "search", "--repo", str(tmp_path), "-l", query],
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0 and done.stdout.splitlines() == [defining], (query, done.stdout, done.stderr)
