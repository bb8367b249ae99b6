#!/usr/bin/env bash
# Install the permissively licensed sources the corpus is built from, then build it.
#
# Debian 12 (bookworm), run as root. Rust crates come from Debian's librust-*-dev packages
# (/usr/share/cargo/registry), Go modules from golang-*-dev (/usr/share/gocode/src), JS/TS
# from npm into a scratch prefix. Python comes from the interpreter's own stdlib and
# site-packages. Licences are checked file by file by the builder, so a package here that
# turns out to be copyleft is dropped there, not trusted here.
#
# Usage: scripts/build_corpus.sh [OUT_DIR]      (default: corpus/)
#        INSTALL=0 scripts/build_corpus.sh      (skip installation, just build)
#        EXPORT=1 scripts/build_corpus.sh       (also rewrite data/ and evalsets/)
#
# On the training machine (no Debian or npm sources) the corpus is instead built from its
# own Python files plus the shards in data/; see data/README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/corpus}"
NPM_DIR="${NPM_DIR:-/opt/infill-npm}"
PY="${PY:-$ROOT/.venv/bin/python}"

RUST_CRATES=(
  serde serde-json regex regex-syntax tokio clap rand itertools anyhow syn quote proc-macro2
  log thiserror bytes futures hashbrown memchr once-cell libc smallvec indexmap chrono url
  base64 num-traits crossbeam-channel rayon flate2 miniz-oxide cc
  zstd-sys libz-sys bzip2-sys libsqlite3-sys
)
GO_MODULES=(
  github-spf13-cobra github-spf13-pflag golang-x-text github-stretchr-testify golang-x-net
  golang-x-sys golang-x-tools golang-x-crypto github-google-go-cmp github-gorilla-mux
  github-pkg-errors github-sirupsen-logrus github-prometheus-client-golang github-gin-gonic-gin
  github-google-uuid github-urfave-cli github-go-chi-chi github-burntsushi-toml
  github-fatih-color github-mattn-go-isatty github-klauspost-compress github-hashicorp-golang-lru
  github-rs-zerolog github-labstack-echo github-davecgh-go-spew google-protobuf
)
NPM_PACKAGES=(
  lodash express typescript react react-dom vue axios rxjs date-fns zod commander chalk
  yargs debug ms semver uuid immer redux preact koa fastify ws dayjs classnames
  @babel/parser acorn esprima prettier eslint mitt nanoid ky got
  three d3 moment jquery underscore ramda immutable luxon socket.io chart.js bluebird async
  handlebars marked highlight.js webpack rollup svelte graphql @types/node @types/react
  effect fp-ts io-ts @trpc/server @tanstack/query-core @tanstack/react-query valibot hono
  mobx lit @angular/core typeorm type-fest
)

if [[ "${INSTALL:-1}" == "1" ]]; then
  apt-get update
  pkgs=()
  for c in "${RUST_CRATES[@]}"; do pkgs+=("librust-$c-dev"); done
  for g in "${GO_MODULES[@]}"; do pkgs+=("golang-$g-dev"); done
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}"
  mkdir -p "$NPM_DIR"
  npm install --prefix "$NPM_DIR" --no-audit --no-fund --ignore-scripts "${NPM_PACKAGES[@]}"
fi

# EXPORT=1 also rewrites data/ (the shards that travel with the project) and evalsets/.
export_args=()
if [[ "${EXPORT:-0}" == "1" ]]; then
  export_args=(--export-data "$ROOT/data")
fi
cd "$ROOT"
"$PY" -m infill.training.corpus --out "$OUT" \
  --source "stdlib:" \
  --source "site-packages:" \
  --source "npm:$NPM_DIR/node_modules" \
  --source "cargo:/usr/share/cargo/registry" \
  --source "gocode:/usr/share/gocode/src" \
  "${export_args[@]}"
if [[ "${EXPORT:-0}" == "1" ]]; then
  "$PY" -m infill.training.evalsets --corpus "$OUT" --out "$ROOT/evalsets"
fi
