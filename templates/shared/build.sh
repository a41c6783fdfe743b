# gen-pipeline: build one planned job (POSIX sh; gp_init is above). Further inputs (environment):
# GP_BUILDER (buildx|buildah), GP_DOCKERFILE, GP_CONTEXT, GP_TARGET (empty: the last stage),
# GP_PLATFORMS, GP_PROVENANCE, GP_DIGEST_FILE, and key.sh's GP_KEY_*, GP_SKIP.
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
  # A CI that creates its builder on first use defines gp_builder_up (a skipped job never does).
  if command -v gp_builder_up >/dev/null 2>&1; then gp_builder_up || return 1; fi
  set -- "$@" --file "$GP_DOCKERFILE"
  if [ -n "${GP_TARGET:-}" ]; then set -- "$@" --target "$GP_TARGET"; fi
  if [ -n "${GP_PLATFORMS:-}" ]; then set -- "$@" --platform "$GP_PLATFORMS"; fi
  for gp_r in $gp_refs; do set -- "$@" --tag "$gp_r"; done
  if [ "$GP_BUILDER" = buildah ]; then
    # buildah takes a cache REPOSITORY (one tag per step) and reads one source only: map each
    # `repo:key-slug` ref to `repo/key-slug` and take the first whose `latest` marker exists (probed
    # with `manifest add`, which reads only the manifest: buildah 1.28's `manifest inspect` cannot
    # read docker://), else the last (the default branch's).
    gp_own_cache=""
    if [ -n "$gp_to" ]; then gp_own_cache="${gp_to%:*}/${gp_to##*:}"; fi
    gp_probe="gp-cache-probe-$$"
    buildah manifest create "$gp_probe" >/dev/null 2>&1 || gp_probe=""
    gp_from=""
    for gp_c in $gp_reads; do
      gp_from="${gp_c%:*}/${gp_c##*:}"
      if [ -n "$gp_probe" ] && buildah manifest add "$gp_probe" "docker://$gp_from:latest" >/dev/null 2>&1; then break; fi
    done
    if [ -n "$gp_probe" ]; then buildah manifest rm "$gp_probe" >/dev/null 2>&1 || true; fi
    set -- "$@" --layers --cache-from "$gp_from"
    if [ -n "$gp_to" ]; then set -- "$@" --cache-to "$gp_own_cache"; fi
    { buildah bud "$@" --iidfile "$GP_DIGEST_FILE.iid" "$GP_CONTEXT" 2>&1; echo $? > "$GP_DIGEST_FILE.rc"; } | tee "$GP_DIGEST_FILE.log"
    if [ "$(cat "$GP_DIGEST_FILE.rc")" != 0 ]; then return 1; fi
    # buildah pushes cache only for the steps it executed, so the branch's cache is complete (and
    # gets its `latest` marker) only when it was the source or when no step came from a cache.
    if [ -n "$gp_to" ] && { [ "$gp_from" = "$gp_own_cache" ] || ! grep -q -e '--> Using cache' "$GP_DIGEST_FILE.log"; }; then
      buildah push "$(cat "$GP_DIGEST_FILE.iid")" "docker://$gp_own_cache:latest"
    fi
    if [ "${GP_PUSH:-true}" = true ]; then
      for gp_r in $gp_refs; do buildah push --digestfile "$GP_DIGEST_FILE.push" "$gp_r" "docker://$gp_r"; done
      cp "$GP_DIGEST_FILE.push" "$GP_DIGEST_FILE"
    else
      cp "$GP_DIGEST_FILE.iid" "$GP_DIGEST_FILE"
    fi
  else
    for gp_c in $gp_reads; do set -- "$@" --cache-from "type=registry,ref=$gp_c"; done
    if [ -n "$gp_to" ]; then
      set -- "$@" --cache-to "type=registry,ref=$gp_to,mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true"
    fi
    if [ "${GP_PUSH:-true}" = true ]; then set -- "$@" --push; fi
    docker buildx build "$@" --provenance="${GP_PROVENANCE:-false}" --metadata-file "$GP_DIGEST_FILE.json" "$GP_CONTEXT"
    sed -n 's/.*"containerimage.digest": *"\(sha256:[0-9a-f]*\)".*/\1/p' "$GP_DIGEST_FILE.json" | head -n 1 > "$GP_DIGEST_FILE"
  fi
  if [ "${GP_PUSH:-true}" != true ]; then
    # Nothing was pushed (a pull request without registry credentials): no digest to hand on.
    echo "built $GP_REPOSITORY (not pushed)"
    return 0
  fi
  gp_digest=$(cat "$GP_DIGEST_FILE")
  case "$gp_digest" in
    sha256:*) echo "digest=$gp_digest" ;;
    *) echo "gen-pipeline: no digest for $GP_REPOSITORY" >&2; return 1 ;;
  esac
}
