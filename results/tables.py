"""Print the README's "A-LLMRec with a real LLM" tables from the row JSONs under results/<dataset>/.

    python results/tables.py            # every dataset folder with rows

Each figure is read from the JSON that `results/run_real_llm.sh` wrote for the row (examples/evaluate.py's output, its
command and commit under ``provenance``); a row whose JSON is missing is printed as "not run".
"""

import functools
import json
import math
from pathlib import Path

from allmrec_hf.llm_reference import PACKAGED_LLMS


HERE = Path(__file__).parent
# (row file, label, key prefix): stage 1's JSON holds the joint scorer (no prefix) and the text path ("text_").
ROWS = (
    ("sasrec", "SASRec", ""),
    ("stage1", "Stage 1 joint scorer (no LLM)", ""),
    ("stage1", "Stage 1 text path (no LLM)", "text_"),
    ("llm_only", "LLM-Only", ""),
    ("tallrec", "TALLRec (LoRA)", ""),
    ("mlp_llm", "MLP-LLM", ""),
    ("allmrec", "A-LLMRec", ""),
    ("allmrec_sbert", "A-LLMRec (SBERT)", ""),
)
# Then every variant of results/run_learning_curve.sh found in the folder: allmrec-<variant>.json (-swap.json: the
# same model with the candidates' soft tokens swapped, -sbert.json: reading q_i); -200users rows are an earlier draw
# of fewer test users and -training.json files are training logs.
VARIANT_PREFIX = "allmrec-"
TRAINED = ("tallrec", "mlp_llm", "allmrec")
# Baselines trained on a larger budget than the first rows' 200 samples (run_real_llm.sh with TRAIN_USERS=N, the
# budget of a variant): <method>-<N>samples.json.
BASELINE_LABELS = {"tallrec": "TALLRec (LoRA)", "mlp_llm": "MLP-LLM"}
# Rows of an LLM other than SmolLM2 (run_real_llm.sh with LLM=<name>) carry its name: llm_only-gemma-3-270m.json,
# tallrec-500samples-gemma-3-270m.json, allmrec-opt-6.7b.json (LLM=facebook/opt-6.7b), ... Variants of
# run_learning_curve.sh always start with one of VARIANT_STARTS (it refuses any other), so allmrec-<name> is told apart.
OTHER_PACKAGED_LLMS = tuple(name for name in PACKAGED_LLMS if name != "smollm2-135m-instruct")
VARIANT_STARTS = ("paper", "ranking")
NOT_LLM_NAMES = ("training", "200users", "swap")  # endings of logs and of earlier draws, not an LLM's name


def llm_names(folder: Path) -> tuple[str, ...]:
    """The LLMs other than SmolLM2 that may have rows in ``folder``: the packaged ones and any other found as the
    tag of a row run_real_llm.sh writes (<row>-<name>.json, <method>-<N>samples-<name>.json)."""
    names = set(OTHER_PACKAGED_LLMS)
    for method in TRAINED + ("llm_only",):
        for path in folder.glob(f"{method}-*.json"):
            name = path.stem.removeprefix(f"{method}-")
            if name.partition("-")[0].endswith("samples"):
                name = name.partition("-")[2]
            if name and not name.startswith(VARIANT_STARTS) and not name.endswith(NOT_LLM_NAMES):
                names.add(name)
    return tuple(sorted(names))


def without_llm(stem: str, names: tuple[str, ...]) -> str:
    for llm in names:
        stem = stem.removesuffix(f"-{llm}")
    return stem


def budget_rows(folder: Path) -> list[tuple[str, str, str]]:
    names = llm_names(folder)
    rows = []
    for method, label in BASELINE_LABELS.items():
        budgets = sorted(
            {
                int(budget.removeprefix(f"{method}-").removesuffix("samples"))
                for budget in (without_llm(path.stem, names) for path in folder.glob(f"{method}-*samples*.json"))
                if budget.endswith("samples")
            }
        )
        rows += [(f"{method}-{budget}samples", f"{label}, {budget} samples", "") for budget in budgets]
    return rows


