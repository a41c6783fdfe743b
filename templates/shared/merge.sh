# gen-pipeline, multi-platform on native runners (POSIX sh; only in pipelines with `runners:`;
# ref.sh, key.sh, the builder's parts and build.sh are above, index.sh below; GitHub's first job
# uses gp_platform_tags only). Inputs (environment): GP_PLATFORM (the one platform of a
# per-platform job: required by gp_platform_tags), GP_BUILDER, GP_SHA, GP_DIGEST_FILE.
# gp_platform_tags: from here on, this shell tags an image of one platform (GP_PLATFORM, also
# kept in gp_pf) of a fanned-out stage: the ref's tags (gp_tagl, from gp_ref) become
# `sha-<full sha>-<os>-<arch>` only, GP_EXTRA_TAGS included, so the image is pushed to that tag
# (plus its key tag) and the ref's tags go to the merge job's index. A tag, not an untagged push
# by digest, so that registry garbage collection cannot delete the image before the merge job
# references it. Mirrors plan::platforms::platform_tag. A job without GP_PLATFORM stops here
# (`:?`) rather than tagging `sha-<sha>-` and building every platform.
gp_platform_tags() {
  gp_pf=${GP_PLATFORM:?gen-pipeline: a per-platform job needs GP_PLATFORM}
  [ -n "${gp_ref_done:-}" ] || gp_ref; _gp_sha "$GP_SHA"
  gp_tagl="sha-${_gp_f:-unknown}-$(printf '%s' "$gp_pf" | LC_ALL=C tr -c '[:alnum:]' '-' | LC_ALL=C tr '[:upper:]' '[:lower:]')"
}
gp_platform_build() { gp_platform_tags; GP_PLATFORMS=$gp_pf gp_build "$@"; } # a per-platform job's gp_build
# gp_merge REPOSITORY@DIGEST...: the index of the per-platform images (gp_index, index.sh) under
# the ref's tags (gp_init's). Writes the index digest to GP_DIGEST_FILE and prints `digest=<digest>`.
gp_merge() {
  gp_init; mkdir -p "$(dirname "$GP_DIGEST_FILE")"
  if [ "${GP_PUSH:-true}" != true ]; then echo "gen-pipeline: nothing pushed, no index"; return 0; fi
  gp_index "$@" || return 1
  echo "digest=$(cat "$GP_DIGEST_FILE")"
}
