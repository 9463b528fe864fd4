"""Frozen, validated configuration shared by the CLI, the MCP server and the library.

`IndexConfig.index_hash()` covers only what changes the bytes of an index, so a changed
hash means a rebuild and anything else does not.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import orjson

from atlas.errors import InputError, UsageError
from atlas.safe_read import quoted_value

FORMAT_VERSION = 3
"""On-disk index format; a change rebuilds every index (`rebuild_reason` names it).

1: tantivy fields path/fid/filename/symbols/content/language/role + side store.
2: `atlas.terms` tokens: acronym plurals and versions (`URLs`, `SSLv3Error`) split as words; the
   filename and symbols fields hold each token's stem beside it; CJK runs are character bigrams.
   NUL-separated side-store paths, skip reasons and settings remembered (index_schema/README.md).
3: commit words (per-file words of commit messages in history.json and as side-store postings).
"""

PARSE_VERSION = 8
"""What the parsers make of a file (languages parsed, definitions found, roles); a change rebuilds every index
on its next `atlas index`, while searches keep reading it (the format is the same).

1: the first 19 languages (an index without `parse_version` in its manifest).
2: Haskell, OCaml, Julia, R, Perl, Objective-C, MATLAB, Erlang, Clojure and Zig definitions; imports of Haskell,
   Perl, Julia, R, Zig, Erlang, Clojure and Objective-C; the `<script>` elements of Vue and Svelte components.
3: Groovy, Solidity, F#, Fortran, PowerShell, Nim, CUDA, Protocol Buffers and GraphQL definitions; imports of
   all but F# and GraphQL; `tst/`, `integrationtests/` and `unittests/` hold tests.
4: C# and Swift files list the types they use (`=Name`), which resolve to the files named after them; build
   scripts (`build.ps1`, `build.cake`, `make.bat`) are the build role.
