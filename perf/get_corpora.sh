#!/usr/bin/env bash
# Fetch the benchmark corpora used by perf/ into a destination directory.
#
#   perf/get_corpora.sh [DEST]      (default: ${ATLAS_CORPORA:-/tmp/atlas-corpora})
#
# Produces:
#   DEST/django/  Django's source distribution (from PyPI, via pip), unpacked
#   DEST/linux/   the Linux kernel source from Debian's linux-source package
#
# Idempotent: a corpus whose directory already exists is left alone (delete it
# to fetch again). Each corpus is built in a temporary directory and renamed
# into place only when complete. Downloads are cached in DEST/.downloads.
# Needs: pip, tar, xz; for linux: apt-get, apt-cache, dpkg-deb (Debian).
set -euo pipefail

dest=${1:-${ATLAS_CORPORA:-/tmp/atlas-corpora}}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
dl="$dest/.downloads"
mkdir -p "$dl"

log() { echo "get_corpora: $*" >&2; }
# Remove this run's half-built directories if it stops early.
cleanup() { rm -rf "$dest/django.tmp.$$" "$dest/linux.tmp.$$" "$dest/.linux-deb.tmp.$$"; }
trap cleanup EXIT

# ---------------------------------------------------------------- django ----
get_django() {
  local out="$dest/django"
  if [ -d "$out" ]; then
    log "django: $out exists, skipping"
    return 0
  fi
  local sdist
  sdist=$(find "$dl" -maxdepth 1 \( -iname 'django-*.tar.gz' -o -iname 'Django-*.tar.gz' \) -print -quit)
  if [ -z "$sdist" ]; then
    log "django: downloading sdist with pip"
    # pip picks the newest Django that supports the running Python.
    pip download --quiet --no-binary :all: --no-deps django -d "$dl" >&2
    sdist=$(find "$dl" -maxdepth 1 \( -iname 'django-*.tar.gz' -o -iname 'Django-*.tar.gz' \) -print -quit)
  fi
  if [ -z "$sdist" ]; then
    log "django: no sdist found in $dl after pip download"
    return 1
  fi
  log "django: extracting $(basename "$sdist")"
  local tmp="$out.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  tar -xzf "$sdist" -C "$tmp" --strip-components=1
  mv "$tmp" "$out"
}

# ----------------------------------------------------------------- linux ----
# Name of the versioned source package (e.g. linux-source-6.1), or empty.
linux_pkg_name() {
  local name
  name=$(apt-cache depends linux-source 2>/dev/null \
    | sed -n 's/^ *Depends: *\(linux-source-[0-9][^ ]*\).*/\1/p' | head -n1)
  if [ -z "$name" ]; then
    name=$(apt-cache search --names-only '^linux-source-[0-9]' 2>/dev/null \
      | awk '{print $1}' | sort -V | tail -n1)
  fi
  printf '%s' "$name"
}

get_linux() {
  local out="$dest/linux"
  if [ -d "$out" ]; then
    log "linux: $out exists, skipping"
    return 0
  fi
  local deb
  deb=$(find "$dl" -maxdepth 1 -name 'linux-source-*.deb' -print -quit)
  if [ -z "$deb" ]; then
    local pkg
    pkg=$(linux_pkg_name)
    if [ -z "$pkg" ]; then
      log "linux: package lists lack linux-source, running apt-get update"
      apt-get update -qq >&2
      pkg=$(linux_pkg_name)
    fi
    if [ -z "$pkg" ]; then
      log "linux: cannot find a linux-source-<version> package"
      return 1
    fi
    log "linux: downloading $pkg"
    # apt-get download writes to the current directory; run it from $dl.
    # (As root, apt drops to the _apt user, which may not write there: the
    # "unsandboxed" notice it prints then is harmless.)
    (cd "$dl" && apt-get download -q "$pkg" >&2) || {
      log "linux: apt-get download failed, retrying after apt-get update"
      apt-get update -qq >&2
      (cd "$dl" && apt-get download -q "$pkg" >&2)
    }
    deb=$(find "$dl" -maxdepth 1 -name 'linux-source-*.deb' -print -quit)
  fi
  if [ -z "$deb" ]; then
    log "linux: no linux-source .deb in $dl"
    return 1
  fi
  log "linux: unpacking $(basename "$deb")"
  local tmp="$out.tmp.$$" debx="$dest/.linux-deb.tmp.$$"
  rm -rf "$tmp" "$debx"
  mkdir -p "$tmp" "$debx"
  dpkg-deb -x "$deb" "$debx"
  local txz
  txz=$(find "$debx/usr/src" -maxdepth 1 -name 'linux-source-*.tar.xz' -print -quit)
  if [ -z "$txz" ]; then
    log "linux: no usr/src/linux-source-*.tar.xz inside $(basename "$deb")"
    rm -rf "$tmp" "$debx"
    return 1
  fi
  log "linux: extracting $(basename "$txz")"
  tar -xJf "$txz" -C "$tmp" --strip-components=1
  # Debian's packaging appends "/*" + "!/debian/" to the top-level .gitignore, which (with git's
  # semantics) ignores the whole kernel tree. Drop that block so the corpus is the kernel as upstream has it.
  sed -i '/^# Debian packaging/,$d' "$tmp/.gitignore"
  rm -rf "$debx"
  mv "$tmp" "$out"
}

get_django
get_linux

# --------------------------------------------------------------- summary ----
echo "corpora in $dest:"
for c in django linux; do
  [ -d "$dest/$c" ] || continue
  size=$(du -sh "$dest/$c" | cut -f1)
  files=$(find "$dest/$c" -type f | wc -l)
  printf '  %-7s %8s %8d files' "$c" "$size" "$files"
  if [ "$c" = linux ]; then
    printf ' (%d .c, %d .h)' \
      "$(find "$dest/$c" -type f -name '*.c' | wc -l)" \
      "$(find "$dest/$c" -type f -name '*.h' | wc -l)"
  fi
  printf '\n'
done
