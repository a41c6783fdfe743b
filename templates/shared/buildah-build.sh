# gen-pipeline, buildah flavor (POSIX sh): the builder and the build command gp_build calls.
# gp_builder_up: buildah needs no builder.
gp_builder_up() { :; }
# gp_run ARGS...: build with ARGS (file, target, platform, tags, contexts, ...) and push; the
# digest goes to GP_DIGEST_FILE.
gp_run() {
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
  # A check (GP_CHECK=true) writes its cache but never pushes its image.
  if [ "${GP_PUSH:-true}" = true ] && [ "${GP_CHECK:-false}" != true ]; then
    for gp_r in $gp_refs; do buildah push --digestfile "$GP_DIGEST_FILE.push" "$gp_r" "docker://$gp_r"; done
    cp "$GP_DIGEST_FILE.push" "$GP_DIGEST_FILE"
  else
    cp "$GP_DIGEST_FILE.iid" "$GP_DIGEST_FILE"
  fi
}
