# gen-pipeline builder, buildah flavor (POSIX sh): nothing to start.
gp_builder_up() { gp_login; } # GitLab logs in here, the first build command: a skipped job never does
gp_run() { # build with "$@" and push; the digest goes to GP_DIGEST_FILE
  # buildah takes a cache REPOSITORY (one tag per step) and reads one only: `repo:key.slug` -> `repo/key.slug`,
  # the first whose `latest` marker exists, else the last (the default branch's)
  gp_own_cache=; [ -z "$gp_to" ] || gp_own_cache="${gp_to%:*}/${gp_to##*:}"
  for gp_c in $gp_reads; do gp_from="${gp_c%:*}/${gp_c##*:}"; if gp_digest_of "$gp_from:latest" >/dev/null; then break; fi; done
  set -- "$@" --layers --cache-from "$gp_from"
  [ -z "$gp_to" ] || set -- "$@" --cache-to "$gp_own_cache"
  { buildah bud "$@" --iidfile "$GP_DIGEST_FILE.iid" "$GP_CONTEXT" 2>&1; echo $? > "$GP_DIGEST_FILE.rc"; } | tee "$GP_DIGEST_FILE.log"
  [ "$(cat "$GP_DIGEST_FILE.rc")" = 0 ] || return 1
  # the own cache is complete (and gets its marker) only when it was the source or no step came from a cache
  if [ -n "$gp_to" ] && { [ "$gp_from" = "$gp_own_cache" ] || ! grep -q -e '--> Using cache' "$GP_DIGEST_FILE.log"; }; then
    buildah push "$(cat "$GP_DIGEST_FILE.iid")" "docker://$gp_own_cache:latest"
  fi
  if [ "${GP_PUSH:-true}" = true ] && [ "${GP_CHECK:-false}" != true ]; then # a check never pushes its image
    for gp_r in $gp_refs; do buildah push --digestfile "$GP_DIGEST_FILE.push" "$gp_r" "docker://$gp_r"; done
    cp "$GP_DIGEST_FILE.push" "$GP_DIGEST_FILE"
  else cp "$GP_DIGEST_FILE.iid" "$GP_DIGEST_FILE"; fi
}
