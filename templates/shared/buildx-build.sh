# gen-pipeline builder, docker buildx flavor (POSIX sh): a docker-container builder, created by the first build.
gp_builder_up() { # name: GP_BUILDX_NAME, else a random one kept in GP_STATE/builder, else gen-pipeline
  gp_bn=${GP_BUILDX_NAME:-}
  if [ -z "$gp_bn" ] && [ -n "${GP_STATE:-}" ]; then
    [ -f "$GP_STATE/builder" ] || printf 'gp-%s\n' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" > "$GP_STATE/builder"
    gp_bn=$(cat "$GP_STATE/builder")
  fi
  gp_bn=${gp_bn:-gen-pipeline}
  if ! docker buildx inspect "$gp_bn" >/dev/null 2>&1; then
    # buildx refuses TLS settings from the environment (docker/buildx#413): a docker context instead
    if [ -n "${GP_DOCKER_CONTEXT:-}" ] && ! docker context inspect "$GP_DOCKER_CONTEXT" >/dev/null 2>&1; then
      docker context create "$GP_DOCKER_CONTEXT" >/dev/null || return 1
    fi
    set -- --name "$gp_bn" --driver docker-container
    [ -z "${GP_BUILDKIT_IMAGE:-}" ] || set -- "$@" --driver-opt "image=$GP_BUILDKIT_IMAGE"
    [ -z "${GP_BUILDKITD_CONFIG:-}" ] || set -- "$@" --buildkitd-config "$GP_BUILDKITD_CONFIG"
    # parallel steps may race to create it: losing the race is fine
    docker buildx create "$@" ${GP_DOCKER_CONTEXT:-} >/dev/null || docker buildx inspect "$gp_bn" >/dev/null || return 1
  fi
  docker buildx use "$gp_bn"
}
gp_run() { # build with "$@" and push; the digest goes to GP_DIGEST_FILE
  for gp_c in $gp_reads; do set -- "$@" --cache-from "type=registry,ref=$gp_c"; done
  [ -z "$gp_to" ] || set -- "$@" --cache-to "type=registry,ref=$gp_to,mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true"
  if [ "${GP_PUSH:-true}" = true ] && [ "${GP_CHECK:-false}" != true ]; then set -- "$@" --push; fi
  docker buildx build "$@" --provenance="${GP_PROVENANCE:-false}" --metadata-file "$GP_DIGEST_FILE.json" "$GP_CONTEXT"
  sed -n 's/.*"containerimage.digest": *"\(sha256:[0-9a-f]*\)".*/\1/p' "$GP_DIGEST_FILE.json" | head -n 1 > "$GP_DIGEST_FILE"
}
