# gen-pipeline, buildx flavor (POSIX sh): the registry probes and retag that key.sh, build.sh
# and github.sh call, with docker buildx (docker-container driver).
# gp_digest_of REF: the manifest digest REF names in its registry; nothing (status 1) when it has none.
gp_digest_of() {
  # `{{json …}}`: some buildx versions ignore a plain `{{.Manifest.Digest}}` template.
  gp_dg=$(docker buildx imagetools inspect "$1" --format '{{json .Manifest.Digest}}' 2>/dev/null | tr -d '"[:space:]')
  case $gp_dg in sha256:*) printf '%s\n' "$gp_dg" ;; *) return 1 ;; esac
}
# gp_retag SRC REF...: point every REF at SRC (REPO@DIGEST) without building; the digest stays SRC's.
gp_retag() {
  gp_src=$1; shift
  gp_n=$#
  for gp_r; do set -- "$@" --tag "$gp_r"; done
  shift "$gp_n"
  docker buildx imagetools create --prefer-index=false "$@" "$gp_src"
}
