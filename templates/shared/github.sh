# gen-pipeline, GitHub's first job (POSIX sh; gp_init, gp_key and buildx.sh's registry part above).
# gp_github_job ID: for GitHub's first job, the decisions of planned job ID as one JSON member,
# `"ID":{"build":…,"digest":…,"tags":…,"cache-from":…,"cache-to":…}` (lists joined by `\n`). A job
# whose stage key has an image is retagged here and gets build=false and that image's digest; a
# job that does not push (a pull request from a fork) gets build=false too: the fork job builds,
# reading the caches named here. A check (GP_CHECK=true) gets no tags and no digest, and is never
# retagged (it pushes nothing, so no key image of it exists): it always builds.
gp_github_job() {
  # Without a push (a fork's pull request) a target's build runs its upstream stages itself: it
  # reads the caches of every job in GP_FORK_CACHE_KEYS (its own first).
  gp_fr=""
  if [ "${GP_PUSH:-true}" != true ]; then
    gp_own_key=$GP_CACHE_KEY
    for GP_CACHE_KEY in ${GP_FORK_CACHE_KEYS:-}; do gp_init; gp_fr="$gp_fr $gp_reads"; done
    GP_CACHE_KEY=$gp_own_key
  fi
  gp_init
  if [ -n "$gp_fr" ]; then gp_reads=$gp_fr; fi
  gp_key >&2
  if [ "${GP_CHECK:-false}" = true ]; then gp_refs=""; fi
  gp_b=true; gp_dg=""
  if [ "${GP_PUSH:-true}" != true ]; then gp_b=false; fi
  if [ -n "$gp_key" ]; then
    if gp_dg=$(gp_digest_of "$GP_REPOSITORY:key-$gp_key"); then
      echo "gen-pipeline: $1: $GP_REPOSITORY:key-$gp_key is $gp_dg: tagging it, no build" >&2
      # shellcheck disable=SC2086
      gp_retag "$GP_REPOSITORY@$gp_dg" $gp_refs >&2 || return 1
      gp_b=false
    else
      gp_dg=""; gp_refs="$gp_refs $GP_REPOSITORY:key-$gp_key"
    fi
  fi
  gp_tg=""; for gp_r in $gp_refs; do gp_tg="$gp_tg${gp_tg:+\\n}$gp_r"; done
  gp_cf=""; for gp_c in $gp_reads; do gp_cf="$gp_cf${gp_cf:+\\n}type=registry,ref=$gp_c"; done
  gp_ct=""
  if [ -n "$gp_to" ]; then gp_ct="type=registry,ref=$gp_to,mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true"; fi
  printf '"%s":{"build":%s,"digest":"%s","tags":"%s","cache-from":"%s","cache-to":"%s"}' \
    "$1" "$gp_b" "$gp_dg" "$gp_tg" "$gp_cf" "$gp_ct"
}
