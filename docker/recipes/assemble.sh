#!/usr/bin/env bash
# Assemble the N shards built by shard.sh into one index: the step after the Kubernetes Indexed Job
# (kubernetes/assemble-job.yaml) or the GitHub Actions matrix (github-actions/atlas-index.yml).
# Repository-wide signals (imports graph and PageRank, git history and co-change) are computed here, once,
# so REPO must be the same commit the shards were built from, with its git history.
#
#   SHARD_COUNT  N, the number of shards (required)
#   REPO         the repository (default: /repo)
#   SHARDS_DIR   where shard.sh put the shards (default: /shards)
#   INDEX_DIR    the index to publish (default: /index, the container's volume); the previous one stays live
#                until the new one is complete
#   ATLAS        the atlas command (default: atlas)
#
# A missing or foreign shard stops it with one sentence naming the shard (exit 2), publishing nothing.
set -euo pipefail

if [ -z "${SHARD_COUNT:-}" ]; then
  echo "assemble.sh: SHARD_COUNT must be set to the number of shards" >&2
  echo "  hint: e.g. SHARD_COUNT=8 $0" >&2
  exit 2
fi
# Checked before the loop's arithmetic, which would run a command substitution in it and read 08 as octal.
if ! [[ $SHARD_COUNT =~ ^[1-9][0-9]{0,3}$ ]] || ((SHARD_COUNT > 4096)); then
  echo "assemble.sh: SHARD_COUNT=$SHARD_COUNT is not a shard count" >&2
  echo "  hint: give a whole number from 1 to 4096, without leading zeros, the same as the shard jobs got" >&2
  exit 2
fi
read -r -a atlas <<< "${ATLAS:-atlas}"
shards=${SHARDS_DIR:-/shards}
dirs=()
for ((i = 0; i < SHARD_COUNT; i++)); do
  dirs+=("$shards/shard-$i-of-$SHARD_COUNT")
done
exec "${atlas[@]}" index "${REPO:-/repo}" --out "${INDEX_DIR:-/index}" --format json --assemble "${dirs[@]}"
