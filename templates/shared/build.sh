# gen-pipeline: gp_build [builder args…] builds one planned job, or tags its key's image when that exists.
gp_build() {
  gp_init; case $GP_DIGEST_FILE in */*) [ -d "${GP_DIGEST_FILE%/*}" ] || mkdir -p "${GP_DIGEST_FILE%/*}" ;; esac; gp_key
  if gp_reuse ""; then printf '%s\n' "$gp_kd" > "$GP_DIGEST_FILE"; echo "digest=$gp_kd"; return 0; fi
  gp_builder_up || return 1
  set -- "$@" --file "$GP_DOCKERFILE"; [ -z "${GP_TARGET:-}" ] || set -- "$@" --target "$GP_TARGET"
  [ -z "${GP_PLATFORMS:-}" ] || set -- "$@" --platform "$GP_PLATFORMS"
  for gp_r in $gp_refs; do set -- "$@" --tag "$gp_r"; done
  gp_run "$@" || return 1
  if [ "${GP_PUSH:-true}" != true ] || [ "${GP_CHECK:-false}" = true ]; then echo "built $GP_REPOSITORY (not pushed)"; return 0; fi
  gp_digest=$(cat "$GP_DIGEST_FILE")
  case $gp_digest in sha256:*) echo "digest=$gp_digest" ;; *) echo "gen-pipeline: no digest for $GP_REPOSITORY" >&2; return 1 ;; esac
}
