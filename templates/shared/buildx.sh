# gen-pipeline registry probe and retag, docker buildx flavor (POSIX sh).
gp_probe() { # REF: the manifest digest it names in its registry in gp_dg, else status 1 ({{json}}: some buildx ignore a plain template)
  gp_dg=$(docker buildx imagetools inspect "$1" --format '{{json .Manifest.Digest}}' 2>/dev/null | tr -d '"[:space:]') || gp_dg=
  case $gp_dg in sha256:*) ;; *) gp_dg=; return 1 ;; esac
}
gp_digest_of() { gp_probe "$1" && printf '%s\n' "$gp_dg"; } # the same, printed
gp_retag() { # the refs gp_refs name image $1 (REPO@DIGEST), its digest unchanged
  gp_src=$1; set --; for gp_r in $gp_refs; do set -- "$@" --tag "$gp_r"; done; docker buildx imagetools create --prefer-index=false "$@" "$gp_src"
}
