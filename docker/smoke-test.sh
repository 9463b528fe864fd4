#!/usr/bin/env bash
# Build the Atlas image and test it end to end with a real Docker daemon, as a user runs it.
#
#   docker/smoke-test.sh      # from anywhere; needs `docker` working and a Python with the `mcp` package
#
# Checks, each one failing the script (exit 1) with what went wrong:
#   image      runs as uid 10001 under tini, with Debian's Python in a venv, pinned as docker/requirements.lock
#   index      a git repository made here, mounted read-only, indexed as that user with its git history;
#              the repository is left untouched
#   search     finds the expected file; a second `index` on the same volume is "unchanged"
#   git        `--entrypoint atlas` (no entry point script) still mines git history (safe.directory in ENV)
#   export     to a mounted directory, then `import` into a fresh volume, which answers the same search
#   refusals   no /repo mount, an empty /repo, an /index or export directory the user cannot write:
#              exit 2, one sentence and a hint, nothing overwritten
#   mcp        `atlas mcp` over `docker run -i`, driven by the MCP SDK's client (docker/mcp_smoke.py)
#   signals    `docker stop` (SIGTERM) and SIGINT while rebuilding a few thousand files: the container exits
#              within 2 s (143 / 130) and the previous index is intact, or, when the signal came after the new
#              index went live (a fast machine), the hint says so and the new index verifies
#
# Environment: DOCKER (default docker), ATLAS_IMAGE (default atlas:smoke), PYTHON (default the repository's
# .venv/bin/python), SMOKE_SKIP_BUILD=1 reuses an image already built, SMOKE_SIGINT=0 skips the SIGINT
# check. Containers run with --network none; the build uses --network=host to reach the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCKER=${DOCKER:-docker}
IMAGE=${ATLAS_IMAGE:-atlas:smoke}
PYTHON=${PYTHON:-.venv/bin/python}
STOP_LIMIT_MS=2000
BIG_FILES=4000
ID="atlas-smoke-$$"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/atlas-smoke.XXXXXX")
chmod 0755 "$WORK"   # the container's user must reach the repositories mounted from here

