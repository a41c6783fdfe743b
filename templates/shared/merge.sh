# gen-pipeline, multi-platform on native runners (POSIX sh; only in pipelines with `runners:`;
# ref.sh, key.sh, the builder's parts and build.sh are above; GitHub's first job uses
# gp_platform_tags only). Inputs (environment): GP_PLATFORM (the one platform of a per-platform
# job), GP_BUILDER, GP_SHA, GP_DIGEST_FILE.
# gp_platform_tags: from here on, this shell tags an image of one platform (GP_PLATFORM) of a
# fanned-out stage: the ref's tags (gp_tagl, from gp_ref) become `sha-<full sha>-<os>-<arch>`
# only, GP_EXTRA_TAGS included, so the image is pushed to that tag (plus its key tag) and the
# ref's tags go to the merge job's index. A tag, not an untagged push by digest, so that registry
# garbage collection cannot delete the image before the merge job references it. Mirrors
# plan::platforms::platform_tag.
gp_platform_tags() {
  [ -n "${gp_ref_done:-}" ] || gp_ref; _gp_sha "$GP_SHA"
  gp_tagl="sha-${_gp_f:-unknown}-$(printf '%s' "$GP_PLATFORM" | LC_ALL=C tr -c '[:alnum:]' '-' | LC_ALL=C tr '[:upper:]' '[:lower:]')"
}
gp_platform_build() { gp_platform_tags; GP_PLATFORMS=$GP_PLATFORM gp_build "$@"; } # a per-platform job's gp_build
# gp_merge REPOSITORY@DIGEST...: one index of the per-platform images, pushed under the ref's
# tags (gp_init's). buildx: `docker buildx imagetools create`; buildah: `manifest create`, `add`
# and `push --all` (the platform images are in the registry already: only the index is written).
# Writes the index digest to GP_DIGEST_FILE and prints `digest=<digest>`.
gp_merge() {
  gp_init; mkdir -p "$(dirname "$GP_DIGEST_FILE")"
  if [ "${GP_PUSH:-true}" != true ]; then echo "gen-pipeline: nothing pushed, no index"; return 0; fi
  if [ "$GP_BUILDER" = buildah ]; then
    gp_login || return 1; gp_ml="gp-merge-$$"; buildah manifest rm "$gp_ml" >/dev/null 2>&1 || true; buildah manifest create "$gp_ml" >/dev/null || return 1
    for gp_s; do buildah manifest add "$gp_ml" "docker://$gp_s" >/dev/null || return 1; done
    for gp_r in $gp_refs; do buildah manifest push --all --digestfile "$GP_DIGEST_FILE" "$gp_ml" "docker://$gp_r" || return 1; done
    buildah manifest rm "$gp_ml" >/dev/null 2>&1 || true
  else
    gp_first=; for gp_r in $gp_refs; do set -- "$@" --tag "$gp_r"; gp_first=${gp_first:-$gp_r}; done
    docker buildx imagetools create "$@" || return 1; gp_digest_of "$gp_first" > "$GP_DIGEST_FILE" || return 1
  fi
  gp_digest=$(cat "$GP_DIGEST_FILE")
  case $gp_digest in sha256:*) echo "digest=$gp_digest" ;; *) echo "gen-pipeline: no index digest for $GP_REPOSITORY" >&2; return 1 ;; esac
}
