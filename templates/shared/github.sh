# gen-pipeline, GitHub's first job: gp_github_job ID prints job ID's decisions as one JSON member
# `"ID":{"build":…,"digest":…,"tags":…,"cache-from":…,"cache-to":…}` (lists joined by `\n`).
gp_github_job() {
  gp_fr=; gp_own_key=$GP_CACHE_KEY # no push (a fork's PR): the fork job builds upstream stages too, reading their caches
  if [ "${GP_PUSH:-true}" != true ]; then for GP_CACHE_KEY in ${GP_FORK_CACHE_KEYS:-}; do gp_init; gp_fr="$gp_fr $gp_reads"; done; fi
  GP_CACHE_KEY=$gp_own_key; gp_init; gp_reads=${gp_fr:-$gp_reads}; gp_key >&2; gp_b=true; gp_kd=
  [ "${GP_CHECK:-false}" != true ] || gp_refs=; [ "${GP_PUSH:-true}" = true ] || gp_b=false # a check pushes nothing
  if gp_reuse "$1: " >&2; then gp_b=false; else gp_kd=; fi
  gp_tg=; for gp_r in $gp_refs; do gp_tg="$gp_tg${gp_tg:+\\n}$gp_r"; done
  gp_cf=; for gp_c in $gp_reads; do gp_cf="$gp_cf${gp_cf:+\\n}type=registry,ref=$gp_c"; done
  gp_ct=${gp_to:+type=registry,ref=$gp_to,mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true}
  printf '"%s":{"build":%s,"digest":"%s","tags":"%s","cache-from":"%s","cache-to":"%s"}' "$1" "$gp_b" "$gp_kd" "$gp_tg" "$gp_cf" "$gp_ct"
}
