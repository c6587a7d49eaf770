#!/usr/bin/env bash
# Issue 18: A-LLMRec's stage 2 with a real LLM (SmolLM2-135M-Instruct), one variant at a time, with its learning curve
# (validation Hit@1 and the swap test against training samples seen), then scored on the same 500 seeded test users
# as every row of results/run_real_llm.sh (whose `prepare` step must have run).
#
#   bash results/run_learning_curve.sh scientific ranking      # train (resuming), curve, test rows
#   bash results/run_learning_curve.sh scientific paper
#
# Variants (README, "Making the LLM half learn"):
#   paper     eq. 8's LM loss, the paper's prompt (user token first, item tokens after titles), soft tokens unscaled
#   ranking   softmax over the 20 candidates' mean answer log-likelihoods + distillation from the stage-1 joint scorer;
#             words before the user token, item tokens before titles, standardised inputs, soft tokens at text scale,
#             item tokens starting at the embedding of " [recommended]"
# and modifiers joined to either with "+" (e.g. ranking+popularity-negatives+text-teacher):
#   popularity-negatives  training negatives drawn in proportion to their training interactions (+1), so that an
#                         item's popularity no longer tells the target (validation and test keep their stored
#                         uniform negatives)
#   text-teacher          distillation from stage 1's text-path scorer (q_i), which ranks cold items better
#   both-teachers-<w>     distillation from both of stage 1's paths, w · joint + (1 - w) · text over the candidates'
#                         log-softmaxes (benches/bench_stage1_fusion.py scores that mix and picks w on validation)
#   user-conditioned-items  F_I also reads x_u ⊙ f_dec(e_i) (beyond the paper): each item token can carry how well the
#                         item fits the user, which the LLM reads like a word, instead of matching tokens in attention
#   text-conditioned-items  as user-conditioned-items, and F_I also reads x_u ⊙ f_dec(q_i), the text path's fit
#                         (better on cold items where the joint e_i is weak on them, as on Beauty)
# and, to take one of the ranking variant's options away again (results/run_soft_token_ablation.sh):
#   user-token-first      the user token at position 0, as the paper's prompt has it
#   items-after-titles    each item token after its title, as the paper's prompt has it
#   raw-inputs            the projectors read x_u and e_i as stage 1 gives them, not standardised
#   unscaled-tokens       soft tokens as the projectors give them, not at the text embeddings' RMS
#   random-init           F_I starts at its random initialisation, not at the embedding of " [recommended]"
#   without-distillation  the ranking loss alone, no KL from stage 1
#
# Training is one pass over $TRAIN_USERS seeded training users, one user per step, 4 accumulated (the paper's batch
# of 4), a checkpoint every $SAVE_STEPS optimizer steps inside $RUNS/<dataset>/<run>/checkpoints: run the same
# command again after an interruption and it resumes there (data order, fresh candidates, optimizer and learning
# curve restored). The curve is written to results/<dataset>/curve-<run>.json after each point.
#
# <run> is $RUN_NAME, by default the variant: name it to train a variant again at another budget beside its first
# run (its folder, curve, training JSON and rows all take that name):
#   RUN_NAME=ranking+text-conditioned-items-1000samples TRAIN_USERS=1000 CURVE="200 500 1000" \
#       bash results/run_learning_curve.sh beauty ranking+text-conditioned-items
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?dataset: scientific or beauty}
variant=${2:?variant: paper or ranking, then optionally +<modifier> ... (listed above)}
RUNS=${RUNS:-runs/real-llm}
TRAIN_USERS=${TRAIN_USERS:-2000}
CURVE=${CURVE:-0 200 500 1000 2000}
CURVE_USERS=${CURVE_USERS:-100}
TEST_USERS=${TEST_USERS:-500}
SAVE_STEPS=${SAVE_STEPS:-25}
LEARNING_RATE=${LEARNING_RATE:-1e-3}
LLM=${LLM:-smollm2-135m-instruct}
RUN=${RUN_NAME:-$variant}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

ranking=(--lm_loss_weight 0 --ranking_loss_weight 1 --distillation_loss_weight 1
         --user_token_placement after_text --item_token_placement before_title
         --standardize_soft_token_inputs true --normalize_soft_tokens true --soft_token_scale text
         --item_token_init_text " [recommended]")
