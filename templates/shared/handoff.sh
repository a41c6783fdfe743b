# gen-pipeline, digests handed between pipelines (POSIX sh; only in Drone/Woodpecker files that
# `runners:` splits into one pipeline per runner, see src/render/split.rs; merge.sh is above).
# Pipelines share no workspace (they run on different machines): a step that receives an image
# built in another pipeline resolves that pipeline's tag for it in the registry, after the login
# step of its own pipeline, and pins the digest from then on. Inputs: GP_SHA, GP_STATE, gp_ref's.
# gp_handoff VAR REPOSITORY [PLATFORM]: writes the digest of the image a job of another pipeline
# pushed for this commit to $GP_STATE/digests/VAR, the file a step of the same pipeline would have
# written. With PLATFORM (a per-platform job): its tag `sha-<full sha>-<os>-<arch>`
# (gp_platform_tags). Without (a job built once for every platform): the ref's `sha-<full sha>`
# tag; a tag build writes no `sha-` tag, so there the ref's first tag. Prints `handed VAR=<digest>`.
gp_handoff() {
  [ -n "${gp_ref_done:-}" ] || gp_ref; _gp_sha "$GP_SHA"
  if [ -n "${3:-}" ]; then gp_ht=$(GP_PLATFORM=$3; gp_platform_tags; printf '%s' "$gp_tagl")
  else gp_ht=${_gp_f:+sha-$_gp_f}; case " $(printf '%s' "$gp_tagl" | tr '\n' ' ') " in *" $gp_ht "*) ;; *) gp_ht=; for _gp_x in $gp_tagl; do gp_ht=$_gp_x; break; done ;; esac
  fi
  gp_hd=$(gp_digest_of "$2:$gp_ht") || { echo "gen-pipeline: $2:$gp_ht does not exist: the pipeline that builds it did not push it for this commit" >&2; return 1; }
  mkdir -p "$GP_STATE/digests" && printf '%s\n' "$gp_hd" > "$GP_STATE/digests/$1" && echo "handed $1=$gp_hd ($2:$gp_ht)"
}
