#!/bin/sh
# Make a throwaway git repository with a staged file holding a hole, to try `infill hook`
# and `infill diff`:   sh samples/make_demo_repo.sh /tmp/infill-demo
set -eu
dir=${1:-/tmp/infill-demo}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
git init -q
git config user.name "infill demo"
git config user.email "demo@example.invalid"
cp "$here/fizzbuzz.py" app.py
sed -i 's/__FILL_1__/"Fizz"/; s/return __FILL__/return sum(values) \/ len(values)/' app.py
sed -i '/>>> infill/d; /<<< infill/d' app.py
git add app.py
git commit -qm "first version"
# An unstaged change (a diff for `infill diff`) and a staged hole (for `infill hook`).
printf '\n\ndef median(values):\n    ordered = sorted(values)\n    return ordered[len(ordered) // 2]\n' >> app.py
printf 'def greet(name):\n    return __FILL__\n' > greet.py
git add greet.py
echo "demo repository ready in $dir"