5: helpers only tests use are the test role (`testutil.rs`, `TestUtils.java`, `testutil/`, `__mocks__/`).
6: a `.h` header is C++ or Objective-C when its first 4 KiB say so (a namespace, a class, `@interface`), else C.
7: words are read in their composed Unicode form (NFC): a decomposed `résumé` (NFD) is one word, not `re sume`.
8: a file with a UTF-16 byte order mark is text, not binary; Git LFS pointer files are skipped (`lfs_pointer`).
"""

DEFAULT_INDEX_DIRNAME = ".atlas"
DEFAULT_MAX_FILE_BYTES = 1 << 20
DEFAULT_MAX_LINE_LENGTH = 4000
MAX_FILE_BYTES = 1 << 30
"""The largest size cap a file (or a line) can be given: a file is read whole into memory to be parsed."""
MAX_JOBS = 1024
MAX_HISTORY_COMMITS = 1 << 31


@dataclass(frozen=True, slots=True)
class FieldBoosts:
    """Per-field query boosts (BM25F-like). Stored with the index as its default."""

    filename: float = 5.0
    symbols: float = 3.0
    content: float = 1.0

    def as_dict(self) -> dict[str, float]:
        """Return the boosts keyed by tantivy field name."""
        return {"filename": self.filename, "symbols": self.symbols, "content": self.content}


REMEMBERED_SETTINGS = (
    "max_file_bytes", "max_line_length", "git_history", "history_commits", "history_since",
    "history_half_life_days", "cochange_max_files",
)  # fmt: skip
"""IndexConfig fields that change what is indexed: an index remembers them, later runs reuse them."""


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """What an index build needs to know."""

    root: Path
    index_dir: Path
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_line_length: int = DEFAULT_MAX_LINE_LENGTH
    jobs: int = 0
    boosts: FieldBoosts = field(default_factory=FieldBoosts)
    git_history: bool = True
    history_commits: int | None = 10_000
    history_since: str | None = None
    history_half_life_days: float = 90.0
    history_backend: str = "git"
    cochange_max_files: int = 50
    memory_bytes: int = 1 << 30
    file_settings: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """The config file's [index] values this config was made from; the manifest keeps them (see `atlas.api`)."""
    explicit: frozenset[str] | None = field(default=None, compare=False)
    """Settings given as flags, which the index's remembered settings never replace; None: all of them."""

    def __post_init__(self) -> None:
        for name, rule in INDEX_RULES.items():
            object.__setattr__(self, name, rule(f"index setting {name}", getattr(self, name)))
        for name in ("filename", "symbols", "content"):
            finite_number(f"index setting boosts.{name}", getattr(self.boosts, name))

    @property
    def workers(self) -> int:
        """Parse processes to start: --jobs, or every core."""
        return self.jobs or os.cpu_count() or 1

    def settings(self) -> dict[str, Any]:
        """The settings that shape the index (REMEMBERED_SETTINGS) by name: what its manifest remembers."""
        return {name: getattr(self, name) for name in REMEMBERED_SETTINGS}

    def index_hash(self) -> str:
        """Hash of the settings that change what is indexed; a change forces a rebuild."""
        relevant = {"format": FORMAT_VERSION, "boosts": asdict(self.boosts), **self.settings()}
        import hashlib

        return hashlib.sha256(orjson.dumps(relevant, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


MAX_COUNT = 100_000
"""The largest count a search or selection setting takes (`candidates`, `query_terms`, `--top`): each sizes what
a search allocates."""


def whole_of(text: str) -> int | None:
    """The whole number `text` writes as a count may be given (`8`, `8.0`, `1e3`, `1_000`), or None."""
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number.is_integer() else None


def whole_number(what: str, value: object, minimum: int, maximum: int | None = None) -> int:
    """`value` as an int in [minimum, maximum]; an integral float (5.0, as JSON and TOML may give) counts.

    Anything else (a fraction, text, a boolean, nan) is a UsageError naming `what` and what is allowed.
    """
    allowed = f"a whole number of at least {minimum}" + (f" and at most {maximum:,}" if maximum else "")
    given = value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum and value > maximum):
        raise UsageError(f"{what} must be {allowed}, not {quoted_value(given)}",
                         "fix the value, or leave it out for the default")  # fmt: skip
    return value


def finite_number(
    what: str, value: object, minimum: float = 0.0, above: bool = False, maximum: float | None = None
) -> float:
    """`value` as a finite float of at least `minimum` (over it with `above`) and at most `maximum`; nan,
    infinities, text and booleans are UsageErrors naming `what`."""
    number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    too_big = number and maximum is not None and value > maximum  # type: ignore[operator]
    if not number or too_big or value < minimum or (above and value == minimum):  # type: ignore[operator]
        allowed = f"{'above' if above else 'of at least'} {minimum:g}"
        allowed += f" and at most {maximum:g}" if maximum is not None else ""
        raise UsageError(f"{what} must be a finite number {allowed}, not {quoted_value(value)}",
                         "fix the value, or leave it out for the default")  # fmt: skip
    return float(value)  # type: ignore[arg-type]


def _optional(rule: Callable[[str, object], object]) -> Callable[[str, object], object]:
    return lambda what, value: None if value is None else rule(what, value)


def _boolean(what: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"{what} must be true or false, not {quoted_value(value)}")
    return value


def _backend(what: str, value: object) -> str:
    if value not in ("git", "pydriller"):
        raise UsageError(f"{what} must be git or pydriller, not {quoted_value(value)}")
    return str(value)


INDEX_RULES: dict[str, Callable[[str, object], object]] = {
    "max_file_bytes": lambda what, value: whole_number(what, value, 1, MAX_FILE_BYTES),
    "max_line_length": lambda what, value: whole_number(what, value, 1, MAX_FILE_BYTES),
    "jobs": lambda what, value: whole_number(what, value, 0, MAX_JOBS),
    "git_history": _boolean,
    "history_commits": _optional(lambda what, value: whole_number(what, value, 1, MAX_HISTORY_COMMITS)),
    "history_since": _optional(lambda what, value: check_git_date(what, value)),
    "history_half_life_days": lambda what, value: finite_number(what, value, 0.0, above=True),
    "history_backend": _backend,
    "cochange_max_files": lambda what, value: whole_number(what, value, 1, MAX_COUNT),
    "memory_bytes": lambda what, value: whole_number(what, value, 1, 1 << 50),
}
"""How each IndexConfig setting is checked and normalised (5.0 → 5), wherever it comes from."""


def still_valid(remembered: dict[str, Any]) -> dict[str, Any]:
    """The REMEMBERED_SETTINGS among `remembered` (a manifest's `settings`) that pass their rule today, normalised.

    A value that fails is not remembered, so the index reads as built with other settings (a rebuild names the
    change) rather than every command failing on it: a relative `history_since` the clock has carried out of
    git's dates ('56 years ago', a year on), or a hand-edited or damaged manifest's text, nan or negative number.
    """
    valid: dict[str, Any] = {}
    for name in REMEMBERED_SETTINGS:
        if name in remembered:
            try:
                valid[name] = INDEX_RULES[name](name, remembered[name])
            except UsageError:
                continue
    return valid


def remembered_boosts(table: object) -> dict[str, float]:
    """The field boosts a manifest remembers (`boosts`, the index's default for searches), each checked as the
    config file's are; FieldBoosts' default for any that is missing or fails. A manifest without them (hand-edited,
    or damaged) made every search match no field, so "no results" while status called the index fresh; one naming
    another field, or holding text, was an unexpected error."""
    defaults = FieldBoosts().as_dict()
    if not isinstance(table, dict):
        return defaults
    boosts: dict[str, float] = {}
    for name, default in defaults.items():
        try:
            boosts[name] = finite_number(name, table.get(name, default))
        except UsageError:
            boosts[name] = default
    return boosts


_RELATIVE_DATE = re.compile(  # ASCII digits, at most five: git reads other digits, or a count that overflows, as now
    r"(?:\d{1,5}(?: +|\.)(?:second|minute|hour|day|week|month|year)s?(?: +ago|\.ago)?|yesterday|now)",
    re.IGNORECASE | re.ASCII,
)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})? ?(?:Z|[+-]\d{2}:?\d{2})?)?", re.ASCII)
"""Also git's own form, a space before the offset (`2024-01-01 12:00:00 +0100`, as `git log --date=iso` prints)."""