step() { echo "== smoke: $*" >&2; }
fail() { echo "SMOKE TEST FAILED: $*" >&2; exit 1; }
cleanup() {
  $DOCKER rm -f "$ID-stop" "$ID-int" >/dev/null 2>&1 || true
  $DOCKER volume rm -f "$ID-index" "$ID-imported" "$ID-plain" "$ID-big" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

run() { $DOCKER run --rm --network none "$@"; }                 # a container, no network
field() {  # field KEY...: the value at KEY... of the JSON document on stdin
  "$PYTHON" -c 'import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1:]:
    value = value[key]
print(value)' "$@"
}
current() { run -v "$ID-$1:/index" --entrypoint cat "$IMAGE" /index/CURRENT; }
expect_refusal() {  # expect_refusal WHAT STDERR-FILE: exit 2 with one "atlas...: sentence" and a hint
  local status=$1 what=$2 err=$3
  [ "$status" = 2 ] || fail "$what: exit $status, expected 2; stderr: $(cat "$err")"
  [ "$(wc -l <"$err")" = 2 ] && grep -q '^atlas[-a-z]*: ' "$err" && grep -q '^  hint: ' "$err" \
    || fail "$what: expected one sentence and a hint, got: $(cat "$err")"
  ! grep -qi -e traceback -e 'unexpected error' "$err" || fail "$what: $(cat "$err")"
}

$DOCKER info >/dev/null 2>&1 || fail "docker does not answer ($DOCKER info failed): start dockerd first"
"$PYTHON" -c 'import mcp' 2>/dev/null || fail "$PYTHON has no mcp package: pip install '.[mcp]'"

if [ "${SMOKE_SKIP_BUILD:-}" != 1 ]; then
  step "build $IMAGE"
  $DOCKER build --network=host -q -f docker/Dockerfile -t "$IMAGE" . >/dev/null || fail "docker build failed"
fi

step "image: user, init, Python, pinned dependencies"
[ "$(run --entrypoint id "$IMAGE" -u)" = 10001 ] || fail "the image does not run as uid 10001"
entrypoint=$($DOCKER image inspect -f '{{join .Config.Entrypoint " "}}' "$IMAGE")
[[ $entrypoint == /usr/bin/tini\ --\ * ]] || fail "the entry point is not under tini: $entrypoint"
run --entrypoint python "$IMAGE" -c 'import sys; assert sys.prefix == "/opt/atlas" and sys.base_prefix == "/usr"' \
  || fail "atlas does not run from a venv over Debian's /usr/bin/python3"
run --entrypoint pip "$IMAGE" freeze --all --exclude pip --exclude atlas --disable-pip-version-check \
  | diff <(grep -v '^#' docker/requirements.lock) - >"$WORK/lock.diff" \
  || fail "installed packages differ from docker/requirements.lock: $(cat "$WORK/lock.diff")"

step "index a read-only git repository as the unprivileged user"
repo="$WORK/repo"
mkdir -p "$repo/shop/payments" "$repo/shop/cart" && cd "$repo"
git init -q && git config user.email smoke@example.com && git config user.name smoke
printf '# Shop\n\nA small repository for the container smoke test.\n' >README.md
printf 'def verify_webhook_signature(payload, signature, secret):\n    """Check a payment webhook."""\n    return signature == secret\n' >shop/payments/gateway.py
git add -A && git commit -qm "payments gateway"
printf 'class Cart:\n    def add_item(self, sku, quantity):\n        return {"sku": sku, "quantity": quantity}\n' >shop/cart/cart.py
printf 'from shop.payments.gateway import verify_webhook_signature\n' >shop/payments/__init__.py
git add -A && git commit -qm "cart"
cd - >/dev/null
chmod -R a+rX "$repo"
before=$(cd "$repo" && find . -printf '%p %s %T@\n' | sort)
mount=(-v "$repo:/repo:ro" -v "$ID-index:/index")
run "${mount[@]}" "$IMAGE" index --format json >"$WORK/index.json" || fail "index exited $?"
[ "$(field files_indexed <"$WORK/index.json")" = 4 ] || fail "indexed: $(cat "$WORK/index.json")"
[ "$(field signals git commits_mined <"$WORK/index.json")" = 2 ] \
  || fail "git history not mined: $(cat "$WORK/index.json")"
[ "$(cd "$repo" && find . -printf '%p %s %T@\n' | sort)" = "$before" ] || fail "indexing changed the repository"

step "search, and a second index run reuses the volume"
top=$(run "${mount[@]}" "$IMAGE" search --format jsonl "verify webhook signature" | head -1 | field path)
[ "$top" = shop/payments/gateway.py ] || fail "search: top hit $top"
[ "$(run "${mount[@]}" "$IMAGE" index --format json | field mode)" = unchanged ] \
  || fail "the second index run was not 'unchanged'"

step "--entrypoint atlas keeps git history (safe.directory set in the image's ENV)"
run -v "$repo:/repo:ro" --entrypoint atlas "$IMAGE" -q index /repo --index-dir /tmp/plain --format json \
  >"$WORK/plain.json" || fail "--entrypoint atlas index exited $?"
[ "$(field signals git commits_mined <"$WORK/plain.json")" = 2 ] \
  || fail "--entrypoint atlas lost git history: $(field signals git <"$WORK/plain.json")"

step "export to a mounted directory, import into a fresh volume"
mkdir -m 1777 "$WORK/out"   # writable by uid 10001 whoever runs this
run "${mount[@]}" -v "$WORK/out:/out" "$IMAGE" export /out/index.tgz --format json >/dev/null || fail "export exited $?"
[ "$(tar -tzf "$WORK/out/index.tgz" | head -1)" = atlas-export.json ] || fail "the exported archive lists no manifest"
run -v "$repo:/repo:ro" -v "$WORK/out:/out:ro" -v "$ID-imported:/index" "$IMAGE" import /out/index.tgz --format json \
  >/dev/null || fail "import exited $?"
top=$(run -v "$repo:/repo:ro" -v "$ID-imported:/index" "$IMAGE" search --format jsonl "add item to cart" \
  | head -1 | field path)
[ "$top" = shop/cart/cart.py ] || fail "search of the imported index: top hit $top"
run -v "$repo:/repo:ro" -v "$ID-imported:/index" "$IMAGE" verify >/dev/null || fail "the imported index fails verify"

step "refusals: exit 2, one sentence and a hint, nothing overwritten"
generation=$(current index)
status=0; run -v "$ID-index:/index" "$IMAGE" index 2>"$WORK/err" >/dev/null || status=$?
expect_refusal "$status" "no /repo mount" "$WORK/err"
grep -q 'not mounted' "$WORK/err" || fail "no /repo mount: $(cat "$WORK/err")"
mkdir "$WORK/empty"
status=0; run -v "$WORK/empty:/repo:ro" -v "$ID-index:/index" "$IMAGE" 2>"$WORK/err" >/dev/null || status=$?
expect_refusal "$status" "an empty /repo" "$WORK/err"
[ "$(current index)" = "$generation" ] || fail "a refused run replaced the index"
top=$(run "${mount[@]}" "$IMAGE" search --format jsonl "verify webhook signature" | head -1 | field path)
[ "$top" = shop/payments/gateway.py ] || fail "after the refusals, search: top hit $top"
mkdir "$WORK/not-mine"   # owned by whoever runs this script, not by uid 10001
status=0; run -v "$repo:/repo:ro" -v "$WORK/not-mine:/index" "$IMAGE" index 2>"$WORK/err" >/dev/null || status=$?
expect_refusal "$status" "an /index owned by another user" "$WORK/err"
grep -q -e '--user' "$WORK/err" && grep -q chown "$WORK/err" || fail "no --user/chown hint: $(cat "$WORK/err")"
[ -z "$(ls -A "$WORK/not-mine")" ] || fail "files were written into the unwritable /index"
status=0; run "${mount[@]}" -v "$WORK/not-mine:/out" "$IMAGE" export /out/index.tgz 2>"$WORK/err" >/dev/null \
  || status=$?
expect_refusal "$status" "export to an unwritable directory" "$WORK/err"

step "atlas mcp over docker run -i, with the MCP SDK client"
"$PYTHON" docker/mcp_smoke.py -- $DOCKER run --rm -i --network none "${mount[@]}" "$IMAGE" mcp \
  || fail "the MCP session failed"

step "docker stop and SIGINT while indexing $BIG_FILES files"
big="$WORK/big"
mkdir -p "$big" && cd "$big"
git init -q && git config user.email smoke@example.com && git config user.name smoke
printf 'def retry_budget(attempts):\n    return attempts * 2\n' >budget.py && git add -A && git commit -qm budget
cd - >/dev/null
chmod -R a+rX "$big"
bigmount=(-v "$big:/repo:ro" -v "$ID-big:/index")
run "${bigmount[@]}" "$IMAGE" index >/dev/null 2>&1 || fail "indexing the small start of the big repository failed"
generation=$(current big)
"$PYTHON" - "$big" "$BIG_FILES" <<'EOF'
import sys
from pathlib import Path

root, count = Path(sys.argv[1]), int(sys.argv[2])
for i in range(count):
    body = "".join(
        f"def handler_{i}_{j}(request, retries={j}):\n    return [request.get('key_{j}')] * retries\n\n\n"
        f"class Service{i}_{j}:\n    def run(self, job):\n        return handler_{i}_{j}(job)\n\n\n"
        for j in range(12)
    )
    path = root / f"pkg{i // 200:02d}" / f"mod{i:04d}.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"import os\n\n{body}")
    path.chmod(0o644)
    path.parent.chmod(0o755)
EOF

interrupt() {  # interrupt NAME HOW EXPECTED-EXIT: start indexing, signal it while it parses, time the stop
  local name="$ID-$1" how=$2 expected=$3 started stopped elapsed code
  $DOCKER run -d --name "$name" --network none "${bigmount[@]}" "$IMAGE" index --rebuild >/dev/null
  for _ in $(seq 120); do   # parsing has started once the pool's workers run beside the main process
    [ "$($DOCKER top "$name" -o pid,args 2>/dev/null | grep -c 'atlas index')" -ge 2 ] && break
    sleep 0.25
  done
  [ "$($DOCKER top "$name" -o pid,args 2>/dev/null | grep -c 'atlas index')" -ge 2 ] \
    || fail "$1: indexing never reached the parse pool: $($DOCKER logs "$name" 2>&1 | tail -3)"
  sleep 0.2  # into the parse phase, which takes about a second here
  [ "$($DOCKER inspect -f '{{.State.Running}}' "$name")" = true ] \
    || fail "$1: indexing finished before the signal; raise BIG_FILES"
  started=$(date +%s%N)
  case $how in
    stop) $DOCKER stop "$name" >/dev/null ;;
    INT) $DOCKER kill -s INT "$name" >/dev/null && timeout 10 $DOCKER wait "$name" >/dev/null || true ;;
  esac
  stopped=$(date +%s%N)
  elapsed=$(((stopped - started) / 1000000))
  [ "$($DOCKER inspect -f '{{.State.Running}}' "$name")" = false ] \
    || fail "$1: the container still runs ${elapsed} ms after $how: $($DOCKER logs "$name" 2>&1 | tail -2)"
  code=$($DOCKER inspect -f '{{.State.ExitCode}}' "$name")
  said=$($DOCKER logs "$name" 2>&1 | tail -2 | tr '\n' ' ')
  echo "   $how: exit $code after ${elapsed} ms; stderr: $said" >&2
  [ "$elapsed" -le "$STOP_LIMIT_MS" ] || fail "$1: the container took ${elapsed} ms to stop (limit ${STOP_LIMIT_MS})"
  [ "$code" = "$expected" ] || fail "$1: exit $code, expected $expected"
  $DOCKER rm -f "$name" >/dev/null
  if [[ $said == *"was already published"* ]]; then  # a fast build: the signal came after the new index went live
    [ "$(current big)" != "$generation" ] || fail "$1: said the new index was published, but CURRENT did not change"
    status=0; run "${bigmount[@]}" "$IMAGE" verify >/dev/null 2>&1 || status=$?
    [ "$status" = 0 ] || fail "$1: verify of the new index exited $status, expected 0 (intact, up to date)"
    generation=$(current big)
    return
  fi
  [ "$(current big)" = "$generation" ] || fail "$1: the previous index was replaced"
  status=0; run "${bigmount[@]}" "$IMAGE" verify >/dev/null 2>&1 || status=$?
  [ "$status" = 7 ] || fail "$1: verify of the previous index exited $status, expected 7 (intact, out of date)"
  top=$(run "${bigmount[@]}" "$IMAGE" search --format jsonl "retry budget" | head -1 | field path)
  [ "$top" = budget.py ] || fail "$1: the previous index does not answer: top hit $top"
}
interrupt stop stop 143
if [ "${SMOKE_SIGINT:-1}" != 0 ]; then interrupt int INT 130; fi

echo "smoke test passed: $IMAGE ($($DOCKER image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))" >&2
