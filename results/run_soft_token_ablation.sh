#!/usr/bin/env bash
# Issue 18, "each option ablated on validation": the best variant of results/run_learning_curve.sh trained with every
# option, then again with each option taken away alone, all on the same $SAMPLES seeded training samples and scored
# on the same $CURVE_USERS validation users (no test row). results/tables.py pairs each run with the run with every
# option, user by user (the curve points keep every user's Hit@1).
#
#   bash results/run_soft_token_ablation.sh scientific                       # 7 runs, ~18 min each here
#   bash results/run_soft_token_ablation.sh beauty ranking+user-conditioned-items
#
# Each run is resumable as run_learning_curve.sh's are (run the command again after an interruption); finished runs
# are skipped. Runs are named ablation-<variant>[+<what was taken away>], their curves
# results/<dataset>/curve-ablation-*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?dataset: scientific or beauty}
best=${2:-ranking+text-conditioned-items}
SAMPLES=${SAMPLES:-200}
REMOVED=${REMOVED:-none user-token-first items-after-titles raw-inputs unscaled-tokens random-init without-distillation}
for removed in $REMOVED; do
    variant=$best$([ "$removed" = none ] || echo "+$removed")
    RUN_NAME=ablation-$variant TRAIN_USERS=$SAMPLES CURVE=$SAMPLES TEST_USERS=0 \
        bash results/run_learning_curve.sh "$name" "$variant"
done
