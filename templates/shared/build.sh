# gen-pipeline: build one planned job (POSIX sh; gp_init, gp_key and the builder's gp_run are
# above). Further inputs (environment):
# GP_BUILDER (buildx|buildah), GP_DOCKERFILE, GP_CONTEXT, GP_TARGET (empty: the last stage),
# GP_PLATFORMS, GP_PROVENANCE, GP_DIGEST_FILE, GP_CHECK (true: a check, built and its cache
# written, but the image is never pushed, no digest is handed on, and no key is looked up: a
# check pushes nothing, so no key image of it exists to retag), and key.sh's GP_KEY_*, GP_SKIP.
# Arguments: extra builder arguments (--build-context, --build-arg, --secret).
# Writes the pushed image's digest to GP_DIGEST_FILE and prints `digest=<digest>`.
gp_build() {
  gp_init
  # Stage input key (key.sh): when `<repository>:key-<key>` exists, tag that image with this ref's
  # tags and hand on its digest: no builder, no build. Otherwise build and push the key tag too.
  gp_key
  mkdir -p "$(dirname "$GP_DIGEST_FILE")"
  if [ -n "$gp_key" ]; then
    echo "key=$gp_key"
    if gp_kd=$(gp_digest_of "$GP_REPOSITORY:key-$gp_key"); then
      echo "gen-pipeline: $GP_REPOSITORY:key-$gp_key is $gp_kd: tagging it, no build"
      # shellcheck disable=SC2086
      gp_retag "$GP_REPOSITORY@$gp_kd" $gp_refs || return 1
      printf '%s\n' "$gp_kd" > "$GP_DIGEST_FILE"
      echo "digest=$gp_kd"
      return 0
    fi
    gp_refs="$gp_refs $GP_REPOSITORY:key-$gp_key"
  fi
  gp_builder_up || return 1
  set -- "$@" --file "$GP_DOCKERFILE"
  if [ -n "${GP_TARGET:-}" ]; then set -- "$@" --target "$GP_TARGET"; fi
  if [ -n "${GP_PLATFORMS:-}" ]; then set -- "$@" --platform "$GP_PLATFORMS"; fi
  for gp_r in $gp_refs; do set -- "$@" --tag "$gp_r"; done
  gp_run "$@" || return 1
  if [ "${GP_PUSH:-true}" != true ] || [ "${GP_CHECK:-false}" = true ]; then
    # Nothing was pushed (a pull request without registry credentials, or a check): no digest
    # to hand on.
    echo "built $GP_REPOSITORY (not pushed)"
    return 0
  fi
  gp_digest=$(cat "$GP_DIGEST_FILE")
  case "$gp_digest" in
    sha256:*) echo "digest=$gp_digest" ;;
    *) echo "gen-pipeline: no digest for $GP_REPOSITORY" >&2; return 1 ;;
  esac
}
