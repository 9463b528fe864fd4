#!/usr/bin/env bash
# Build one shard of a sharded Atlas index: what each pod of a Kubernetes Indexed Job
# (kubernetes/shards-job.yaml) and each job of a GitHub Actions matrix (github-actions/atlas-index.yml) runs.
#
#   SHARD_COUNT  N, the number of shards (required; the same in every job and in the assemble step)
#   SHARD_INDEX  I, 0 to N-1 (default: $JOB_COMPLETION_INDEX, which Kubernetes sets in each pod of an Indexed Job)
#   REPO         the repository, at the same commit in every job (default: /repo, the container's mount)
#   SHARDS_DIR   where the shard goes, as SHARDS_DIR/shard-I-of-N (default: /shards); assemble.sh reads it
#   ATLAS        the atlas command (default: atlas)
#
# `shard.sh cache-key` prints the shard's CI cache key and restore prefix instead, as `key=…` and `prefix=…`
# lines for $GITHUB_OUTPUT: the key changes only when a file of this shard does.
#
# A shard directory left by an earlier run (a restored CI cache) is brought up to date: unchanged, nothing
# is rebuilt. Killed, the build publishes nothing. The summary (JSON) goes to stdout, progress to stderr.
set -euo pipefail

index=${SHARD_INDEX:-${JOB_COMPLETION_INDEX:-}}
if [ -z "$index" ] || [ -z "${SHARD_COUNT:-}" ]; then
  echo "shard.sh: SHARD_COUNT and SHARD_INDEX (or JOB_COMPLETION_INDEX) must be set" >&2
  echo "  hint: e.g. SHARD_COUNT=8 SHARD_INDEX=0 $0" >&2
  exit 2
fi
# Plain decimals: they name the shard's directory, which assemble.sh names from SHARD_COUNT the same way.
if ! [[ $SHARD_COUNT =~ ^[1-9][0-9]{0,3}$ && $index =~ ^(0|[1-9][0-9]{0,3})$ ]] || ((SHARD_COUNT > 4096)); then
  echo "shard.sh: SHARD_COUNT=$SHARD_COUNT and SHARD_INDEX=$index must be whole numbers without leading zeros," \
    "SHARD_COUNT at most 4096" >&2
  echo "  hint: e.g. SHARD_COUNT=8 SHARD_INDEX=0 $0" >&2
  exit 2
fi
read -r -a atlas <<< "${ATLAS:-atlas}"
if [ "${1:-}" = cache-key ]; then
  lines=$("${atlas[@]}" cache-key --repo "${REPO:-/repo}" --shard "$index/$SHARD_COUNT")  # set -e: atlas's exit code
  { read -r key && read -r prefix; } <<< "$lines"
  printf 'key=%s\nprefix=%s\n' "$key" "$prefix"
  exit
fi
shards=${SHARDS_DIR:-/shards}
mkdir -p "$shards"
exec "${atlas[@]}" index "${REPO:-/repo}" --shard "$index/$SHARD_COUNT" \
  --out "$shards/shard-$index-of-$SHARD_COUNT" --format json
