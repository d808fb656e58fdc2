#!/usr/bin/env bash
# npm run setup: makes this machine ready for `npm test`.
#   1. checks that node fits package.json's engines.node;
#   2. installs the system packages the tests use (Debian/Ubuntu, as root or through sudo), or
#      prints exactly what to install (macOS, other systems, no root and no sudo);
#   3. starts a Docker daemon when none answers `docker info` (as root), or says how;
#   4. runs npm ci.
# Safe to run again: it skips what is already there. `--dry-run` prints what it would do and
# changes nothing. .ci/run runs this same script. Works with macOS's bash 3.2.
set -euo pipefail

# The one list of system packages the tests use (Debian package names):
# - docker.io: the Docker daemon and CLI the integration tests build and run images on
# - docker-registry: the registry they push to (Registry HTTP API v2, on loopback)
# - busybox-static: the static busybox the stub parent images are made of
# - shellcheck: lints the rendered runner scripts and the shell stubs
# - apache2-utils: htpasswd, for the registry's basic auth
# - openssl: the certificate of the test token server
# - openssh-client: ssh and ssh-keygen, for the runner ssh command lines
# - openssh-server: sshd, for runner checks over a real ssh connection
# - python3-jinja2: renders Jinja templates as the reference output
# - containerd, stargz-snapshotter (ctr-remote): eStargz image conversion
# - debootstrap: the Debian root file systems of the stand-in python:<X> parents
#   (npm run stand-in-parents; the real CPU builds of the tests run on them)
DEBIAN_PACKAGES="docker.io docker-registry busybox-static shellcheck apache2-utils openssl openssh-client openssh-server python3-jinja2 containerd stargz-snapshotter debootstrap"

# What macOS users install (Homebrew names): a Docker engine and the shell linter. A static
# Linux busybox, Debian's registry, sshd and the eStargz tools have no Homebrew equivalent, so
# there the integration tests run in a Linux VM or container.
BREW_PACKAGES="docker colima shellcheck"

# dockerd as CI runs it: these machines have no iptables and no bridge network (builds and runs
# use --network host). Storage: overlay2 where Docker's data root is on ext4 or xfs (as here),
# vfs elsewhere (it works on any file system). vfs copies the whole file system for every layer:
# the real builds of the tests (a 600 MB parent, a step per requirement file) each cost GBs of
# copies and disk under vfs, and overlay2 stores only each layer's changes.
DOCKERD_BASE_FLAGS="--iptables=false --ip6tables=false --bridge=none"

DRY_RUN=false
problems=""

say() { printf '%s\n' "$*"; }
section() { printf '\n== %s ==\n' "$*"; }
# Something `npm test` needs that this script could not do; reported again at the end.
problem() {
    printf '%s\n' "$*" >&2
    problems="${problems}  - $1"$'\n'
}
run() {
    if $DRY_RUN; then
        say "would run: $*"
    else
        say "+ $*"
        "$@"
    fi
}

# The kind of system: debian (apt-get and dpkg), macos, or other.
system_kind() {
    case "$(uname -s)" in
        Darwin) echo macos ;;
        Linux)
            if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
                echo debian
            else
                echo other
            fi
            ;;
        *) echo other ;;
    esac
}

# How to get root: "" as root, "sudo" when sudo can run without a password or can ask on a
# terminal, "none" otherwise.
root_prefix() {
    if [ "$(id -u)" -eq 0 ]; then
        echo ""
    elif command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
        echo sudo
    else
        echo none
    fi
}

# The Debian packages of DEBIAN_PACKAGES that are not installed, space-separated.
missing_debian_packages() {
    local p missing=""
    for p in $DEBIAN_PACKAGES; do
        if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
            missing="$missing $p"
        fi
    done
    echo "${missing# }"
}

check_node() {
    section "node"
    if ! command -v node >/dev/null 2>&1; then
        problem "node is not installed: install the node version package.json's engines.node names (nvm, Homebrew node@22, or NodeSource on Debian/Ubuntu)"
        return 1
    fi
    node scripts/check-node.js
}