GIT_DATES = (date(1970, 1, 2), date(2099, 12, 31))
"""The days git reads a date of as meant: it reads `1969-12-31` as 2012-12-31, `2100-01-01` as this year's first of
January, and a relative date reaching before 1970 (`57 years ago`) as the far future."""

_Date = TypeVar("_Date", str, date, datetime)

_UNIT_DAYS = {"second": 1 / 86400, "minute": 1 / 1440, "hour": 1 / 24, "day": 1, "week": 7, "month": 31, "year": 366}
"""Days in each unit of a relative date, the longest a month or year can be: a span is never taken for shorter than
git reads it."""


def check_git_date(what: str, text: object) -> str:
    """`text` if it is a date `git log --since` reads as meant: an ISO date (`2024-01-01`, `2024-01-01T10:00Z`)
    or a relative one (`2 weeks ago`, `90.days`, `yesterday`), within GIT_DATES.

    git reads anything else (`garbage`, `soon`, `12345`) as "now" without a word and mines nothing, so
    only these forms are allowed. A TOML date or date-time (`history_since = 2024-01-01`, unquoted) is its ISO
    form.
    """
    if isinstance(text, datetime):  # git's dates hold whole seconds: a fraction would not pass the ISO form below
        return _within_git_dates(what, text, text.date()).replace(microsecond=0).isoformat()
    if isinstance(text, date):
        return _within_git_dates(what, text, text).isoformat()
    if isinstance(text, str) and _RELATIVE_DATE.fullmatch(text.strip()):
        today = date.today()
        return _within_git_dates(what, text, today - timedelta(days=min(_relative_days(text), today.toordinal() - 1)))
    if isinstance(text, str) and _ISO_DATE.fullmatch(text.strip()):
        try:
            when = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" +", "+").replace(" -", "-"))
        except ValueError:
            pass
        else:
            return _within_git_dates(what, text, when.date())
    raise UsageError(
        f"{what} must be an ISO date (2024-01-01) or a relative one (2 weeks ago), not {quoted_value(text)}",
        "git would read it as now and mine no history",
    )


