# shellcheck shell=sh disable=SC2016  # the wrappers written below expand "$0" and "$@" themselves
# Shared by the stub commands of the integration tests' parent images (busybox sh).
# Every stub logs its call to calls.log: one line per call, the command then each argument,
# separated by tabs. What stubs "install" is recorded where the tests read it back.

STUB_LOG_DIR=/var/log/truss-stub
STUB_HOME=/usr/lib/truss-stub

# stub_log NAME [ARG...]
stub_log() {
    mkdir -p "$STUB_LOG_DIR"
    _line=$1
    shift
    for _a in "$@"; do _line="$_line	$_a"; done
    printf '%s\n' "$_line" >>"$STUB_LOG_DIR/calls.log"
}

# stub_log_stdin NAME TEXT: what a stub read on its standard input.
stub_log_stdin() {
    mkdir -p "$STUB_LOG_DIR"
    printf '=== stdin of %s\n%s\n' "$1" "$2" >>"$STUB_LOG_DIR/stdin.log"
}

# stub_die MESSAGE: fail the way the real command would, with its message on stderr.
stub_die() {
    printf '%s\n' "$*" >&2
    exit 1
}

# stub_write_python FILE VERSION PREFIX: an interpreter of VERSION whose environment is PREFIX.
stub_write_python() {
    mkdir -p "$(dirname "$1")"
    printf '#!/bin/sh\nexec %s/python %s %s "$0" "$@"\n' "$STUB_HOME" "$2" "$3" >"$1"
    chmod 755 "$1"
}

# stub_write_pip FILE VERSION PREFIX: the pip script of an environment.
stub_write_pip() {
    mkdir -p "$(dirname "$1")"
    printf '#!/bin/sh\nexec %s/python %s %s "$0" -m pip "$@"\n' "$STUB_HOME" "$2" "$3" >"$1"
    chmod 755 "$1"
}