install_system_packages() {
    section "system packages"
    local kind prefix missing
    kind=$(system_kind)
    case "$kind" in
        debian)
            missing=$(missing_debian_packages)
            if [ -z "$missing" ]; then
                say "already installed: $DEBIAN_PACKAGES"
                return 0
            fi
            prefix=$(root_prefix)
            if [ "$prefix" = none ]; then
                problem "missing Debian packages: $missing (no root and no sudo here; ask an administrator to run: apt-get update && apt-get install -y --no-install-recommends $missing)"
                return 0
            fi
            say "installing: $missing"
            # shellcheck disable=SC2086 # word splitting of the package list is wanted
            run $prefix env DEBIAN_FRONTEND=noninteractive apt-get update
            # shellcheck disable=SC2086
            run $prefix env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
            ;;
        macos)
            problem "macOS: brew install $BREW_PACKAGES && colima start (or Docker Desktop instead of colima). npm run test:unit runs here; npm run test:integration needs Linux (a static Linux busybox, Debian's docker-registry, sshd, containerd's eStargz tools): run npm run setup and npm test in a Debian or Ubuntu VM or container"
            ;;
        *)
            problem "not a Debian or Ubuntu system: install your system's packages for: $DEBIAN_PACKAGES (Debian names; on Debian/Ubuntu npm run setup installs them itself)"
            ;;
    esac
}

# The storage driver for dockerd: overlay2 when /var/lib (where /var/lib/docker goes) is on ext4
# or xfs, which overlayfs supports as its upper file system; vfs otherwise.
storage_driver() {
    case "$(stat -f -c %T /var/lib 2>/dev/null || true)" in
        ext2/ext3 | xfs) echo overlay2 ;;
        *) echo vfs ;;
    esac
}

docker_answers() {
    command -v docker >/dev/null 2>&1 || return 1
    if command -v timeout >/dev/null 2>&1; then
        timeout 10 docker info >/dev/null 2>&1
    else
        docker info >/dev/null 2>&1 # macOS has no timeout(1)
    fi
}

start_docker_daemon() {
    section "docker daemon"
    if docker_answers; then
        say "a Docker daemon answers"
        return 0
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        if $DRY_RUN && [ "$(system_kind)" = debian ]; then
            say "would start dockerd once docker.io is installed"
        else
            problem "no Docker daemon answers and dockerd is not installed (see the system packages above)"
        fi
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        problem "no Docker daemon answers \`docker info\`: start it (sudo systemctl start docker, or Docker Desktop / colima start), and if it runs, add yourself to the docker group (sudo usermod -aG docker \"\$USER\", then log in again)"
        return 0
    fi
    local log="${TMPDIR:-/tmp}/truss-dockerd.log"
    local DOCKERD_FLAGS
    DOCKERD_FLAGS="$DOCKERD_BASE_FLAGS --storage-driver=$(storage_driver)"
    if $DRY_RUN; then
        say "would start: dockerd $DOCKERD_FLAGS (detached, log: $log)"
        return 0
    fi
    say "starting dockerd $DOCKERD_FLAGS (detached, log: $log)"
    # setsid: the daemon outlives this script and the terminal it was started from.
    # shellcheck disable=SC2086 # word splitting of the flags is wanted
    setsid dockerd $DOCKERD_FLAGS >"$log" 2>&1 </dev/null &
    local _
    for _ in $(seq 1 60); do
        if docker_answers; then
            say "dockerd answers"
            return 0
        fi
        sleep 1
    done
    problem "dockerd did not answer \`docker info\` within 60 s; see $log"
    tail -n 20 "$log" >&2 || true
}

install_node_packages() {
    section "npm ci"
    run npm ci --no-audit --no-fund
}

main() {
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    local arg
    for arg in "$@"; do
        case "$arg" in
            --dry-run) DRY_RUN=true ;;
            -h | --help)
                sed -n '2,9p' scripts/setup.sh | sed 's/^# \{0,1\}//'
                return 0
                ;;
            *)
                say "unknown argument: $arg (allowed: --dry-run, --help)" >&2
                return 2
                ;;
        esac
    done
    check_node || return 1
    install_system_packages
    start_docker_daemon
    install_node_packages
    if [ -n "$problems" ]; then
        printf '\nnpm run setup could not finish everything npm test needs:\n%s' "$problems" >&2
        return 1
    fi
    printf '\nready: npm test\n'
}

# Sourced (by tests, to call one function), it only defines the functions.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