def _relative_days(text: str) -> float:
    """How many days back the relative date `text` (one `_RELATIVE_DATE` matches) reaches, at most."""
    counted = re.match(r"(\d+)[ .]+([a-z]+?)s?\b", text.strip().lower(), re.ASCII)
    return int(counted[1]) * _UNIT_DAYS[counted[2]] if counted else 1  # `yesterday`, `now`


def _within_git_dates(what: str, value: _Date, day: date) -> _Date:
    """`value`, whose day is `day`, when git reads it as meant (GIT_DATES); else UsageError."""
    first, last = GIT_DATES
    if first <= day <= last:
        return value
    raise UsageError(f"{what} {quoted_value(value if isinstance(value, str) else str(value))} is a day git misreads: "
                     f"it reads only dates from {first.year} to {last.year}",
                     "give a date in that range, or leave it out to mine the whole history")  # fmt: skip


MIN_MEMORY_BYTES = 64 << 20
"""The smallest memory budget an index build takes."""


def parse_size(text: str, source: str = "--memory") -> int:
    """Bytes in a size such as 1G, 512M, 64k or 1000000; UsageError naming `source` (the flag or the environment
    variable it came from) when it is no size or under MIN_MEMORY_BYTES."""
    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    number, unit = text.strip().lower().rstrip("ib"), ""
    if number and number[-1] in units:
        number, unit = number[:-1], number[-1]
    try:
        value = int(float(number) * units[unit])
    except (ValueError, OverflowError):
        raise UsageError(f"{source} {quoted_value(text)} is not a size",
                         "use a number with k, M or G, e.g. 1G") from None  # fmt: skip
    if value < MIN_MEMORY_BYTES:
        raise UsageError(f"{source} {quoted_value(text)} is below the 64M minimum", "give the indexer at least 64M")
    return value


def memory_from_environment() -> int | None:
    """The memory budget $ATLAS_MEMORY gives (`--memory`'s value when the flag is not given); None when it is unset
    or empty. Read by Atlas itself, not only by the container's entry point: a Kubernetes pod running
    `docker/recipes/shard.sh` sets it too."""
    text = os.environ.get("ATLAS_MEMORY")
    return parse_size(text, "ATLAS_MEMORY") if text else None


def home_expanded(path: str | Path) -> Path:
    """`path` with a leading `~` or `~user` expanded; InputError when that home directory cannot be told (no such
    user, no HOME, a HOME that is empty or relative)."""
    text = str(path)
    if text == "~" or text.startswith("~/"):
        return user_home(f"{path}: cannot tell your home directory", "spell the path out in full") / text[2:]
    try:
        return Path(path).expanduser()
    except RuntimeError as err:
        raise InputError(f"{path}: cannot tell that user's home directory", "spell the path out in full") from err


def user_home(problem: str = "cannot tell your home directory", hint: str = "set HOME to it") -> Path:
    """This user's home directory: $HOME, else the password database's entry. InputError (`problem`, `hint`) when
    HOME is set but empty or relative, which Python would read as `/` or as a directory below the current one."""
    home = os.environ.get("HOME")
    if home is not None and not os.path.isabs(home):
        raise InputError(f"{problem}: HOME is {quoted_value(home)}, not an absolute path", hint)
    try:
        return Path.home()
    except (RuntimeError, KeyError) as err:  # no HOME and no password entry for this uid
        raise InputError(f"{problem}: HOME is not set and this user has no entry in the password database",
                         hint) from err  # fmt: skip


