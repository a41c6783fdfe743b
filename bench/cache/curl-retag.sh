#!/usr/bin/env bash
# Experiment for bench/CACHE-RESULTS.md (issue 11), not used by run.sh nor by the product: a skipped job's
# registry work done with the registry API (curl, basic auth) instead of skopeo, timed.
#
#   bash bench/cache/curl-retag.sh REGISTRY REPO KEY_TAG CA_CERT USER:PASSWORD
#
# One manifest GET (the key probe, which also yields the manifest bytes; their sha256 is the digest) and
# one manifest PUT of the same bytes per tag (the digest is kept; the registry checks the blobs itself).
# Writes the tags main, sha-0000000 and latest of REPO: run it only against a benchmark's own registry.
set -eo pipefail
R=$1 repo=$2 key=$3 ca=$4 auth=$5
t0=$(date +%s.%N)
m=$(mktemp); ct=$(curl -sf --cacert "$ca" -u "$auth" -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' -o "$m" -w '%{content_type}' "https://$R/v2/$repo/manifests/$key")
d=sha256:$(sha256sum < "$m" | cut -c1-64)
t1=$(date +%s.%N)
for tag in main sha-0000000 latest; do
  curl -sf --cacert "$ca" -u "$auth" -X PUT -H "Content-Type: $ct" --data-binary @"$m" "https://$R/v2/$repo/manifests/$tag" -o /dev/null
done
t2=$(date +%s.%N)
rm -f "$m"
echo "probe $(echo "$t1 - $t0" | bc) retag3 $(echo "$t2 - $t1" | bc) digest $d"
