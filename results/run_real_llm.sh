#!/usr/bin/env bash
# The paper's comparison with a real LLM (SmolLM2-135M-Instruct) on the shared Amazon data: every row of the README's
# "A-LLMRec with a real LLM" tables is one command below, its metric JSON written to results/<dataset>/<row>.json
# (evaluate.py records the command and commit that produced it). Rows whose JSON exists are skipped, so the script
# can be run again after an interruption, or lane by lane on two cores:
#
#   bash results/run_real_llm.sh prepare    # data, SASRec, stage 1 and their rows, for both datasets
#   bash results/run_real_llm.sh a          # A-LLMRec (+ SBERT, generation) on Scientific, then on Beauty
#   bash results/run_real_llm.sh b          # LLM-Only, MLP-LLM, TALLRec on Scientific, then LLM-Only on Beauty
#
# Settings (README): titles capped at 16 SmolLM2 tokens; stage 2 trains one epoch on a seeded sample of
# $TRAIN_USERS training users, batch 1 with 4 accumulated steps (the paper's batch of 4); every model is scored on
# the same seeded $TEST_USERS test users (SASRec and stage 1 included) and picks sum or mean on $VALIDATION_USERS
# validation users.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs/real-llm}
TRAIN_USERS=${TRAIN_USERS:-1000}
TEST_USERS=${TEST_USERS:-500}
VALIDATION_USERS=${VALIDATION_USERS:-200}
LLM=${LLM:-smollm2-135m-instruct}
LEARNING_RATE=${LEARNING_RATE:-1e-3}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

prepare() {  # dataset config -> prepared data, SASRec, stage 1 (MiniLM frozen, 20 epochs)
    local name=$1 config=$2 text_length=$3
    [ -f "$RUNS/$name/stage1/config.json" ] && return
    python examples/prepare_data.py --config "$config" --output_dir "$RUNS/$name/data"
    python examples/train_cf.py --config "$config" --data_dir "$RUNS/$name/data" --output_dir "$RUNS/$name/sasrec"
    python examples/train_stage1.py --config "$config" --data_dir "$RUNS/$name/data" --cf_model "$RUNS/$name/sasrec" \
        --text_encoder_training frozen --max_text_length "$text_length" --bf16 false --num_train_epochs 20 \
        --output_dir "$RUNS/$name/stage1"
}

evaluate() {  # name model output [evaluate.py flags...]
    local name=$1 model=$2 row=$3
    shift 3
    [ -f "results/$name/$row.json" ] && return
    python examples/evaluate.py --data_dir "$RUNS/$name/data" --model "$model" --max_users "$TEST_USERS" \
        --max_validation_users "$VALIDATION_USERS" --batch_size 1 --per_user true --output_file "results/$name/$row.json" "$@"
}

train() {  # name method
    local name=$1 method=$2
    [ -f "$RUNS/$name/$method/config.json" ] && return
    python examples/train_stage2.py --data_dir "$RUNS/$name/data" --stage1_model "$RUNS/$name/stage1" --llm "$LLM" \
        --method "$method" --max_title_tokens 16 --max_train_users "$TRAIN_USERS" --num_train_epochs 1 \
        --per_device_train_batch_size 1 --gradient_accumulation_steps 4 --learning_rate "$LEARNING_RATE" \
        --logging_steps 10 --save_strategy no --evaluation_decoding none --output_dir "$RUNS/$name/$method"
    mkdir -p "results/$name"
    cp "$RUNS/$name/$method/eval_results.json" "results/$name/$method-training.json"
}

DATASETS="scientific:hub_configs/scientific_2018.json:128 beauty:hub_configs/beauty_2014.json:64"

for entry in $DATASETS; do
    IFS=: read -r name config text_length <<< "$entry"
    mkdir -p "results/$name"
    case "${1:-}" in
        prepare)
            prepare "$name" "$config" "$text_length"
            evaluate "$name" "$RUNS/$name/sasrec" sasrec
            evaluate "$name" "$RUNS/$name/stage1" stage1 ;;
        a)
            train "$name" allmrec
            evaluate "$name" "$RUNS/$name/allmrec" allmrec --decoding score
            if [ "$name" = scientific ]; then
                evaluate "$name" "$RUNS/$name/allmrec" allmrec_sbert --decoding score --item_embedding_path text
                evaluate "$name" "$RUNS/$name/allmrec" allmrec_generate --decoding generate --keep_predictions true
            fi ;;
        b)
            train "$name" llm_only
            evaluate "$name" "$RUNS/$name/llm_only" llm_only --decoding score
            if [ "$name" = scientific ]; then
                for method in mlp_llm tallrec; do
                    train "$name" "$method"
                    evaluate "$name" "$RUNS/$name/$method" "$method" --decoding score
                done
            fi ;;
        *) echo "usage: $0 prepare|a|b" >&2; exit 2 ;;
    esac
done