def resolve_index_dir(root: Path, index_dir: str | Path | None) -> Path:
    """The index directory: explicit value, else $ATLAS_INDEX_DIR, else `<root>/.atlas`."""
    chosen = index_dir or os.environ.get("ATLAS_INDEX_DIR")
    if not chosen:
        refuse_own_link_out(root / DEFAULT_INDEX_DIRNAME, root)
        return root / DEFAULT_INDEX_DIRNAME
    try:
        return home_expanded(chosen).resolve()
    except (RuntimeError, OSError) as err:  # a loop of symbolic links (RuntimeError before Python 3.13)
        raise InputError(f"{chosen}: the index directory's path cannot be resolved ({err})",
                         "pass a directory, or a path that does not exist yet") from err  # fmt: skip


def refuse_own_link_out(index_dir: Path, root: Path) -> None:
    """InputError when `index_dir` is the repository's own `.atlas` and a link that leads out of the repository: a
    clone may ship `.atlas` as a link to another repository's index directory, which a build there would replace
    (or to any directory Atlas may take), and which a search there would answer from (the other repository's file
    names and definitions). An index elsewhere is named with --index-dir, never by the tree. A link that leads to no
    directory is left to `atlas.index.store.ensure_index_dir`, which says so."""
    own = index_dir.parent == root and index_dir.name == DEFAULT_INDEX_DIRNAME
    if not own or not index_dir.is_symlink() or not index_dir.exists():
        return
    target = Path(os.path.realpath(index_dir))
    if target.is_relative_to(os.path.realpath(root)):
        return
    raise InputError(
        f"{index_dir} is a symbolic link to {target}, outside the repository, and Atlas neither reads nor writes an "
        "index through it",
        f"remove the link, or pass --index-dir {target} to use the index there",
    )


CONFIG_FILENAME = "atlas.toml"


def load_config_file(root: Path, explicit: str | Path | None = None) -> dict[str, dict[str, object]]:
    """Settings from `--config FILE`, $ATLAS_CONFIG, or `<root>/atlas.toml` (first found; {} if none).

    Sections: `[index]` (IndexConfig fields), `[search]` (preset, limit) and `[search.weights]`
    (FusionWeights fields, `prior.<role>`). Command-line flags override the file.
    """
    chosen = explicit or os.environ.get("ATLAS_CONFIG")
    path = home_expanded(chosen) if chosen else root / CONFIG_FILENAME
    if not path.is_file():
        if chosen:
            found = "is not a regular file" if path.exists() else "config file not found"
            raise UsageError(f"{path}: {found}", "pass an existing file with --config")
        return {}
    import tomllib  # only when there is a file: ~2 ms of every search otherwise
    try:
        # utf-8-sig: editors on Windows start the file with a byte order mark, which TOML itself does not allow
        data = tomllib.loads((_read_given_file(path) if chosen else _read_repository_file(root)).decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"{path}: the config file is not valid TOML ({err})", "fix or remove it") from err
    except RecursionError as err:  # tomllib nests a call per level: `a = [[[[...` hundreds deep
        raise UsageError(f"{path}: the config file is not valid TOML (nested too deeply)", "fix or remove it") from err
    unknown = set(data) - {"index", "search"}
    if unknown:
        raise UsageError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}", "use [index] and [search]")
    return _checked(path, data)


CONFIG_MAX_BYTES = 1 << 20


def _read_given_file(path: Path) -> bytes:
    """The config file given by --config or $ATLAS_CONFIG, at most CONFIG_MAX_BYTES (a 2 GB file was read whole)."""
    from atlas.safe_read import read_regular_file

    data = read_regular_file(os.fspath(path), CONFIG_MAX_BYTES + 1)
    if len(data) > CONFIG_MAX_BYTES:
        raise UsageError(f"{path}: the config file is over {CONFIG_MAX_BYTES} bytes", "fix it, or pass another")
    return data


