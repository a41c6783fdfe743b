# gen-pipeline, multi-platform on native runners (POSIX sh; only in pipelines with `runners:`;
# ref.sh, policy.sh, key.sh, the builder's part and build.sh are above). Inputs (environment):
# GP_PLATFORM (the one platform of a per-platform job), GP_BUILDER, GP_SHA, GP_DIGEST_FILE.
# gp_platform_build ARGS...: gp_build for one platform of a fanned-out stage. The image is pushed
# to `<repository>:sha-<full sha>-<os>-<arch>` only (plus its key tag): the ref's tags belong to
# the merge job's index. A tag, not an untagged push by digest, so that registry garbage
# collection cannot delete the image before the merge job references it. gp_tags is replaced for
# the rest of this job's shell (a per-platform job calls nothing else that tags); mirrors
# plan::platforms::platform_tag.
gp_platform_build() {
  gp_tags() {
    gp_fs=$(gp_full_sha "$3")
    printf 'sha-%s-%s\n' "${gp_fs:-unknown}" "$(printf '%s' "$GP_PLATFORM" | LC_ALL=C tr 'A-Z' 'a-z' | LC_ALL=C tr -c 'a-z0-9' '-')"
  }
  GP_EXTRA_TAGS=""
  GP_PLATFORMS=$GP_PLATFORM
  gp_build "$@"
}
# gp_merge REPOSITORY@DIGEST...: one index of the per-platform images, pushed under the ref's
# tags (gp_init's). buildx: `docker buildx imagetools create`; buildah: `manifest create`, `add`
# and `push --all` (the platform images are in the registry already: only the index is written).
# Writes the index digest to GP_DIGEST_FILE and prints `digest=<digest>`.
gp_merge() {
  gp_init
  mkdir -p "$(dirname "$GP_DIGEST_FILE")"
  if [ "${GP_PUSH:-true}" != true ]; then echo "gen-pipeline: nothing pushed, no index"; return 0; fi
  if [ "$GP_BUILDER" = buildah ]; then
    gp_ml="gp-merge-$$"
    buildah manifest rm "$gp_ml" >/dev/null 2>&1 || true
    buildah manifest create "$gp_ml" >/dev/null || return 1
    for gp_s; do buildah manifest add "$gp_ml" "docker://$gp_s" >/dev/null || return 1; done
    for gp_r in $gp_refs; do
      buildah manifest push --all --digestfile "$GP_DIGEST_FILE" "$gp_ml" "docker://$gp_r" || return 1
    done
    buildah manifest rm "$gp_ml" >/dev/null 2>&1 || true
  else
    gp_first=""
    for gp_r in $gp_refs; do set -- "$@" --tag "$gp_r"; gp_first=${gp_first:-$gp_r}; done
    docker buildx imagetools create "$@" || return 1
    gp_digest_of "$gp_first" > "$GP_DIGEST_FILE" || return 1
  fi
  gp_digest=$(cat "$GP_DIGEST_FILE")
  case "$gp_digest" in
    sha256:*) echo "digest=$gp_digest" ;;
    *) echo "gen-pipeline: no index digest for $GP_REPOSITORY" >&2; return 1 ;;
  esac
}
