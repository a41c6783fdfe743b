# gen-pipeline: the per-job decisions, from the ref policy above (POSIX sh).
# Inputs (environment): GP_REF_KIND (branch|tag|pr|detached), GP_REF_NAME, GP_SHA, GP_DEFAULT_BRANCH,
# GP_PR, GP_REPOSITORY, GP_CACHE_REPO, GP_CACHE_KEY, GP_PUSH (true|false), GP_CACHE_ON_TAG,
# GP_CACHE_ON_PR, GP_EXTRA_TAGS.
gp_init() {
  # The cache policy (what to read, in order, and what to write) is gp_cache's, above.
  gp_reads=""; gp_to=""; gp_verb=""
  for gp_w in $(gp_cache "$GP_CACHE_REPO" "$GP_CACHE_KEY" "$GP_REF_KIND" "$GP_REF_NAME" "$GP_SHA" \
      "$GP_DEFAULT_BRANCH" "${GP_PR:-}" "${GP_CACHE_ON_TAG:-false}" "${GP_CACHE_ON_PR:-false}"); do
    case $gp_w in
      from | to) gp_verb=$gp_w ;;
      *) if [ "$gp_verb" = from ]; then gp_reads="$gp_reads $gp_w"; else gp_to=$gp_w; fi ;;
    esac
  done
  if [ "${GP_PUSH:-true}" != true ]; then gp_to=""; fi
  gp_refs=""
  for gp_t in $(gp_tags "$GP_REF_KIND" "$GP_REF_NAME" "$GP_SHA" "$GP_DEFAULT_BRANCH" "${GP_PR:-}") ${GP_EXTRA_TAGS:-}; do
    gp_refs="$gp_refs $GP_REPOSITORY:$gp_t"
  done
}