def _read_repository_file(root: Path) -> bytes:
    """The repository's own atlas.toml, read only from inside `root` (a link out of it is a UsageError); one byte
    over CONFIG_MAX_BYTES tells a file over it, whatever its size says (a FUSE file's may say 100 bytes: taken for its
    length, it cut the file at the cap, and its tail went unread)."""
    from atlas.safe_read import Refused, read_in_root

    path = root / CONFIG_FILENAME
    try:
        data, _ = read_in_root(root, CONFIG_FILENAME, CONFIG_MAX_BYTES + 1)
    except Refused as err:
        raise UsageError(f"{path}: the repository's config file is not read ({err.why})",
                         "replace the link with the file, or pass the file with --config") from err  # fmt: skip
    if len(data) > CONFIG_MAX_BYTES:
        raise UsageError(f"{path}: the config file is over {CONFIG_MAX_BYTES} bytes", "fix or remove it")
    return data


PRESET_NAMES = ("fast", "balanced", "deep", "thorough")
SEARCH_SETTINGS = ("preset", "limit", "weights")
MAX_LIMIT = 10_000


def _checked(path: Path, data: dict[str, object]) -> dict[str, dict[str, object]]:
    """`data` with every known value checked and normalised; the error names the file and the key."""
    sections: dict[str, dict[str, object]] = {}
    for name in ("index", "search"):
        section = data.get(name, {})
        if not isinstance(section, dict):
            raise UsageError(f"{path}: [{name}] must be a table, not {quoted_value(section)}",
                             f"write it as a [{name}] section")  # fmt: skip
        sections[name] = dict(section)
    index, search = sections["index"], sections["search"]
    unknown = sorted(set(index) - set(INDEX_RULES) - {"boosts"})
    if unknown:
        raise UsageError(f"{path}: unknown [index] setting(s) {', '.join(unknown)}",
                         f"known: {', '.join(sorted(INDEX_RULES))}, boosts")  # fmt: skip
    for key, rule in INDEX_RULES.items():
        if key in index:
            index[key] = rule(f"{path}: [index] {key}", index[key])
    boosts = index.get("boosts")
    if boosts is not None:
        index["boosts"] = _number_table(path, "index.boosts", boosts, ("filename", "symbols", "content"))
    unknown = sorted(set(search) - set(SEARCH_SETTINGS))
    if unknown:
        raise UsageError(f"{path}: unknown [search] setting(s) {', '.join(unknown)}",
                         f"known: {', '.join(SEARCH_SETTINGS)}; ranking weights go under [search.weights]")  # fmt: skip
    if "preset" in search and search["preset"] not in PRESET_NAMES:
        given = quoted_value(search["preset"])
        raise UsageError(f"{path}: [search] preset must be one of {', '.join(PRESET_NAMES)}, not {given}")
    if "limit" in search:
        search["limit"] = whole_number(f"{path}: [search] limit", search["limit"], 1, MAX_LIMIT)
    if "weights" in search:
        search["weights"] = _number_table(path, "search.weights", _dotted(search["weights"]))
    return sections


def _dotted(table: object) -> object:
    """`table` with each inner table's keys joined to its own (`prior.docs = 1` is TOML for {"prior": {"docs": 1}},
    as `[search.weights.prior]` is): the weight named `"prior.docs"`."""
    if not isinstance(table, dict):
        return table
    flat: dict[str, object] = {}
    for key, value in table.items():
        inner = value.items() if isinstance(value, dict) else [("", value)]
        flat.update({f"{key}.{name}" if name else key: item for name, item in inner})
    return flat


def _number_table(path: Path, name: str, table: object, keys: tuple[str, ...] | None = None) -> dict[str, float]:
    """A TOML table of finite, non-negative numbers (names checked against `keys` when given)."""
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [{name}] must be a table of NAME = NUMBER, not {quoted_value(table)}",
                         f"write it as a [{name}] section")  # fmt: skip
    unknown = sorted(set(table) - set(keys)) if keys else []
    if unknown:
        raise UsageError(f"{path}: unknown [{name}] key(s) {', '.join(unknown)}", f"known: {', '.join(keys or ())}")
    return {key: finite_number(f"{path}: [{name}] {key}", value) for key, value in table.items()}
