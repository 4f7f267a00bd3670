#!/usr/bin/env bash
# Re-measure the README's training figures: run before a release, on an otherwise idle machine.
#
#     scripts/readme_figures.sh [OUT] [SECTION...]
#
# SECTION is any of: train (oval and re:Invent 2018, default settings, until lapping), objects
# (3 boxes, object_avoidance, oval), bots (3 bot cars, object_avoidance, oval), bench (three
# bundled rewards x two tracks x two seeds, 2 minutes each), race (the race recipe, `racer train
# --race`, 20 minutes on re:Invent 2018 with seeds 0, 1, 2, each best model's 3 evaluation laps),
# env (scripts/bench_env.py); default: all but race (an hour). Each run writes its folder under OUT (default runs/readme-figures) and its output
# to OUT/<name>.txt; the lines the README quotes are printed at the end. Figures are wall-clock:
# a busy machine gives other numbers, so nothing here is asserted in tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RACER=${RACER:-.venv/bin/racer}
OUT=${1:-runs/readme-figures}
shift || true
SECTIONS=${*:-train objects bots bench env}
SEEDS=${SEEDS:-0 1 2}
REINVENT=../shared/deepracer-tracks/reinvent_base.npy
mkdir -p "$OUT"

# run NAME COMMAND...: the command's output to OUT/NAME.txt, its peak memory appended.
run() {
    local name=$1
    shift
    echo "== $name: $*"
    /usr/bin/time -f "peak memory %M kB, wall %e s" "$@" > "$OUT/$name.txt" 2>&1 || {
        echo "   failed, see $OUT/$name.txt"
        return 1
    }
    grep -E "^(stopped|first lap check|peak memory|RacerEnv|RacerVecEnv)|laps?,|ideal" "$OUT/$name.txt" | sed "s/^/   /" || true
}

for section in $SECTIONS; do
    case $section in
    train)
        rm -rf "$OUT/oval" "$OUT/reinvent"
        run oval "$RACER" train --out "$OUT/oval" --minutes 10 --until-lapping
        run reinvent "$RACER" train --out "$OUT/reinvent" --track "$REINVENT" --minutes 10 --until-lapping
        ;;
    objects)
        rm -rf "$OUT/objects"
        run objects "$RACER" train --out "$OUT/objects" --obstacles 3 --reward object_avoidance \
            --minutes 15 --until-lapping
        run objects-eval "$RACER" evaluate "$OUT/objects" --laps 3
        ;;
    bots)
        rm -rf "$OUT/bots"
        run bots "$RACER" train --out "$OUT/bots" --bots 3 --reward object_avoidance \
            --minutes 15 --until-lapping
        run bots-eval "$RACER" evaluate "$OUT/bots" --laps 3
        ;;
    bench)
        rm -rf "$OUT/bench"
        run bench "$RACER" bench follow_center_line progress_speed racing_line \
            --tracks "oval,$REINVENT" --seeds 2 --budget 2m --jobs 2 --out "$OUT/bench"
        cat "$OUT/bench/leaderboard.md" 2>/dev/null || true
        ;;
    race)
        for seed in $SEEDS; do
            rm -rf "$OUT/race-$seed"
            run "race-$seed" "$RACER" train --race --track "$REINVENT" --minutes 20 --seed "$seed" \
                --out "$OUT/race-$seed"
            run "race-$seed-eval" "$RACER" evaluate "$OUT/race-$seed" --laps 3
        done
        ;;
    env)
        run env "$PY" scripts/bench_env.py
        cat "$OUT/env.txt"
        ;;
    *)
        echo "unknown section '$section': use train, objects, bots, bench, race or env" >&2
        exit 2
        ;;
    esac
done
