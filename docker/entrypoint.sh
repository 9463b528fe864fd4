#!/bin/sh
# Entry point of the Atlas container; also runs as is outside Docker (CI tests it that way).
#
#   entrypoint.sh index            index $ATLAS_ROOT into $ATLAS_INDEX_DIR within $ATLAS_MEMORY
#   entrypoint.sh search QUERY...  search that index
#   entrypoint.sh ANY-ATLAS-COMMAND ...
#
# Environment: ATLAS_ROOT (default /repo), ATLAS_INDEX_DIR (default /index), ATLAS_MEMORY
# (default 1G), ATLAS_JOBS (default: all cores).
set -eu

: "${ATLAS_ROOT:=/repo}"
: "${ATLAS_INDEX_DIR:=/index}"
: "${ATLAS_MEMORY:=1G}"
export ATLAS_ROOT ATLAS_INDEX_DIR

# The mounted repository belongs to another user: let git read it without writing any config.
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0='*'

if [ ! -d "$ATLAS_ROOT" ]; then
  echo "atlas-entrypoint: $ATLAS_ROOT is not a directory" >&2
  echo "  hint: mount the repository, e.g. docker run -v \"\$PWD:/repo:ro\" ..." >&2
  exit 2
fi

ATLAS=${ATLAS_BIN:-atlas}
command=${1:-index}
[ $# -gt 0 ] && shift

case "$command" in
  index)
    exec $ATLAS index "$ATLAS_ROOT" --index-dir "$ATLAS_INDEX_DIR" --memory "$ATLAS_MEMORY" \
      --jobs "${ATLAS_JOBS:-0}" "$@" ;;
  *)
    exec $ATLAS "$command" "$@" ;;
esac
