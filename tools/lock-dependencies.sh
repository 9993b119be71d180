#!/usr/bin/env bash
# Refresh constraints.txt: the exact versions of every dependency (test extras included) that the suite
# passed with. Installs the project into a new virtual environment from its version ranges in
# pyproject.toml, then writes what pip resolved. Run the tests with the new file before committing it.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d)/venv
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -e '.[test]'
{
    echo "# Exact versions the test suite passed with; refresh with: bash tools/lock-dependencies.sh"
    echo "# (pyproject.toml keeps the ranges for those who embed the package). Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())')."
    "$venv/bin/pip" freeze --exclude-editable | grep -v '^-e ' | sort -f
} > constraints.txt
rm -rf "$(dirname "$venv")"
echo "wrote constraints.txt ($(grep -vc '^#' constraints.txt) packages)"
