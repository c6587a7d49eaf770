#!/usr/bin/env bash
# The paper's comparison with a real LLM (SmolLM2-135M-Instruct) on the shared Amazon data: every row of the README's
# "A-LLMRec with a real LLM" tables is one command below, its metric JSON written to results/<dataset>/<row>.json
# (evaluate.py records the command and commit that produced it). Rows whose JSON exists are skipped, so the script
# can be run again after an interruption, or split into two lanes on two cores (OMP_NUM_THREADS=1 each):
#
#   bash results/run_real_llm.sh prepare allmrec llm_only baselines generate   # everything, in this order
#   DATASETS=scientific bash results/run_real_llm.sh prepare llm_only           # one lane ...
#   DATASETS=scientific bash results/run_real_llm.sh allmrec                    # ... the other (after prepare)
#
# Steps, for each dataset of $DATASETS (scientific beauty):
#   prepare    data, SASRec, stage 1 (MiniLM frozen, 20 epochs) and their rows
#   allmrec    A-LLMRec trained, scored (and, on Scientific, scored again with the SBERT item embeddings)
#   llm_only   LLM-Only (trains nothing) scored
#   baselines  TALLRec (LoRA) and MLP-LLM trained and scored (or only those named in $BASELINES)
#   generate   A-LLMRec's greedy generation (Scientific only)
#
# Settings (README): titles capped at $MAX_TITLE_TOKENS SmolLM2 tokens; stage 2 trains one epoch on a seeded sample
# of $TRAIN_USERS training users, batch 1 with 4 accumulated steps (the paper's batch of 4); every model is scored on
# the same seeded $TEST_USERS test users (SASRec and stage 1 included) and picks sum or mean on $VALIDATION_USERS
# validation users.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs/real-llm}
TRAIN_USERS=${TRAIN_USERS:-200}
TEST_USERS=${TEST_USERS:-500}
VALIDATION_USERS=${VALIDATION_USERS:-50}
MAX_TITLE_TOKENS=${MAX_TITLE_TOKENS:-12}
DATASETS=${DATASETS:-scientific beauty}
LLM=${LLM:-smollm2-135m-instruct}
LEARNING_RATE=${LEARNING_RATE:-1e-3}
BASELINES=${BASELINES:-tallrec mlp_llm}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

prepare() {  # dataset config -> prepared data, SASRec, stage 1 (MiniLM frozen, 20 epochs)
    local name=$1 config=$2 text_length=$3
    [ -f "$RUNS/$name/data/dataset_dict.json" ] ||
        python examples/prepare_data.py --config "$config" --output_dir "$RUNS/$name/data"
    [ -f "$RUNS/$name/sasrec/config.json" ] ||
        python examples/train_cf.py --config "$config" --data_dir "$RUNS/$name/data" --output_dir "$RUNS/$name/sasrec"
    [ -f "$RUNS/$name/stage1/config.json" ] ||
        python examples/train_stage1.py --config "$config" --data_dir "$RUNS/$name/data" --cf_model "$RUNS/$name/sasrec" \
        --sentence_encoder_training frozen --max_text_length "$text_length" --bf16 false --num_train_epochs 20 \
        --output_dir "$RUNS/$name/stage1"
}

evaluate() {  # name model output [evaluate.py flags...]
    local name=$1 model=$2 row=$3
    shift 3
    [ -f "results/$name/$row.json" ] && return
    python examples/evaluate.py --data_dir "$RUNS/$name/data" --model "$model" --max_users "$TEST_USERS" \
        --max_validation_users "$VALIDATION_USERS" --batch_size 1 --per_user true --output_file "results/$name/$row.json" "$@"
}

train() {  # name method [row: run folder and training JSON name, the method by default]
    local name=$1 method=$2 row=${3:-$2}
    [ -f "$RUNS/$name/$row/config.json" ] && return
    python examples/train_stage2.py --data_dir "$RUNS/$name/data" --stage1_model "$RUNS/$name/stage1" --llm "$LLM" \
        --method "$method" --max_title_tokens "$MAX_TITLE_TOKENS" --max_train_users "$TRAIN_USERS" --num_train_epochs 1 \
        --per_device_train_batch_size 1 --gradient_accumulation_steps 4 --learning_rate "$LEARNING_RATE" \
        --logging_steps 10 --save_strategy no --evaluation_decoding none --output_dir "$RUNS/$name/$row"
    mkdir -p "results/$name"
    cp "$RUNS/$name/$row/eval_results.json" "results/$name/$row-training.json"
}

CONFIGS="scientific:hub_configs/scientific_2018.json:128 beauty:hub_configs/beauty_2014.json:64"
# Rows of an LLM other than the default carry its name (llm_only-gemma-3-270m, ...), so that they sit beside the
# SmolLM2 rows instead of being skipped as already present; SASRec and stage 1 use no LLM and keep one row.
LLM_TAG=""
[ "$LLM" = smollm2-135m-instruct ] || LLM_TAG=-$(basename "$LLM" .gguf)

step() {  # step name config text_length
    local step=$1 name=$2 config=$3 text_length=$4
    case "$step" in
        prepare)
            prepare "$name" "$config" "$text_length"
            evaluate "$name" "$RUNS/$name/sasrec" sasrec
            evaluate "$name" "$RUNS/$name/stage1" stage1 ;;
        allmrec)
            train "$name" allmrec "allmrec$LLM_TAG"
            evaluate "$name" "$RUNS/$name/allmrec$LLM_TAG" "allmrec$LLM_TAG" --decoding score
            if [ "$name" = scientific ]; then
                evaluate "$name" "$RUNS/$name/allmrec$LLM_TAG" "allmrec_sbert$LLM_TAG" --decoding score \
                    --item_embedding_path text
            fi ;;
        llm_only)
            train "$name" llm_only "llm_only$LLM_TAG"
            evaluate "$name" "$RUNS/$name/llm_only$LLM_TAG" "llm_only$LLM_TAG" --decoding score ;;
        baselines)
            # The README's first rows trained on 200 samples; a larger $TRAIN_USERS (the budget of a
            # run_learning_curve.sh variant) gets its own run folder and row, <method>-<N>samples.
            for method in $BASELINES; do
                local row=$method
                [ "$TRAIN_USERS" = 200 ] || row=$method-${TRAIN_USERS}samples
                row=$row$LLM_TAG
                train "$name" "$method" "$row"
                evaluate "$name" "$RUNS/$name/$row" "$row" --decoding score
            done ;;
        generate)
            if [ "$name" = scientific ]; then
                evaluate "$name" "$RUNS/$name/allmrec$LLM_TAG" "allmrec_generate$LLM_TAG" --decoding generate \
                    --keep_predictions true
            fi ;;
        *) echo "usage: $0 {prepare|allmrec|llm_only|baselines|generate}..." >&2; exit 2 ;;
    esac
}

[ $# -gt 0 ] || { echo "usage: $0 {prepare|allmrec|llm_only|baselines|generate}..." >&2; exit 2; }
for step_name in "$@"; do
    for entry in $CONFIGS; do
        IFS=: read -r name config text_length <<< "$entry"
        case " $DATASETS " in *" $name "*) ;; *) continue ;; esac
        mkdir -p "results/$name"
        step "$step_name" "$name" "$config" "$text_length"
    done
done
