# Shared by the sweep tests (sim_run_test.sh, slurm_test.sh, parallel_test.sh): ok/bad
# counting into $fails, and runs.csv without its one column allowed to differ.
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# runs.csv without the wall_seconds column (the only one allowed to differ).
strip_wall() {
  python3 - "$1" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
i = rows[0].index("wall_seconds")
for r in rows:
    print(",".join(r[:i] + r[i + 1:]))
EOF
}
