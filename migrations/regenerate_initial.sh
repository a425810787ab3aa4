#!/usr/bin/env bash
# Regenerate the core's initial migration from the current models (and
# create the first revision of any installed plugin that has none).
#
# While the schema is young the core keeps ONE initial revision (id 0001_core,
# branch label "core"); plugins' branches depend on it by that label. Run this
# after changing core models, then review the file and commit it:
#
#     bash migrations/regenerate_initial.sh
#
# It autogenerates against an empty scratch SQLite database, then checks that
# the result upgrades (all heads), leaves nothing to autogenerate and
# downgrades to base -- on SQLite, and on PostgreSQL too when
# STOREFRONT_TEST_DATABASE_URL is set (via tests/test_migrations.py).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cd "$root"
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python="python3"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

rm -f "$here"/versions/*core_schema*.py
rm -rf "$here"/versions/__pycache__

export STOREFRONT_DATABASE_URL="sqlite:///$scratch/scratch.db"
export STOREFRONT_SECRET_KEY="regenerate-initial-migration"
export STOREFRONT_LOAD_ENTRY_POINTS=false
export FLASK_APP="$root/wsgi.py"

# Without plugins: their branches depend on "core", which does not exist
# while it is being regenerated (and their tables are not the core's).
STOREFRONT_PLUGINS='[]' "$python" -m flask db migrate -m "core schema" --rev-id 0001_core --branch-label core

# Installed plugins whose branch has no revision yet get their initial one
# (0001_<name>, labelled <name>, depending on core). Existing plugin
# revisions are never touched: a plugin whose models drifted needs a new
# revision from its author (flask db migrate -x plugin=<name>).
missing="$("$python" - <<'PY'
import glob, os
from storefront import create_app
from storefront.plugins.host import get_host
app = create_app()
for name, manifest in get_host(app).plugins.items():
    if manifest.migrations and not glob.glob(os.path.join(manifest.migrations, "*.py")):
        print(name)
PY
)"
for name in $missing; do
    "$python" -m flask db upgrade heads
    "$python" -m flask db migrate -x "plugin=$name" -m "$name schema" --rev-id "0001_$name"
done

"$python" -m flask db upgrade heads
"$python" -m flask db downgrade base
echo "regenerated: $(ls "$here"/versions/*core_schema*.py)"

"$python" -m pytest -q -p no:cacheprovider tests/test_migrations.py
