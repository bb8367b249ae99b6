#!/usr/bin/env bash
# End-to-end check of `infill edit`, as a person would use it: the real command in a real
# terminal (tmux), keys sent with send-keys, the screen read with capture-pane. It opens a
# file with a __FILL__ marker, generates with a tiny random-weight model, accepts, opens the
# help screen, saves and quits, then checks the file on disk. Exits non-zero (and prints the
# screen) as soon as an expected screen does not show up.
#
#   tests/e2e_tmux.sh                 # uses `python -m infill`; PYTHON=... to pick the interpreter
#   INFILL="infill" tests/e2e_tmux.sh # or any command that runs the CLI
#
# Needs tmux (apt-get install tmux). No display, no network, no GPU.
set -euo pipefail

PYTHON=${PYTHON:-python}
case $PYTHON in  # the editor runs in another directory: make a relative path absolute
    */*) PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")" ;;
esac
INFILL=${INFILL:-"$PYTHON -m infill"}
TIMEOUT=${E2E_TIMEOUT:-60}
work=$(mktemp -d)
session="infill-e2e-$$"

cleanup() {
    tmux kill-session -t "$session" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

command -v tmux >/dev/null || { echo "e2e: tmux is not installed" >&2; exit 2; }

"$PYTHON" -c "import sys; from infill.testing import make_tiny_model; make_tiny_model(sys.argv[1])" \
    "$work/model" >/dev/null 2>&1
cat >"$work/sample.py" <<'PY'
def add(a, b):
    return __FILL__


def greet(name):
    return "hello " + name
PY

screen() { tmux capture-pane -p -t "$session" 2>/dev/null || true; }

fail() {
    echo "e2e FAILED: $1" >&2
    echo "----- screen -----" >&2
    screen >&2
    echo "------------------" >&2
    exit 1
}

wait_for() {  # wait_for TEXT [SECONDS]
    local deadline=$((SECONDS + ${2:-$TIMEOUT}))
    until screen | grep -qF -- "$1"; do
        ((SECONDS < deadline)) || fail "the screen never showed '$1'"
        sleep 0.1
    done
}

keys() { tmux send-keys -t "$session" "$@"; }

tmux new-session -d -s "$session" -x 100 -y 30 \
    "cd '$work' && TERM=xterm-256color $INFILL edit --model '$work/model' --device cpu sample.py; \
     echo \"exit=\$?\" >'$work/exit'; sleep 30"

wait_for "sample.py"
wait_for "ready"                          # the model loaded in the background
screen | grep -qF "__FILL__" && fail "the marker should be shown as a span, not as text"

keys C-g
wait_for "review"                         # frames ran, the result is under review
wait_for "diff sample.py"                 # with its diff preview
keys Enter
wait_for "accepted"

keys F1
wait_for "infill edit: keys"
keys Escape
deadline=$((SECONDS + 10))  # a loaded machine can take more than a moment to redraw
while screen | grep -qF "infill edit: keys"; do
    ((SECONDS < deadline)) || fail "escape did not close the help screen"
    sleep 0.1
done

keys C-s
wait_for "Saved sample.py"
keys C-q
deadline=$((SECONDS + TIMEOUT))
until [[ -f "$work/exit" ]]; do
    ((SECONDS < deadline)) || fail "the editor did not quit"
    sleep 0.1
done

grep -qx "exit=0" "$work/exit" || fail "exit status: $(cat "$work/exit")"
grep -qF "__FILL__" "$work/sample.py" && fail "the saved file still holds the marker"
grep -qF 'return "hello " + name' "$work/sample.py" || fail "the text around the fill changed"
echo "e2e ok: opened, generated, reviewed, accepted, saved, quit"
