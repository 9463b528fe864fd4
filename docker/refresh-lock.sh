#!/usr/bin/env bash
# Regenerate docker/requirements.lock: the exact versions pip resolves today for `atlas[mcp]` (and the
# setuptools that builds it) in the image's own Python, Debian bookworm's python3 in a venv.
#
#   docker/refresh-lock.sh            # from the repository root; needs Docker and the package registries
#
# The image installs only what the lock names (docker/Dockerfile), so a rebuild gives the same versions
# (and the same `atlas cache-key`) until this script is run again and its diff committed.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCKER=${DOCKER:-docker}
BASE=$(sed -n 's/^FROM \([^ ]*\) AS runtime$/\1/p' docker/Dockerfile)
[ -n "$BASE" ] || { echo "refresh-lock: no 'FROM ... AS runtime' line in docker/Dockerfile" >&2; exit 3; }

lock=$(mktemp)
trap 'rm -f "$lock"' EXIT
$DOCKER run --rm --network=host -v "$PWD:/src:ro" "$BASE" sh -euc '
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv >/dev/null
  cp -r /src/pyproject.toml /src/README.md /src/atlas /tmp/ && mkdir /tmp/build && cd /tmp
  python3 -m venv /tmp/venv
  /tmp/venv/bin/pip install -q --no-cache-dir --disable-pip-version-check "setuptools>=68" >&2
  /tmp/venv/bin/pip install -q --no-cache-dir --disable-pip-version-check --no-build-isolation "/tmp[mcp]" >&2
  /tmp/venv/bin/pip freeze --all --exclude pip --exclude atlas
' >"$lock"
grep -q '^tantivy==' "$lock" || { echo "refresh-lock: pip freeze gave no tantivy pin" >&2; exit 3; }
{
  echo "# Exact versions installed in the container image; regenerate with docker/refresh-lock.sh."
  cat "$lock"
} >docker/requirements.lock
echo "docker/requirements.lock: $(grep -c '==' docker/requirements.lock) pins" >&2
