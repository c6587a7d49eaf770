#!/usr/bin/env bash
# Issue 19: the modality-aware baselines (MoRec, CTRL, RECFORMER) on the data and SASRec of results/run_real_llm.sh
# (its `prepare` step must have run), each scored by examples/train_cf.py on ALL test users after training; the row is
# that eval_results.json (Hit@1/5/10, NDCG, cold/warm, train_seconds, command and commit), beside SASRec's own; CTRL's
# and RECFORMER's pre-trained models are scored too (<model>-pretrain.json: what the contrastive stage alone gives).
#
#   bash results/run_modality_aware.sh scientific morec ctrl        # the cheap two (minutes each)
#   bash results/run_modality_aware.sh beauty morec ctrl recformer  # RECFORMER: 32 minutes on Scientific here
#   RECFORMER_EPOCHS=1 bash results/run_modality_aware.sh beauty recformer  # the README's Beauty row (one epoch)
#
# A model whose folder holds a config.json is not retrained; a row whose JSON exists is not rewritten; an interrupted
# training resumes from its last checkpoint (train_cf.py).
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?dataset: scientific or beauty}
shift
RUNS=${RUNS:-runs/real-llm}
RECFORMER_EPOCHS=${RECFORMER_EPOCHS:-2}  # fine-tuning epochs; the best validation epoch is kept
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
case "$name" in
    scientific) config=hub_configs/scientific_2018.json ;;
    beauty) config=hub_configs/beauty_2014.json ;;
    *) echo "unknown dataset $name" >&2; exit 2 ;;
esac
data=$RUNS/$name/data
out=results/$name/all-users
mkdir -p "$out"

train() {  # folder [train_cf.py flags...]
    local folder=$1
    shift
    [ -f "$folder/config.json" ] ||
        python examples/train_cf.py --config "$config" --data_dir "$data" --output_dir "$folder" "$@"
}
keep_row() {  # folder row: that model's scoring, once, as results/<dataset>/all-users/<row>.json
    # A kept row needs no model folder, so a fresh checkout adds rows without retraining the ones it holds.
    [ -f "$out/$2.json" ] || cp "$RUNS/$name/$1/eval_results.json" "$out/$2.json"
}
pretrain=(--training_stage pretrain --eval_strategy no --load_best_model_at_end false)

keep_row sasrec sasrec
for model in "$@"; do
    case "$model" in
        morec) train "$RUNS/$name/morec" --backbone morec ;;
        ctrl)
            train "$RUNS/$name/ctrl_pretrain" --backbone ctrl "${pretrain[@]}" --num_train_epochs 20
            keep_row ctrl_pretrain ctrl-pretrain
            train "$RUNS/$name/ctrl" --backbone ctrl --pretrained_model "$RUNS/$name/ctrl_pretrain" ;;
        recformer)
            train "$RUNS/$name/recformer_pretrain" --backbone recformer "${pretrain[@]}" --num_train_epochs 1 \
                --learning_rate 5e-5
            keep_row recformer_pretrain recformer-pretrain
            train "$RUNS/$name/recformer" --backbone recformer --pretrained_model "$RUNS/$name/recformer_pretrain" \
                --num_train_epochs "$RECFORMER_EPOCHS" --learning_rate 5e-5 --early_stopping_patience 0 ;;
        *) echo "unknown model $model (morec, ctrl, recformer)" >&2; exit 2 ;;
    esac
    keep_row "$model" "$model"
done
