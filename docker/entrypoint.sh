#!/bin/sh
# Entry point of the Atlas container; also runs as is outside Docker (CI tests it that way).
#
#   entrypoint.sh index            index $ATLAS_ROOT into $ATLAS_INDEX_DIR within $ATLAS_MEMORY
#   entrypoint.sh search QUERY...  search that index
#   entrypoint.sh ANY-ATLAS-COMMAND ...
#
# Environment: ATLAS_ROOT (default /repo), ATLAS_INDEX_DIR (default /index), ATLAS_MEMORY
# (default 1G), ATLAS_JOBS (default: all cores), ATLAS_REQUIRE_MOUNT=1 (set by the image: ATLAS_ROOT
# must be on a mounted filesystem, not the image's own empty /repo).
#
# Before atlas starts, and without writing anything: the repository must be there, mounted and not
# empty (exit 2), and the index directory writable by this user for commands that write it (exit 2).
set -eu

: "${ATLAS_ROOT:=/repo}"
: "${ATLAS_INDEX_DIR:=/index}"
: "${ATLAS_MEMORY:=1G}"
export ATLAS_ROOT ATLAS_INDEX_DIR

# The mounted repository belongs to another user: let git read it without writing any config.
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0='*'

MOUNT_HINT="mount the repository, e.g. docker run -v \"\$PWD:/repo:ro\" ..."

fail() {  # fail MESSAGE HINT: one sentence and a hint on stderr, exit 2 (usage error)
  echo "atlas-entrypoint: $1" >&2
  echo "  hint: $2" >&2
  exit 2
}

# True when $1 (an absolute, resolved path) lies on a mount other than the container's root filesystem.
# mountinfo writes a space, tab, newline or backslash in a mount point as \040, \011, \012 or \134; the path
# goes through the environment, as awk -v would read escapes in it too.
on_a_mount() {
  [ -r /proc/self/mountinfo ] || return 0
  MOUNT_DIR=$1 awk '
    function unescape(s) { gsub(/\\040/, " ", s); gsub(/\\011/, "\t", s); gsub(/\\012/, "\n", s); gsub(/\\134/, "\\", s); return s }
    { point = unescape($5); dir = ENVIRON["MOUNT_DIR"] }
    point != "/" && (dir == point || index(dir, point "/") == 1) { found = 1 }
    END { exit !found }' /proc/self/mountinfo
}

check_repository() {
  [ -d "$ATLAS_ROOT" ] || fail "$ATLAS_ROOT is not a directory" "$MOUNT_HINT"
  resolved=$(cd "$ATLAS_ROOT" && pwd -P)
  if [ "${ATLAS_REQUIRE_MOUNT:-}" = 1 ] && ! on_a_mount "$resolved"; then
    fail "$ATLAS_ROOT is not mounted, so there is nothing to index (the index in $ATLAS_INDEX_DIR is left as is)" \
      "$MOUNT_HINT"
  fi
  [ -n "$(ls -A "$ATLAS_ROOT" 2>/dev/null)" ] \
    || fail "$ATLAS_ROOT is empty or unreadable, so there is nothing to index" \
      "$MOUNT_HINT; check that the host directory is the repository and readable by uid $(id -u)"
}

# The index directory, or the nearest existing directory above it, must accept a new file from this user.
check_index_writable() {
  dir=$ATLAS_INDEX_DIR
  while [ ! -d "$dir" ] && [ "$dir" != / ]; do dir=$(dirname "$dir"); done
  probe=$(mktemp "$dir/.atlas-write-test.XXXXXX" 2>/dev/null) && rm -f "$probe" && return 0
  uid=$(id -u)
  owner=$(stat -c %u "$dir" 2>/dev/null || echo '?')
  if [ "$uid" = 0 ] || [ "$uid" = "$owner" ]; then
    fail "$dir is read-only, so the index cannot be written" \
      "mount it writable, e.g. docker run -v atlas-index:/index ... (without :ro)"
  fi
  fail "$dir is not writable by uid $uid (it belongs to uid $owner), so the index cannot be written" \
    "run as its owner with docker run --user $owner:$(stat -c %g "$dir") ..., or chown -R $uid the host directory"
}

# The index directory a command's own --index-dir (or --out) names: atlas takes the last one given, and the one it
# writes is the one to check. Sets index_arg ("" when none is given).
find_index_arg() {
  index_arg=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --index-dir=*|--out=*) index_arg=${1#*=} ;;
      --index-dir|--out) [ $# -gt 1 ] && { index_arg=$2; shift; } ;;
      --) break ;;
    esac
    shift
  done
}

ATLAS=${ATLAS_BIN:-atlas}
# atlas's global options may come before the command (`docker run IMAGE -q index`): kept, and passed on first.
flags=""
config=""
while [ $# -gt 0 ]; do
  case "$1" in
    -q|--quiet|-v|--verbose|--no-color) flags="$flags $1" ;;
    --config=*) config=$1 ;;
    --config) [ $# -gt 1 ] || break; config="--config=$2"; shift ;;
    *) break ;;
  esac
  shift
done
command=${1:-index}
[ $# -gt 0 ] && shift
find_index_arg "$@"
if [ -n "$index_arg" ]; then
  case "$index_arg" in /*) ;; *) index_arg=$(pwd)/$index_arg ;; esac
  ATLAS_INDEX_DIR=$index_arg
fi

case "$command" in
  -h|--help|--version|describe) ;;
  export|import) ;;  # they read or write the index only
  *) check_repository ;;
esac
case "$command" in
  index|import|quick|mcp) check_index_writable ;;
  search) [ -e "$ATLAS_INDEX_DIR/CURRENT" ] || check_index_writable ;;  # the first search builds the index
esac

case "$command" in
  index)
    # shellcheck disable=SC2086  # $flags: fixed option words
    exec $ATLAS $flags ${config:+"$config"} index "$ATLAS_ROOT" --index-dir "$ATLAS_INDEX_DIR" \
      --memory "$ATLAS_MEMORY" --jobs "${ATLAS_JOBS:-0}" "$@" ;;
  *)
    # shellcheck disable=SC2086
    exec $ATLAS $flags ${config:+"$config"} "$command" "$@" ;;
esac
