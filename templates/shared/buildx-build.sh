# gen-pipeline, buildx flavor (POSIX sh): the builder and the build command gp_build calls.
# gp_builder_up: buildx's docker-container builder, created by the first build that needs it (a
# skipped job never creates one). Its name: GP_BUILDX_NAME, else the one kept in GP_STATE/builder
# (chosen at random here when missing: unique on a shared daemon), else gen-pipeline. On the docker
# context GP_DOCKER_CONTEXT when set (buildx refuses TLS settings from the environment,
# docker/buildx#413), with BuildKit image GP_BUILDKIT_IMAGE and daemon config GP_BUILDKITD_CONFIG.
gp_builder_up() {
  gp_bn=${GP_BUILDX_NAME:-}
  if [ -z "$gp_bn" ] && [ -n "${GP_STATE:-}" ]; then
    if [ ! -f "$GP_STATE/builder" ]; then
      printf 'gp-%s\n' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" > "$GP_STATE/builder"
    fi
    gp_bn=$(cat "$GP_STATE/builder")
  fi
  gp_bn=${gp_bn:-gen-pipeline}
  if ! docker buildx inspect "$gp_bn" >/dev/null 2>&1; then
    if [ -n "${GP_DOCKER_CONTEXT:-}" ] && ! docker context inspect "$GP_DOCKER_CONTEXT" >/dev/null 2>&1; then
      docker context create "$GP_DOCKER_CONTEXT" >/dev/null || return 1
    fi
    set -- --name "$gp_bn" --driver docker-container
    if [ -n "${GP_BUILDKIT_IMAGE:-}" ]; then set -- "$@" --driver-opt "image=$GP_BUILDKIT_IMAGE"; fi
    if [ -n "${GP_BUILDKITD_CONFIG:-}" ]; then set -- "$@" --buildkitd-config "$GP_BUILDKITD_CONFIG"; fi
    # Parallel steps may race to create it: losing the race is fine when the builder exists.
    docker buildx create "$@" ${GP_DOCKER_CONTEXT:-} >/dev/null \
      || docker buildx inspect "$gp_bn" >/dev/null || return 1
  fi
  docker buildx use "$gp_bn"
}
# gp_run ARGS...: build with ARGS (file, target, platform, tags, contexts, ...) and push; the
# digest goes to GP_DIGEST_FILE.
gp_run() {
  for gp_c in $gp_reads; do set -- "$@" --cache-from "type=registry,ref=$gp_c"; done
  if [ -n "$gp_to" ]; then
    set -- "$@" --cache-to "type=registry,ref=$gp_to,mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true"
  fi
  # A check (GP_CHECK=true) writes its cache but never pushes its image.
  if [ "${GP_PUSH:-true}" = true ] && [ "${GP_CHECK:-false}" != true ]; then set -- "$@" --push; fi
  docker buildx build "$@" --provenance="${GP_PROVENANCE:-false}" --metadata-file "$GP_DIGEST_FILE.json" "$GP_CONTEXT"
  sed -n 's/.*"containerimage.digest": *"\(sha256:[0-9a-f]*\)".*/\1/p' "$GP_DIGEST_FILE.json" | head -n 1 > "$GP_DIGEST_FILE"
}