def other_llm_rows(folder: Path, rows: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The rows among ``rows`` that another LLM also has in ``folder``, under their tagged names."""
    names = llm_names(folder)
    return [
        (f"{row}-{llm}", f"{label}, {llm}", prefix)
        for row, label, prefix in rows
        for llm in names
        if (folder / f"{row}-{llm}.json").exists()
    ]


def variant_rows(folder: Path) -> list[tuple[str, str, str]]:
    rows = []
    for path in sorted(
        folder.glob(f"{VARIANT_PREFIX}*.json"), key=lambda path: (path.stem.removesuffix("-swap"), path.stem)
    ):
        variant = path.stem.removeprefix(VARIANT_PREFIX)
        if path.stem.endswith(("-training", "-200users", "-200users-swap")) or not variant.startswith(VARIANT_STARTS):
            continue  # allmrec-<llm>: run_real_llm.sh's paper row for another LLM (other_llm_rows)
        # -swap: soft tokens swapped; -sbert: the same model reading the text path's q_i (evaluate.py
        # --item_embedding_path text, the paper's "A-LLMRec (SBERT)").
        base = variant.removesuffix("-swap").removesuffix("-sbert")
        label = f"A-LLMRec{' (SBERT)' if variant.endswith('-sbert') else ''}, {base} (run_learning_curve.sh)"
        rows.append((path.stem, label + (", soft tokens swapped" if variant.endswith("-swap") else ""), ""))
    return rows


def standard_error(hit_rate: float, users: int) -> float:
    return math.sqrt(hit_rate * (1 - hit_rate) / users)


def figure(results: dict, key: str) -> str:
    return f"{results[key]:.4f}" if key in results else "–"


def scoring_table(folder: Path) -> list[str]:
    lines = [
        "| model | Hit@1 (± s.e.) | Hit@1 cold | Hit@1 warm | NDCG@10 | score normalisation | users | s/user |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [*ROWS, *budget_rows(folder)]
    for row, label, prefix in rows + other_llm_rows(folder, rows) + variant_rows(folder):
        path = folder / f"{row}.json"
        if not path.exists():
            continue
        results = json.loads(path.read_text())
        hit, users = results[f"{prefix}hit@1"], results["num_users"]
        seconds = results.get("seconds_per_batch", "–") if results.get("batch_size", 1) == 1 else "–"
        lines.append(
            f"| {label} | {hit:.4f} ± {standard_error(hit, users):.4f} | {figure(results, prefix + 'hit@1_cold')} | "
            f"{figure(results, prefix + 'hit@1_warm')} | {figure(results, prefix + 'ndcg@10')} | "
            f"{results.get('score_normalization', '–')} | {users} | {seconds} |"
        )
    generated = folder / "allmrec_generate.json"
    if generated.exists():
        results = json.loads(generated.read_text())
        lines.append(
            f"| A-LLMRec, greedy generation (exact / lenient) | {results['hit@1']:.4f} / "
            f"{results['hit@1_lenient']:.4f} | {figure(results, 'hit@1_cold')} | {figure(results, 'hit@1_warm')} | – "
            f"| names a candidate: {results['named_a_candidate']:.3f} | {results['num_users']} | "
            f"{results.get('seconds_per_batch', '–')} |"
        )
    return lines


def training_table(folder: Path) -> list[str]:
    lines = [
        "| method | training users (samples) | epochs | optimizer steps | hours | loss, first → last logged step |",
        "|---|---|---|---|---|---|",
    ]
    methods = [path.name.removesuffix("-training.json") for path in folder.glob("*-training.json")]

    def order(name: str) -> tuple[int, str]:  # tallrec-500samples sorts with tallrec
        method = name.split("-")[0]
        return TRAINED.index(method) if method in TRAINED else len(TRAINED), name

    for method in sorted(methods, key=order):
        results = json.loads((folder / f"{method}-training.json").read_text())
        if "train_users" not in results:  # LLM-Only trains nothing: its file only records the (empty) run
            continue
        curve = results.get("loss_history", [])
        losses = f"{curve[0]['loss']:.3f} → {curve[-1]['loss']:.3f}" if curve else "–"
        last = curve[-1] if curve else {}
        lines.append(
            f"| {method} | {results['train_users']} | {last.get('epoch', '–')} | {last.get('step', '–')} | "
            f"{results['train_seconds'] / 3600:.2f} | {losses} |"
        )
    return lines


# Issue 19's rows (results/run_modality_aware.sh): examples/train_cf.py's scoring of every test user after training.
ALL_USER_ROWS = (
    ("sasrec", "SASRec"),
    ("morec", "MoRec"),
    ("ctrl-pretrain", "CTRL, contrastive pre-training only"),
    ("ctrl", "CTRL"),
    ("recformer-pretrain", "RECFORMER, pre-training only"),
    ("recformer", "RECFORMER"),
)


def all_users_table(folder: Path) -> list[str]:
    lines = [
        "| model | Hit@1 | Hit@1 cold | Hit@1 warm | Hit@10 | NDCG@10 | users | training minutes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row, label in ALL_USER_ROWS:
        path = folder / f"{row}.json"
        if path.exists():
            results = json.loads(path.read_text())
            pretraining = folder / f"{row}-pretrain.json"  # a fine-tuned row's time includes its pre-training
            if pretraining.exists():
                results["train_seconds"] += json.loads(pretraining.read_text())["train_seconds"]
            lines.append(
                f"| {label} | {results['hit@1']:.4f} | {results['hit@1_cold']:.4f} | {results['hit@1_warm']:.4f} | "
                f"{results['hit@10']:.4f} | {results['ndcg@10']:.4f} | {results['num_users']} | "
                f"{results['train_seconds'] / 60:.1f} |"
            )
    return lines


def curve_table(path: Path) -> list[str]:
    """A learning curve (`LearningCurveCallback`'s JSON): validation Hit@1 and the swap test against samples seen."""
    lines = [
        f"{path.stem}: validation Hit@1 against training samples seen",
        "",
        "| samples | Hit@1 | swapped | cold | warm | NDCG@10 | item-token cosine | user-token cosine | item RMS / text RMS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for point in json.loads(path.read_text())["points"]:
        lines.append(
            f"| {point['samples']} | {point['hit@1']:.3f} | {figure(point, 'swapped_hit@1')} | "
            f"{figure(point, 'hit@1_cold')} | {figure(point, 'hit@1_warm')} | {figure(point, 'ndcg@10')} | "
            f"{figure(point, 'item_token_cosine')} | {figure(point, 'user_token_cosine')} | "
            f"{figure(point, 'item_token_rms')} / {figure(point, 'text_token_rms')} |"
        )
    return lines


def curve_chart(path: Path) -> list[str]:
    """The same curve as a Mermaid chart (GitHub renders it): Hit@1, then Hit@1 with the soft tokens swapped."""
    points = json.loads(path.read_text())["points"]
    series = [[point.get(key, float("nan")) for point in points] for key in ("hit@1", "swapped_hit@1")]
    top = math.ceil(max(value for line in series for value in line if value == value) * 10 + 0.5) / 10
    return [
        "```mermaid",
        "xychart-beta",
        f'    title "{path.stem}: validation Hit@1 (upper line) and with soft tokens swapped"',
        f'    x-axis "training samples" [{", ".join(str(point["samples"]) for point in points)}]',
        f'    y-axis "Hit@1" 0 --> {top:.1f}',
        *(f"    line [{', '.join(f'{value:.3f}' for value in line)}]" for line in series),
        "```",
    ]


# SASRec scored on the learning curve's validation users (examples/evaluate.py --split validation --max_users 100,
# the same seeded draw as LearningCurveCallback's): the target a curve is projected to.
CURVE_REFERENCE = "retrained/sasrec-validation"
# Past a million samples (over 20 passes over Beauty's training users) a near-flat trend says nothing more precise.
PROJECTION_LIMIT = 1_000_000


def log_linear_fit(samples: list[float], values: list[float]) -> tuple[float, float]:
    """Least squares of ``value = intercept + slope * ln(samples)``: learning curves of this kind rise about
    linearly in the log of the data seen, so this is the trend the README projects with. By hand, not np.polyfit:
    a flat curve must keep a slope of exactly 0 (polyfit leaves a rounding-error slope that reads as rising)."""
    logs = [math.log(count) for count in samples]
    mean_log, mean_value = sum(logs) / len(logs), sum(values) / len(values)
    spread = sum((log - mean_log) ** 2 for log in logs)
    slope = sum((log - mean_log) * (value - mean_value) for log, value in zip(logs, values)) / spread
    return mean_value - slope * mean_log, slope


def curve_reference(folder: Path, curve: Path) -> Path | None:
    """SASRec on the curve's validation users: the row with the CF backbone that the curve (or else the variant's test
    row) records; `CURVE_REFERENCE` for runs from before they recorded it; None when no row was scored on that
    backbone (a projection to another machine's SASRec would mislead)."""
    row = folder / f"allmrec-{curve.stem.removeprefix('curve-')}.json"
    references = [f"retrained/{path.stem}" for path in sorted((folder / "retrained").glob("sasrec-validation*.json"))]
    own = built_on(folder, curve, references)
    if own is None:
        own = built_on(folder, row, references)
    if own is None:
        return folder / f"{CURVE_REFERENCE}.json"
    return folder / f"{own[0]}.json" if own else None


def curve_projection(path: Path, reference_path: Path) -> list[str]:
    """For overall and warm Hit@1: the learning curve's log-linear trend, and the training samples at which it would
    reach SASRec's Hit@1 on the same validation users (warm: SASRec's warm minus 0.05, issue 18's aim). A projection
    from a few 100-user points is a trend, not a promise: the lines say so with the points they rest on."""
    points = [point for point in json.loads(path.read_text())["points"] if point["samples"] > 0]
    if len(points) < 2 or not reference_path.exists():
        return []
    reference = json.loads(reference_path.read_text())
    samples = [point["samples"] for point in points]
    lines = [f"{path.stem}: trend against SASRec on the same {reference['num_users']} validation users"]
    for key, label, margin in (("hit@1", "overall", 0.0), ("hit@1_warm", "warm", 0.05)):
        target = reference[key] - margin
        intercept, slope = log_linear_fit(samples, [point[key] for point in points])
        trend = f"{label}: {slope * math.log(2):+.3f} Hit@1 per doubling of samples over {samples}"
        if points[-1][key] >= target:
            lines.append(f"- {trend}; target {target:.3f} already reached at {samples[-1]} samples")
        elif slope <= 0:
            lines.append(f"- {trend}; target {target:.3f}: the curve does not rise, no projection")
        else:
            log_samples = (target - intercept) / slope
            where = (
                f"at {math.exp(log_samples):,.0f}"
                if log_samples <= math.log(PROJECTION_LIMIT)
                else f"beyond {PROJECTION_LIMIT:,}"
            )
            lines.append(f"- {trend}; target {target:.3f} projected {where} samples")
    return lines


@functools.cache
def read_row(path: Path) -> dict:
    """A row's JSON, read once per run of this script: the pairing below reads each row for every baseline."""
    return json.loads(path.read_text())


def paired_mean(
    first: dict, second: dict, users: set | None = None, group: str | None = None
) -> tuple[float, float, int] | str:
    """Mean per-user Hit@1 difference of two per-user records (`allmrec_hf.evaluation.per_user_record`) over the
    users both hold (and in ``users``, if given, and whose target is in popularity ``group``, if given, as either
    record holds it): ``(mean, standard error, users)``, or a sentence saying why there is none."""
    hits = [dict(zip(record["user_id"], record["hit@1"])) for record in (first, second)]
    if group is not None:
        recorded = [record for record in (first, second) if "target_group" in record]
        if not recorded:
            return "neither row records its users' target groups (results/paired_by_group.py reads the data)"
        in_group = {user for user, name in zip(recorded[0]["user_id"], recorded[0]["target_group"]) if name == group}
        users = in_group if users is None else in_group & users
    differences = [
        hits[0][user] - hits[1][user] for user in hits[0] if user in hits[1] and (users is None or user in users)
    ]
    if len(differences) < 2:
        return "fewer than two users in common, no paired difference"
    mean = sum(differences) / len(differences)
    variance = sum((value - mean) ** 2 for value in differences) / (len(differences) - 1)
    return mean, math.sqrt(variance / len(differences)), len(differences)


def paired_difference(
    folder: Path, row: str, baseline: str, users: set | None = None, group: str | None = None
) -> str:
    """`paired_mean` of two rows' per-user records (rows scored on different ``--max_users`` draws share only some
    users: the count says how many)."""
    first, second = (read_row(folder / f"{name}.json")["per_user"] for name in (row, baseline))
    label = f"{row} - {baseline}" + (f", {group} targets" if group else "")
    paired = paired_mean(first, second, users, group)
    if isinstance(paired, str):
        return f"{label}: {paired}"
    mean, error, count = paired
    return f"{label}, Hit@1 paired over {count} users: {mean:+.4f} ± {error:.4f}"


ABLATION_PREFIX = "curve-ablation-"
# The options of the ranking variant that results/run_learning_curve.sh can take away again (its modifiers).
ABLATIONS = (
    "user-token-first",
    "items-after-titles",
    "raw-inputs",
    "unscaled-tokens",
    "random-init",
    "without-distillation",
)


def paired_figure(first: dict, second: dict) -> str:
    """`paired_mean` of two per-user records as a table cell."""
    result = paired_mean(first, second)
    return result if isinstance(result, str) else f"{result[0]:+.3f} ± {result[1]:.3f} ({result[2]} users)"


def ablation_table(folder: Path) -> list[str]:
    """results/run_soft_token_ablation.sh: a variant trained with every option (curve-ablation-<variant>.json), and
    again with each option taken away alone (curve-ablation-<variant>+<option>.json), at equal samples on the same
    validation users. One table per variant: each run's last point, its Hit@1 paired user by user against the run
    with every option, and its swap drop paired user by user (Hit@1 minus Hit@1 with the soft tokens swapped)."""
    curves = {
        path.stem.removeprefix(ABLATION_PREFIX): read_row(path)["points"][-1]
        for path in folder.glob(f"{ABLATION_PREFIX}*.json")
        if read_row(path)["points"]  # a run stopped before its point
    }
    taken_away: dict[str, dict[str, str]] = {}  # variant -> {option taken away: run}
    for name in curves:
        base, _, option = name.rpartition("+")
        if option in ABLATIONS:
            taken_away.setdefault(base, {})[option] = name
        else:
            taken_away.setdefault(name, {})
    lines = []
    for base, runs in sorted(taken_away.items()):
        every = curves.get(base)
        rows = sorted(runs.items())
        if every is not None:
            rows.insert(0, ("nothing (every option)", base))
        lines += [
            f"{folder.name}: {base} with one option taken away at a time (results/run_soft_token_ablation.sh), "
            f"on {curves[rows[0][1]]['num_users']} validation users",
            "",
            "| taken away | samples | Hit@1 | swapped | cold | warm | Hit@1 against every option, paired | swap drop, paired |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for option, name in rows:
            point = curves[name]
            if name == base:
                paired = "–"
            elif every is None:
                paired = f"not paired: no run of {base} with every option"
            elif point["samples"] != every["samples"]:
                paired = f"not paired: the run with every option ends at {every['samples']} samples"
            elif "per_user" not in point or "per_user" not in every:
                paired = "not paired: no per-user record"
            else:
                paired = paired_figure(point["per_user"], every["per_user"])
            swap = paired_figure(point["per_user"], point["swapped_per_user"]) if "swapped_per_user" in point else "–"
            lines.append(
                f"| {option} | {point['samples']} | {point['hit@1']:.3f} | {figure(point, 'swapped_hit@1')} | "
                f"{figure(point, 'hit@1_cold')} | {figure(point, 'hit@1_warm')} | {paired} | {swap} |"
            )
        lines.append("")
    return lines


def built_on(folder: Path, recorded: Path, references: list[str]) -> list[str] | None:
    """The reference rows (SASRec, stage 1) scored with the CF backbone weights whose fingerprint the JSON
    ``recorded`` (a row of examples/evaluate.py or a learning curve) holds: the SASRec a variant was built on, and the
    stage-1 rows that share it, whichever machine trained them. None when ``recorded`` holds no fingerprint (made
    before rows recorded it)."""
    fingerprint = read_row(recorded).get("cf_backbone_weights") if recorded.exists() else None
    if fingerprint is None:
        return None
    return [
        name
        for name in references
        if (folder / f"{name}.json").exists()
        and read_row(folder / f"{name}.json").get("cf_backbone_weights") == fingerprint
    ]


def records_groups(path: Path) -> bool:
    """Whether a row's per-user record holds each user's target group (rows scored since it was recorded)."""
    return "target_group" in read_row(path).get("per_user", {})


SEEDED_METRICS = (("hit@1", "Hit@1"), ("hit@1_cold", "cold"), ("hit@1_warm", "warm"), ("ndcg@10", "NDCG@10"))


def seeds_table(path: Path) -> list[str]:
    """benches/bench_sasrec_quality.py's summary: per dataset and variant, mean ± standard deviation over seeds, the
    gap to the reference loop and issue 14's bar (mean >= the reference's mean - 1 std, overall and cold)."""
    header = " | ".join(label for _, label in SEEDED_METRICS)
    lines = [
        f"| dataset | variant | seeds | {header} | epochs | Hit@1 − reference | cold − reference | meets the bar |",
        "|---|---|---|" + "---|" * len(SEEDED_METRICS) + "---|---|---|---|",
    ]
    for dataset, variants in read_row(path)["summary"].items():
        for variant, row in variants.items():
            figures = " | ".join(
                f"{row[key]['mean']:.3f}" + (f" ± {row[key]['std']:.3f}" if row[key]["std"] is not None else "")
                for key, _ in SEEDED_METRICS
            )
            gap = row.get("minus_reference", {})
            gaps = " | ".join(f"{gap[key]:+.3f}" if key in gap else "–" for key in ("hit@1", "hit@1_cold"))
            failed = [name for name, met in row.get("meets_bar", {}).items() if not met]
            verdict = "–" if "meets_bar" not in row else f"no ({', '.join(failed)})" if failed else "yes"
            epochs = f"{row['epochs']['mean']:.0f}"
            lines.append(
                f"| {dataset} | {variant} | {row['hit@1']['seeds']} | {figures} | {epochs} | {gaps} | {verdict} |"
            )
    return lines


def main() -> None:
    rows = {row for row, _, _ in ROWS}
    seeded = HERE / "benches" / "sasrec_quality.json"
    if seeded.exists():
        print(f"### SASRec over seeds ({seeded.relative_to(HERE)})\n")
        print("\n".join(seeds_table(seeded)) + "\n")
    for folder in sorted(path for path in HERE.iterdir() if any((path / f"{row}.json").exists() for row in rows)):
        print(f"### {folder.name}\n")
        print("\n".join(scoring_table(folder)) + "\n")
        print("\n".join(training_table(folder)) + "\n")
        variants = [row for row, _, _ in variant_rows(folder) if not row.endswith("-swap")]
        # retrained/: SASRec and stage 1 trained again by a later commit or on another machine (where the same
        # recipe gives other weights: -rerun, or since 2026-12-07 named by the SASRec's fingerprint), the ones newer
        # variants are built on.
        retrained = [
            f"retrained/{path.stem}"
            for path in sorted((folder / "retrained").glob("*.json"))
            if path.stem.startswith(("sasrec", "stage1"))
            and "validation" not in path.stem
            and "fusion" not in path.stem
        ]
        trained = [("llm_only", "", ""), ("tallrec", "", ""), *budget_rows(folder)]
        baselines = [row for row, _, _ in trained + other_llm_rows(folder, trained)] + ["sasrec", *retrained]
        for row in ["allmrec", *(row for row, _, _ in other_llm_rows(folder, [("allmrec", "", "")])), *variants]:
            own = built_on(folder, folder / f"{row}.json", ["sasrec", "stage1", *retrained])
            if own:
                print(f"{row} shares its CF backbone (SASRec weights) with: {', '.join(own)}\n")
            for baseline in baselines:
                if (folder / f"{row}.json").exists() and (folder / f"{baseline}.json").exists():
                    print(paired_difference(folder, row, baseline) + "\n")
                    if records_groups(folder / f"{row}.json") or records_groups(folder / f"{baseline}.json"):
                        for group in ("cold", "warm"):
                            print(paired_difference(folder, row, baseline, group=group) + "\n")
            if (folder / f"{row}-swap.json").exists():
                print(paired_difference(folder, row, f"{row}-swap") + "\n")
        for curve in sorted(folder.glob("curve-*.json")):
            if curve.stem.startswith(ABLATION_PREFIX):
                continue  # one point each: the ablation table below
            print("\n".join(curve_table(curve)) + "\n")
            print("\n".join(curve_chart(curve)) + "\n")
            reference = curve_reference(folder, curve)
            if reference is None:
                print(f"{curve.stem}: no SASRec validation row on its CF backbone under retrained/, no projection\n")
                continue
            projection = curve_projection(curve, reference)
            if projection:
                print("\n".join(projection) + "\n")
        ablation = ablation_table(folder)
        if ablation:
            print("\n".join(ablation))
        if (folder / "all-users").is_dir():
            print(f"{folder.name}, every test user (results/run_modality_aware.sh):\n")
            print("\n".join(all_users_table(folder / "all-users")) + "\n")


if __name__ == "__main__":
    main()
