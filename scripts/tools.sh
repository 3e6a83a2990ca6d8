#!/usr/bin/env bash
# Obtains every external binary the local federation runs, at the versions pinned in
# scripts/versions.env, and caches them outside the repo:
#
#   $FLOTILLA_CACHE/tools/<tool>-<version>/bin/<binaries>     (FLOTILLA_CACHE defaults to ~/.cache/flotilla)
#
# Everything comes from the Go module proxy (built here with the local Go toolchain) or from npm
# (anvil, through package.json). A tool whose binaries are already cached is skipped, so a warm run
# takes well under a second.
#
# Usage: scripts/tools.sh [--check] [federation|pulumi]...
#   --check      report, build nothing
#   federation   the local federation's binaries (Kubernetes, etcd, kwok, Kubo, helm) and anvil
#   pulumi       the Pulumi engine: the CLI and the Kubernetes resource provider
#   (no group: both). Concurrent runs wait for each other (flock), so a build started in the
#   background by `make test` is waited for, not repeated, by a test that needs it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${FLOTILLA_CACHE:-$HOME/.cache/flotilla}
tools="$cache/tools"
check_only=false
groups=()
for arg in "$@"; do
  case $arg in
    --check) check_only=true ;;
    federation | pulumi) groups+=("$arg") ;;
    *) printf '[tools] ERROR: unknown argument %s (usage: scripts/tools.sh [--check] [federation|pulumi]...)\n' "$arg" >&2; exit 2 ;;
  esac
