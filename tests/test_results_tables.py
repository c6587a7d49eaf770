"""results/tables.py: the learning-curve projection (the README's projected sample counts come from it), budget rows
and paired differences."""

import importlib.util
import json
import math
import re
from pathlib import Path

import pytest


TABLES = Path(__file__).resolve().parents[1] / "results" / "tables.py"


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("results_tables", TABLES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(path: Path, payload: dict) -> Path:
    path.write_text(json.dumps(payload))
    return path


def write_rows(folder: Path, *names: str) -> None:
    """Rows of two users (one hit) under ``names``: enough for tables.py to find, label and render them."""
    for name in names:
        write(
            folder / f"{name}.json", {"hit@1": 0.5, "num_users": 2, "per_user": {"user_id": [1, 2], "hit@1": [1, 0]}}
        )


def test_log_linear_fit_recovers_a_trend_in_log_samples(tables):
    samples = [200, 500, 1000, 2000]
    intercept, slope = tables.log_linear_fit(samples, [0.1 + 0.05 * math.log(count) for count in samples])
    assert intercept == pytest.approx(0.1)
    assert slope == pytest.approx(0.05)


def test_curve_projection_extrapolates_to_the_reference_and_says_when_it_cannot(tables, tmp_path):
    # Overall rises 0.05 per e-fold from 0.3 at 200 samples: it reaches 0.4 at 200 * e^2 samples. Warm is flat.
    points = [
        {"samples": 0, "hit@1": 0.05, "hit@1_warm": 0.05},  # the untrained point is not part of the trend
        {"samples": 200, "hit@1": 0.3, "hit@1_warm": 0.4},
        {"samples": 500, "hit@1": 0.3 + 0.05 * math.log(2.5), "hit@1_warm": 0.4},
    ]
    curve = write(tmp_path / "curve-x.json", {"points": points})
    reference = write(tmp_path / "sasrec.json", {"hit@1": 0.4, "hit@1_warm": 0.5, "num_users": 100})
    overall, warm = tables.curve_projection(curve, reference)[1:]
    assert f"projected at {200 * math.exp(2):,.0f} samples" in overall
    assert "does not rise" in warm and "0.450" in warm
    slow = [dict(point, **{"hit@1": 0.3 + 0.001 * math.log(point["samples"] or 1)}) for point in points]
    barely_rising = write(tmp_path / "curve-slow.json", {"points": slow})
    assert "projected beyond 1,000,000 samples" in tables.curve_projection(barely_rising, reference)[1]
    reached = write(tmp_path / "low.json", {"hit@1": 0.2, "hit@1_warm": 0.3, "num_users": 100})
    assert all("already reached at 500" in line for line in tables.curve_projection(curve, reached)[1:])
    assert tables.curve_projection(curve, tmp_path / "missing.json") == []


def test_budget_rows_are_found_by_method_and_ordered_by_samples(tables, tmp_path):
    for name in ("tallrec-1000samples", "tallrec-500samples", "mlp_llm-500samples", "tallrec-500samples-training"):
        write(tmp_path / f"{name}.json", {})
    assert tables.budget_rows(tmp_path) == [
        ("tallrec-500samples", "TALLRec (LoRA), 500 samples", ""),
        ("tallrec-1000samples", "TALLRec (LoRA), 1000 samples", ""),
        ("mlp_llm-500samples", "MLP-LLM, 500 samples", ""),
    ]


def test_paired_difference_on_one_target_group(tables, tmp_path):
    """results/tables.py pairs two rows on the users whose target is cold (or warm), read from whichever row records
    the groups; without a recorded group it says so instead of pairing every user."""
    users = [1, 2, 3, 4, 5]
    rows = {
        "model": {
            "user_id": users,
            "hit@1": [1, 1, 0, 1, 0],
            "target_group": ["cold", "cold", "cold", "warm", "warm"],
        },
        "baseline": {"user_id": users, "hit@1": [0, 1, 0, 0, 1]},
    }
    for name, record in rows.items():
        write(tmp_path / f"{name}.json", {"per_user": record})
    cold = tables.paired_difference(tmp_path, "model", "baseline", group="cold")
    assert cold.startswith("model - baseline, cold targets, Hit@1 paired over 3 users: +0.3333 ± 0.3333")
    warm = tables.paired_difference(tmp_path, "baseline", "model", group="warm")
    assert "paired over 2 users: +0.0000 ± 1.0000" in warm
    assert "neither row records" in tables.paired_difference(tmp_path, "baseline", "baseline", group="cold")
    both = tables.paired_difference(tmp_path, "model", "baseline", users={1, 2, 4}, group="cold")  # and users 1, 2
    assert "paired over 2 users: +0.5000 ± 0.5000" in both


def test_a_variant_is_paired_with_the_references_scored_on_its_cf_backbone(tables, tmp_path):
    (tmp_path / "retrained").mkdir()
    write(tmp_path / "variant.json", {"cf_backbone_weights": "aaaa"})
    write(tmp_path / "sasrec.json", {"cf_backbone_weights": "bbbb"})
    write(tmp_path / "retrained" / "sasrec-rerun.json", {"cf_backbone_weights": "aaaa"})
    write(tmp_path / "retrained" / "stage1-rerun.json", {"cf_backbone_weights": "aaaa"})
    write(tmp_path / "older.json", {})  # scored before rows recorded it
    references = ["sasrec", "retrained/sasrec-rerun", "retrained/stage1-rerun", "retrained/missing"]
    assert tables.built_on(tmp_path, tmp_path / "variant.json", references) == [
        "retrained/sasrec-rerun",
        "retrained/stage1-rerun",
    ]
    assert tables.built_on(tmp_path, tmp_path / "older.json", references) is None
    write(tmp_path / "curve-variant.json", {"points": []})
    write(tmp_path / "allmrec-variant.json", {"cf_backbone_weights": "aaaa"})
    write(tmp_path / "retrained" / "sasrec-validation.json", {})
    write(tmp_path / "retrained" / "sasrec-validation-rerun.json", {"cf_backbone_weights": "aaaa"})
    assert tables.curve_reference(tmp_path, tmp_path / "curve-variant.json").name == "sasrec-validation-rerun.json"
    assert tables.curve_reference(tmp_path, tmp_path / "curve-older.json").name == "sasrec-validation.json"
    write(tmp_path / "curve-recorded.json", {"points": [], "cf_backbone_weights": "aaaa"})  # no test row yet
    assert tables.curve_reference(tmp_path, tmp_path / "curve-recorded.json").name == "sasrec-validation-rerun.json"
    # a curve on a SASRec never scored on its validation users: no projection, not another machine's SASRec
    write(tmp_path / "curve-elsewhere.json", {"points": [], "cf_backbone_weights": "cccc"})
    assert tables.curve_reference(tmp_path, tmp_path / "curve-elsewhere.json") is None


def test_the_ablation_table_pairs_each_run_with_the_run_with_every_option(tables, tmp_path):
    users = [1, 2, 3, 4]

    def point(samples: int, hits: list[int], swapped: list[int] | None = None) -> dict:
        figures = {"hit@1": sum(hits) / len(hits), "hit@1_cold": 0.5, "hit@1_warm": 0.5, "num_users": len(hits)}
        records = {"per_user": {"user_id": users, "hit@1": hits}}
        if swapped is not None:
            records["swapped_per_user"] = {"user_id": users, "hit@1": swapped}
            figures["swapped_hit@1"] = sum(swapped) / len(swapped)
        return {"samples": samples, **figures, **records}

    base = "ranking+text-conditioned-items"
    curves = {
        base: [point(200, [1, 1, 1, 0], swapped=[0, 0, 1, 0])],
        f"{base}+random-init": [point(200, [0, 1, 0, 0])],
        f"{base}+raw-inputs": [point(100, [1, 1, 1, 1]), point(500, [1, 1, 1, 1])],  # ends at other samples
        f"{base}+unscaled-tokens": [
            {key: value for key, value in point(200, [1, 1, 1, 1]).items() if key != "per_user"}
        ],
        f"{base}+without-distillation": [],  # stopped before its point
        "ranking+user-token-first": [point(200, [1, 1, 1, 1])],  # another variant, never run with every option
    }
    for name, points in curves.items():
        write(tmp_path / f"curve-ablation-{name}.json", {"points": points})
    table = tables.ablation_table(tmp_path)
    titles = [index for index, line in enumerate(table) if line.startswith(f"{tmp_path.name}: ")]
    first, second = table[titles[0] : titles[1]], table[titles[1] :]
    assert (
        first[0].startswith(f"{tmp_path.name}: ranking with one option taken away")
        and "4 validation users" in first[0]
    )
    assert "| user-token-first | 200 | 1.000 |" in first[4] and "not paired: no run of ranking with" in first[4]
    assert second[0].startswith(f"{tmp_path.name}: {base} with one option taken away")
    lines = [line for line in second[4:] if line]
    assert [line.split(" | ")[0].lstrip("| ") for line in lines] == [
        "nothing (every option)",
        "random-init",
        "raw-inputs",
        "unscaled-tokens",
    ]
    # every option: Hit@1 0.75, swapped 0.25; users 1 and 2 lose their hit when swapped: drop +0.5 ± 0.289
    assert "| 0.750 | 0.2500 |" in lines[0] and lines[0].endswith(f"| +0.500 ± {math.sqrt(1 / 3) / 2:.3f} (4 users) |")
    # random init: users 1 and 3 lose their hit, -0.5 with the paired standard error of [-1, 0, -1, 0]; no swap run
    assert lines[1].endswith(f"| -0.500 ± {math.sqrt(1 / 3) / 2:.3f} (4 users) | – |")
    assert "not paired: the run with every option ends at 200 samples" in lines[2]
    assert "not paired: no per-user record" in lines[3]  # a curve from before points kept them
    assert tables.ablation_table(tmp_path / "nothing-here") == []


def test_the_ablation_script_takes_away_exactly_the_options_tables_knows(tables):
    """results/run_soft_token_ablation.sh's default list, results/run_learning_curve.sh's modifiers and
    tables.ABLATIONS name the same options: a name that drifts would show an ablation as a variant of its own."""
    results = TABLES.parent
    script = (results / "run_soft_token_ablation.sh").read_text()
    removed = re.search(r"REMOVED=\$\{REMOVED:-([^}]*)\}", script).group(1).split()
    modifiers = re.findall(r"^\s+([a-z-]+)\) flags\+=", (results / "run_learning_curve.sh").read_text(), re.MULTILINE)
    assert removed[0] == "none" and removed[1:] == list(tables.ABLATIONS)
    assert set(removed[1:]) <= set(modifiers)


def test_another_llms_rows_sit_beside_smollm2s(tables, tmp_path):
    """run_real_llm.sh names another LLM's rows <row>-<llm> (LLM=gemma-3-270m): tables.py renders them with the
    LLM in the label, finds their training budgets, and does not mistake allmrec-<llm> for a variant."""
    write_rows(
        tmp_path,
        "sasrec",
        "llm_only",
        "llm_only-gemma-3-270m",
        "tallrec-500samples-gemma-3-270m",
        "allmrec-gemma-3-270m",
    )
    assert tables.budget_rows(tmp_path) == [("tallrec-500samples", "TALLRec (LoRA), 500 samples", "")]
    rows = [*tables.ROWS, *tables.budget_rows(tmp_path)]
    assert tables.other_llm_rows(tmp_path, rows) == [
        ("llm_only-gemma-3-270m", "LLM-Only, gemma-3-270m", ""),
        ("allmrec-gemma-3-270m", "A-LLMRec, gemma-3-270m", ""),
        ("tallrec-500samples-gemma-3-270m", "TALLRec (LoRA), 500 samples, gemma-3-270m", ""),
    ]
    assert tables.variant_rows(tmp_path) == []
    table = "\n".join(tables.scoring_table(tmp_path))
    assert "| LLM-Only, gemma-3-270m | 0.5000" in table
    assert "| TALLRec (LoRA), 500 samples, gemma-3-270m | 0.5000" in table


def test_an_llm_outside_the_package_is_found_by_its_rows_tag(tables, tmp_path):
    """LLM=facebook/opt-6.7b (the paper's LLM, on a GPU) tags its rows -opt-6.7b: tables.py finds that name in the
    rows themselves, and does not read logs, earlier draws or variants as an LLM's name."""
    write_rows(
        tmp_path,
        "sasrec",
        "llm_only",
        "llm_only-training",
        "llm_only-opt-6.7b",
        "allmrec-opt-6.7b",
        "mlp_llm-500samples-opt-6.7b",
        "tallrec-500samples",
        "tallrec-500samples-training",
        "allmrec-ranking+raw-inputs-swap",
        "allmrec-paper-200users",
    )
    assert "opt-6.7b" in tables.llm_names(tmp_path)
    assert not {"training", "500samples", "ranking+raw-inputs-swap", "paper-200users"} & set(
        tables.llm_names(tmp_path)
    )
    rows = [*tables.ROWS, *tables.budget_rows(tmp_path)]
    assert [row for row, _, _ in tables.budget_rows(tmp_path)] == ["tallrec-500samples", "mlp_llm-500samples"]
    assert [row for row, _, _ in tables.other_llm_rows(tmp_path, rows)] == [
        "llm_only-opt-6.7b",
        "allmrec-opt-6.7b",
        "mlp_llm-500samples-opt-6.7b",
    ]
    assert [row for row, _, _ in tables.variant_rows(tmp_path)] == ["allmrec-ranking+raw-inputs-swap"]


def test_seeds_table_renders_the_sasrec_bench_summary_with_its_bar(tables, tmp_path):
    def row(mean, std, **extra):
        figures = {
            key: {"mean": mean, "std": std, "seeds": 3} for key in ("hit@1", "hit@1_cold", "hit@1_warm", "ndcg@10")
        }
        return {**figures, "epochs": {"mean": 150.0, "std": 10.0, "seeds": 3}, **extra}

    summary = {
        "amazon_beauty_2014": {
            "ours": row(
                0.35,
                0.002,
                minus_reference={"hit@1": 0.01, "hit@1_cold": -0.02},
                meets_bar={"hit@1": True, "hit@1_cold": False},
            ),
            "reference": row(0.34, 0.004),
        }
    }
    path = write(tmp_path / "sasrec_quality.json", {"summary": summary})
    lines = tables.seeds_table(path)
    assert lines[2].startswith("| amazon_beauty_2014 | ours | 3 | 0.350 ± 0.002 |")
    assert lines[2].endswith("| 150 | +0.010 | -0.020 | no (hit@1_cold) |")
    assert lines[3].endswith("| 150 | – | – | – |")
    assert all(line.count("|") == lines[0].count("|") for line in lines)