IFS=+ read -r -a parts <<< "$variant"
case "${parts[0]}" in paper | ranking) ;; *) echo "variant $variant must start with paper or ranking" >&2; exit 2 ;; esac
for part in "${parts[@]}"; do
    case "$part" in
        paper) flags=() ;;
        ranking) flags=("${ranking[@]}") ;;
        popularity-negatives) flags+=(--negative_popularity_exponent 1) ;;
        text-teacher) flags+=(--distillation_teacher text) ;;
        both-teachers-*) flags+=(--distillation_teacher both --distillation_joint_weight "${part#both-teachers-}") ;;
        user-conditioned-items) flags+=(--item_token_conditioning user) ;;
        text-conditioned-items) flags+=(--item_token_conditioning user+text) ;;
        user-token-first) flags+=(--user_token_placement first) ;;
        items-after-titles) flags+=(--item_token_placement after_title) ;;
        raw-inputs) flags+=(--standardize_soft_token_inputs false) ;;
        unscaled-tokens) flags+=(--normalize_soft_tokens false --soft_token_scale 1.0) ;;
        random-init) flags+=(--item_token_init_text "") ;;
        without-distillation) flags+=(--distillation_loss_weight 0) ;;
        *) echo "unknown variant part $part in $variant" >&2; exit 2 ;;
    esac
done

data=$RUNS/$name/data
model=$RUNS/$name/$RUN
mkdir -p "results/$name/retrained"
# What every variant is compared with: the SASRec and stage 1 that `prepare` trained on this machine (the same recipe
# gives other weights on another machine), scored on the test users, and SASRec also on the curve's validation users
# (the same seeded draw), the target that results/tables.py projects each curve to. Their rows are named by the
# fingerprint of the SASRec weights, which examples/evaluate.py records in every row and tables.py pairs them by.
fingerprint=$(python -c 'import sys; from transformers import AutoModel; from allmrec_hf.utils import weights_fingerprint
print(weights_fingerprint(AutoModel.from_pretrained(sys.argv[1])))' "$RUNS/$name/sasrec")
reference() {  # model row [evaluate.py flags...]
    local row=$2
    [ -f "results/$name/retrained/$row.json" ] && return
    python examples/evaluate.py --data_dir "$data" --model "$RUNS/$name/$1" --batch_size 1 --per_user true \
        --output_file "results/$name/retrained/$row.json" "${@:3}"
}
# TEST_USERS=0: the curve's validation users only, no test row (results/run_soft_token_ablation.sh).
if [ "$TEST_USERS" -gt 0 ]; then
    reference sasrec "sasrec-$fingerprint" --max_users "$TEST_USERS" --max_validation_users 50
    reference stage1 "stage1-$fingerprint" --max_users "$TEST_USERS" --max_validation_users 50
fi
reference sasrec "sasrec-validation-$fingerprint" --split validation --max_users "$CURVE_USERS"
if [ ! -f "$model/config.json" ]; then
    # shellcheck disable=SC2086
    python examples/train_stage2.py --data_dir "$data" --stage1_model "$RUNS/$name/stage1" --llm "$LLM" \
        --max_title_tokens 12 --max_train_users "$TRAIN_USERS" --num_train_epochs 1 --per_device_train_batch_size 1 \
        --gradient_accumulation_steps 4 --learning_rate "$LEARNING_RATE" --logging_steps 10 \
        --save_strategy steps --save_steps "$SAVE_STEPS" --evaluation_decoding none \
        --learning_curve_samples $CURVE --learning_curve_users "$CURVE_USERS" \
        --learning_curve_file "results/$name/curve-$RUN.json" "${flags[@]}" --output_dir "$model"
    cp "$model/eval_results.json" "results/$name/$RUN-training.json"
fi
[ "$TEST_USERS" -gt 0 ] || exit 0
for swap in false true; do
    row=allmrec-$RUN$([ "$swap" = true ] && echo -swap || true)
    [ -f "results/$name/$row.json" ] && continue
    python examples/evaluate.py --data_dir "$data" --model "$model" --max_users "$TEST_USERS" \
        --max_validation_users 50 --batch_size 1 --per_user true --swap_soft_tokens "$swap" \
        --output_file "results/$name/$row.json"
done