done
(( ${#groups[@]} )) || groups=(federation pulumi)

export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
# Two cores: let the Go compiler use both, but no more (memory stays bounded on 24 GiB).
export GOMAXPROCS=${GOMAXPROCS:-2}

say() { printf '[tools %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }

require_go() {
  command -v go >/dev/null 2>&1 || die "no Go toolchain on PATH: install Go >= $GO_MIN_VERSION (it builds kube-apiserver, etcd, kwok, kubo and helm from the Go module proxy)"
  local have; have=$(go env GOVERSION | sed 's/^go//')
  # sort -V puts the smaller version first; if that is not the minimum, Go is too old.
  [[ $(printf '%s\n%s\n' "$GO_MIN_VERSION" "$have" | sort -V | head -n1) == "$GO_MIN_VERSION" ]] ||
    die "Go $have is too old: the pinned tools need Go >= $GO_MIN_VERSION"
}

# Prints a heartbeat while a long build runs, so the first (cold) run is not a silent wait.
with_heartbeat() {
  local label=$1; shift
  local start=$SECONDS
  ( while sleep 30; do say "  … still building $label ($((SECONDS - start))s)"; done ) &
  local beat=$!
  local rc=0
  "$@" || rc=$?
  kill "$beat" 2>/dev/null; wait "$beat" 2>/dev/null || true
  (( rc == 0 )) || die "building $label failed (exit $rc); see the go output above"
  say "built $label in $((SECONDS - start))s"
}

# have <dir> <bin...>: true when every binary is cached.
have() { local d=$1; shift; for b in "$@"; do [[ -x "$d/bin/$b" ]] || return 1; done; }

# Runs "$@" in a fresh wrapper module dir; the result lands in $out/bin only when complete.
fresh_workdir() { local w="$cache/build/$1"; rm -rf "$w"; mkdir -p "$w"; echo "$w"; }

# Prints the path of module@version's go.mod, downloaded into the module cache (dies when it cannot be).
release_gomod() {
  local f; f=$(go mod download -json "$1" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [[ -f $f ]] || die "could not download $1 go.mod"
  echo "$f"
}

# Writes a wrapper module flotilla.local/<name>-build in $PWD at the go directive of the go.mod $2.
wrapper_gomod() { printf 'module flotilla.local/%s-build\n\ngo %s\n' "$1" "$(sed -n 's/^go \(.*\)/\1/p' "$2")" > go.mod; }

kube_ldflags() {
  local v=$KUBE_VERSION minor major
  major=$(echo "${v#v}" | cut -d. -f1); minor=$(echo "${v#v}" | cut -d. -f2)
  local f="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    f+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$f"
}

build_kubernetes() {
  local out="$tools/kubernetes-$KUBE_VERSION"
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  have "$out" "${bins[@]}" && { say "kubernetes $KUBE_VERSION: cached"; return; }
  $check_only && { say "kubernetes $KUBE_VERSION: MISSING"; return 1; }
  require_go
  say "kubernetes $KUBE_VERSION: building ${bins[*]} from the k8s.io/kubernetes module (cold: ~5 min on 2 cores, measured 290 s; docs/local-federation.md)"
  local w; w=$(fresh_workdir "kubernetes-$KUBE_VERSION")
  (
    cd "$w"
    # k8s.io/kubernetes replaces its staging modules with local paths, so `go install` refuses it.
    # This wrapper module replaces each one with its published k8s.io/<name> v0.X.Y instead,
    # deriving the list from the release's own go.mod (it changes between minors).
    local relmod; relmod=$(release_gomod "k8s.io/kubernetes@$KUBE_VERSION")
    local godebug staging
    godebug=$(sed -n 's/^godebug \(.*\)/\1/p' "$relmod")
    staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*#\1#p' "$relmod")
    [[ -n $staging ]] || die "found no staging replaces in k8s.io/kubernetes@$KUBE_VERSION go.mod"
    wrapper_gomod kubernetes "$relmod"
    [[ -n $godebug ]] && go mod edit -godebug="$godebug"
    local staged="v0.${KUBE_VERSION#v1.}"
    for m in $staging; do go mod edit -replace="$m=$m@$staged"; done
    go mod edit -require="k8s.io/kubernetes@$KUBE_VERSION" -replace="k8s.io/kubernetes=k8s.io/kubernetes@$KUBE_VERSION"
    local pkgs=(); for b in "${bins[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
    say "  resolving modules ($(echo "$staging" | wc -w) staging modules at $staged)"
    go get "${pkgs[@]}"
    mkdir -p bin
    with_heartbeat "kubernetes $KUBE_VERSION" go build -trimpath -ldflags "$(kube_ldflags)" -o bin/ "${pkgs[@]}"
    rm -rf "$out"; mkdir -p "$out"; mv bin "$out/bin"
  )
}

build_etcd() {
  local out="$tools/etcd-$ETCD_VERSION"
  have "$out" etcd && { say "etcd $ETCD_VERSION: cached"; return; }
  $check_only && { say "etcd $ETCD_VERSION: MISSING"; return 1; }
  require_go
  say "etcd $ETCD_VERSION: building from go.etcd.io/etcd/server/v3 (~1 min cold, measured 41 s)"
  local w; w=$(fresh_workdir "etcd-$ETCD_VERSION")
  (
    cd "$w"
    # The server module's go.mod has local ../api replaces; a wrapper module resolves published ones.
    printf 'module flotilla.local/etcd-build\n\ngo 1.26\n' > go.mod
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    mkdir -p bin
    with_heartbeat "etcd $ETCD_VERSION" go build -trimpath -ldflags "-s -w" -o bin/etcd go.etcd.io/etcd/server/v3
    rm -rf "$out"; mkdir -p "$out"; mv bin "$out/bin"
  )
}

build_kwok() {
  local out="$tools/kwok-$KWOK_VERSION"
  have "$out" kwok kwokctl && { say "kwok $KWOK_VERSION: cached"; return; }
  $check_only && { say "kwok $KWOK_VERSION: MISSING"; return 1; }
  require_go
  say "kwok $KWOK_VERSION: go install kwok + kwokctl (~2 min cold, measured 100 s)"
  local tmp="$out.partial"; rm -rf "$tmp"
  with_heartbeat "kwok $KWOK_VERSION" env GOBIN="$tmp/bin" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
  rm -rf "$out"; mv "$tmp" "$out"
}

build_kubo() {
  local out="$tools/kubo-$KUBO_VERSION"
  have "$out" ipfs && { say "kubo $KUBO_VERSION: cached"; return; }
  $check_only && { say "kubo $KUBO_VERSION: MISSING"; return 1; }
  require_go
  say "kubo $KUBO_VERSION: building cmd/ipfs (~1.5 min cold, measured 77 s)"
  local w; w=$(fresh_workdir "kubo-$KUBO_VERSION")
  (
    cd "$w"
    # Kubo's go.mod has an exclude block, which makes `go install` refuse; copy it into a wrapper.
    local relmod; relmod=$(release_gomod "github.com/ipfs/kubo@$KUBO_VERSION")
    wrapper_gomod kubo "$relmod"
    sed -n '/^exclude (/,/^)/p' "$relmod" >> go.mod
    go get "github.com/ipfs/kubo/cmd/ipfs@$KUBO_VERSION"
    mkdir -p bin
    with_heartbeat "kubo $KUBO_VERSION" go build -trimpath -ldflags "-s -w" -o bin/ipfs github.com/ipfs/kubo/cmd/ipfs
    rm -rf "$out"; mkdir -p "$out"; mv bin "$out/bin"
  )
}

build_helm() {
  local out="$tools/helm-$HELM_VERSION"
  have "$out" helm && { say "helm $HELM_VERSION: cached"; return; }
  $check_only && { say "helm $HELM_VERSION: MISSING"; return 1; }
  require_go
  say "helm $HELM_VERSION: go install (~1 min cold, measured 66 s)"
  local tmp="$out.partial"; rm -rf "$tmp"
  with_heartbeat "helm $HELM_VERSION" env GOBIN="$tmp/bin" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  rm -rf "$out"; mv "$tmp" "$out"
}

# Copies the "replace" lines of a module's go.mod that point at other modules (not at ../local
# paths, which only work inside that module's own repository) into the wrapper module in $PWD.
copy_module_replaces() {
  sed -n 's#^replace \([^ ]*\) => \([^.][^ ]*\) \(v[^ ]*\)$#\1=\2@\3#p' "$1" |
    while read -r r; do go mod edit -replace="$r"; done
}

build_pulumi() {
  local out="$tools/pulumi-$PULUMI_VERSION"
  have "$out" pulumi && { say "pulumi $PULUMI_VERSION: cached"; return; }
  $check_only && { say "pulumi $PULUMI_VERSION: MISSING"; return 1; }
  require_go
  say "pulumi $PULUMI_VERSION: building the CLI from github.com/pulumi/pulumi/pkg/v3 (cold: ~5 min on 2 cores)"
  local w; w=$(fresh_workdir "pulumi-$PULUMI_VERSION")
  (
    cd "$w"
    # pkg/v3 replaces sdk/v3 with ../sdk and pins a clipboard fork; `go install` refuses both. This
    # wrapper requires the published sdk/v3 at the same version and repeats the module replace.
    local relmod; relmod=$(release_gomod "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION")
    wrapper_gomod pulumi "$relmod"
    copy_module_replaces "$relmod"
    go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION"
    mkdir -p bin
    # The Automation API parses `pulumi version`: an unstamped build prints nothing it accepts.
    with_heartbeat "pulumi $PULUMI_VERSION" go build -trimpath \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
      -o bin/pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    rm -rf "$out"; mkdir -p "$out"; mv bin "$out/bin"
  )
}

build_pulumi_kubernetes() {
  local out="$tools/pulumi-kubernetes-$PULUMI_KUBERNETES_VERSION"
  have "$out" pulumi-resource-kubernetes && { say "pulumi-kubernetes $PULUMI_KUBERNETES_VERSION: cached"; return; }
  $check_only && { say "pulumi-kubernetes $PULUMI_KUBERNETES_VERSION: MISSING"; return 1; }
  require_go
  say "pulumi-kubernetes $PULUMI_KUBERNETES_VERSION: building the resource provider from $PULUMI_KUBERNETES_SOURCE (cold: ~7 min on 2 cores)"
  local w; w=$(fresh_workdir "pulumi-kubernetes-$PULUMI_KUBERNETES_VERSION")
  (
    cd "$w"
    local mod=github.com/pulumi/pulumi-kubernetes/provider/v4
    local src; src=$(go mod download -json "$mod@$PULUMI_KUBERNETES_SOURCE" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    [[ -d $src ]] || die "could not download $mod@$PULUMI_KUBERNETES_SOURCE"
    # The provider embeds schema-embed.json and terraform-mapping-embed.json, which its release
    # process generates (cmd/pulumi-resource-kubernetes/generate.go) and the module zip lacks. A
    # writable copy gets them from the schema.json the zip does carry, stamped with our version, and
    # loses its ../sdk replace (the wrapper pins the published sdk/v4 instead).
    cp -r "$src" provider; chmod -R u+w provider
    (cd provider && go mod edit -dropreplace=github.com/pulumi/pulumi-kubernetes/sdk/v4)
    (cd provider/cmd/pulumi-resource-kubernetes && VERSION=$PULUMI_KUBERNETES_VERSION go run generate.go)
    printf 'module flotilla.local/pulumi-kubernetes-build\n\ngo %s\n' "$(go env GOVERSION | sed 's/^go//')" > go.mod
    go mod edit -require="$mod@$PULUMI_KUBERNETES_SOURCE" -replace="$mod=./provider"
    go get "$mod/cmd/pulumi-resource-kubernetes"
    mkdir -p bin
    with_heartbeat "pulumi-kubernetes $PULUMI_KUBERNETES_VERSION" go build -trimpath \
      -ldflags "-s -w -X $mod/pkg/version.Version=$PULUMI_KUBERNETES_VERSION" \
      -o bin/pulumi-resource-kubernetes "$mod/cmd/pulumi-resource-kubernetes"
    rm -rf "$out"; mkdir -p "$out"; mv bin "$out/bin"
  )
}

check_anvil() {
  local a="$repo/node_modules/.bin/anvil"
  if [[ -x $a ]]; then say "anvil: $("$a" --version | head -n1) (npm @foundry-rs/anvil-linux-amd64)"; return; fi
  die "anvil is missing: run 'npm ci' (it comes from the optional npm dependency @foundry-rs/anvil-linux-amd64, linux/x64 only)"
}

start=$SECONDS
mkdir -p "$tools"
# One build at a time per cache: a second caller waits here, then finds the tools cached.
exec {lock}>"$tools/.lock"
flock "$lock"
status=0
for group in "${groups[@]}"; do
  case $group in
    # Smallest first, so a developer gets Kubo/anvil-only tests going while the apiserver builds.
    federation)
      for step in build_etcd build_kwok build_helm build_kubo build_kubernetes; do "$step" || status=1; done
      check_anvil || status=1 ;;
    pulumi)
      for step in build_pulumi build_pulumi_kubernetes; do "$step" || status=1; done ;;
  esac
done
if $check_only && (( status != 0 )); then die "some tools are missing: run scripts/tools.sh (or make tools)"; fi
say "${groups[*]} tools ready in $cache/tools ($((SECONDS - start))s)"
