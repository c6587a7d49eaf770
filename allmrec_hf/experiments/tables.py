"""Markdown tables shaped like the paper's Tables 1-9 and PNG plots, from the runner's results registry.

A cell is ``–`` where the run did not produce the figure (a baseline switched off, no cold users in the data, an
LLM-free run); a table with no figure at all is left out. Every figure is Hit@1 on the stored test candidates unless
a column says otherwise.
"""

from __future__ import annotations

import os

from ..backbones import BACKBONE_NAMES, MODALITY_AWARE_NAMES
from .reporting import format_value, markdown_table


# The paper's tables list the backbones weakest first (NCF ... SASRec): the registry's order reversed.
CF_NAMES = dict(reversed(BACKBONE_NAMES.items()))


def modality_aware_rows(prefix: str) -> list[tuple[str, str]]:
    """``(name, results key)`` of the modality-aware baselines (MoRec, CTRL, RECFORMER), in the paper's order."""
    return [(name, f"{prefix}/{key}") for key, name in MODALITY_AWARE_NAMES.items()]


def _get(results: dict, key: str, metric: str = "hit@1"):
    return results.get(key, {}).get(metric)


def main_backbone(results: dict) -> str:
    """The CF backbone the experiments centred on (A-LLMRec, the baselines and the scenarios use it)."""
    return results.get("experiment", {}).get("main_backbone", "sasrec")


def _table(title: str, note: str, rows: list[dict], columns: list[str], headers: list[str] | None = None) -> str:
    # The first column is each row's label; the other cells are figures (floats), text or None.
    if not any(isinstance(value, float) for row in rows for value in list(row.values())[1:]):
        return ""
    table = markdown_table(rows, columns, headers)
    return f"### {title}\n\n{note}\n\n{table}\n" if note else f"### {title}\n\n{table}\n"


def table_1(results: dict, dataset: str) -> str:
    row = {"dataset": dataset}
    for key, name in CF_NAMES.items():
        row[name] = _get(results, f"cf/{key}")
    for name, key in modality_aware_rows("modality_aware"):
        row[name] = _get(results, key)
    row.update(
        {
            "LLM-Only": _get(results, "llm_only"),
            "TALLRec": _get(results, "tallrec"),
            "MLP-LLM": _get(results, "mlp_llm"),
        }
    )
    row["A-LLMRec"] = _get(results, f"allmrec/{main_backbone(results)}")
    return _table("Table 1. Overall Hit@1", "", [row], list(row))


def table_2(results: dict) -> str:
    main = main_backbone(results)
    models = [
        (CF_NAMES[main], f"cf/{main}"),
        *modality_aware_rows("modality_aware"),
        ("Stage-1 joint scorer (no LLM)", f"stage1/{main}"),
        ("TALLRec", "tallrec"),
        ("A-LLMRec", f"allmrec/{main}"),
        ("A-LLMRec (SBERT)", "allmrec_sbert"),
    ]
    rows = [
        {
            "model": name,
            "cold": _get(results, key, "hit@1_cold"),
            "warm": _get(results, key, "hit@1_warm"),
            "overall": _get(results, key),
        }
        for name, key in models
    ]
    stage1 = results.get(f"stage1/{main}", {})
    rows.insert(
        2 + len(MODALITY_AWARE_NAMES),
        {
            "model": "Stage-1 text path (no LLM)",
            "cold": stage1.get("text_hit@1_cold"),
            "warm": stage1.get("text_hit@1_warm"),
            "overall": stage1.get("text_hit@1"),
        },
    )
    note = "Cold / warm: targets among the bottom / top 35% of items by training interactions."
    return _table("Table 2. Hit@1 on cold and warm items", note, rows, ["model", "cold", "warm", "overall"])


def table_3(results: dict) -> str:
    models = [
        (CF_NAMES[main_backbone(results)], "cf"),
        *[(name, key) for key, name in MODALITY_AWARE_NAMES.items()],
        ("Stage-1 joint scorer (no LLM)", "stage1"),
        ("TALLRec", "tallrec"),
        ("MLP-LLM", "mlp_llm"),
        ("A-LLMRec", "allmrec"),
    ]
    rows = [{"model": name, "Hit@1": _get(results, f"cold_users/{key}")} for name, key in models]
    note = "Users with exactly three interactions, held out of training (the last one is the target)."
    return _table("Table 3. Cold users", note, rows, ["model", "Hit@1"])


def few_shot_sizes(results: dict) -> list[int]:
    return sorted({int(key.split("/")[1]) for key in results if key.startswith("few_shot/")}, reverse=True)


def table_4(results: dict) -> str:
    rows = []
    for size in few_shot_sizes(results):
        rows.append(
            {
                "K": size,
                "CF backbone": _get(results, f"few_shot/{size}/cf"),
                "MoRec": _get(results, f"few_shot/{size}/morec"),
                "Stage-1 joint (no LLM)": _get(results, f"few_shot/{size}/stage1"),
                "TALLRec": _get(results, f"few_shot/{size}/tallrec"),
                "A-LLMRec": _get(results, f"few_shot/{size}/allmrec"),
                "A-LLMRec (SBERT)": _get(results, f"few_shot/{size}/allmrec_sbert"),
            }
        )
    columns = ["K", "CF backbone", "MoRec", "Stage-1 joint (no LLM)", "TALLRec", "A-LLMRec", "A-LLMRec (SBERT)"]
    headers = ["K", CF_NAMES[main_backbone(results)], *columns[2:]]
    return _table("Table 4. Few-shot training (K users in the training set)", "", rows, columns, headers)


def table_5(results: dict) -> str:
    row = {
        CF_NAMES[main_backbone(results)]: "cannot score a foreign catalog (chance: 0.05)",
        **{name: _get(results, key) for name, key in modality_aware_rows("cross_domain")},
        "Stage-1 text path (no LLM)": _get(results, "cross_domain/stage1_text"),
        "LLM-Only": _get(results, "cross_domain/llm_only"),
        "TALLRec": _get(results, "cross_domain/tallrec"),
        "A-LLMRec (q_i for the foreign items)": _get(results, "cross_domain/allmrec"),
    }
    note = "Trained on the main dataset, scored on the cross-domain dataset's candidates; foreign items enter through their text and the mean training user stands in for x_u (MoRec, CTRL and RECFORMER read the foreign histories through their items' text)."
    return _table("Table 5. Cross-domain", note, [row], list(row))


def table_6(results: dict) -> str:
    rows = [{"ablation": "A-LLMRec", "Hit@1": _get(results, f"allmrec/{main_backbone(results)}")}]
    rows += [
        {"ablation": key.split("/", 1)[1], "Hit@1": value.get("hit@1")}
        for key, value in results.items()
        if key.startswith("ablation_stage1/")
    ]
    return _table("Table 6. Stage-1 ablations", "", rows, ["ablation", "Hit@1"])


def table_7(results: dict) -> str:
    rows = [{"ablation": "A-LLMRec", "Hit@1": _get(results, f"allmrec/{main_backbone(results)}")}]
    rows += [
        {"ablation": key.split("/", 1)[1], "Hit@1": value.get("hit@1")}
        for key, value in results.items()
        if key.startswith("ablation_stage2/")
    ]
    return _table("Table 7. Stage-2 ablations", "", rows, ["ablation", "Hit@1"])


def table_8(results: dict) -> str:
    rows = []
    for name, key in (("TALLRec", "tallrec"), ("A-LLMRec", f"allmrec/{main_backbone(results)}")):
        if key in results:
            entry = results[key]
            rows.append(
                {
                    "model": name,
                    "train (s)": entry.get("train_seconds"),
                    "inference (s/batch)": entry.get("seconds_per_batch"),
                    "Hit@1": entry.get("hit@1"),
                }
            )
    note = "Same LLM, prompts and batch size; the dedicated benchmark is benches/bench_allmrec_vs_tallrec.py."
    return _table(
        "Table 8. Train and inference time", note, rows, ["model", "train (s)", "inference (s/batch)", "Hit@1"]
    )


def table_9(results: dict) -> str:
    rows = []
    for key, name in CF_NAMES.items():
        if f"cf/{key}" not in results:
            continue
        stage1 = results.get(f"stage1/{key}", {})
        rows.append(
            {
                "backbone": name,
                "CF alone": _get(results, f"cf/{key}"),
                "stage-1 joint scorer": stage1.get("hit@1"),
                "stage-1 text path": stage1.get("text_hit@1"),
                f"A-LLMRec ({name})": _get(results, f"allmrec/{key}"),
            }
        )
    columns = ["backbone", "CF alone", "stage-1 joint scorer", "stage-1 text path"]
    rows = [{**row, "A-LLMRec": row.pop(f"A-LLMRec ({row['backbone']})")} for row in rows]
    return _table(
        "Table 9. Model-agnostic: each CF backbone alone and inside A-LLMRec", "", rows, [*columns, "A-LLMRec"]
    )


def preference_section(results: dict, examples: int = 3) -> str:
    entries = {key.split("/", 1)[1]: entry for key, entry in results.items() if key.startswith("preference/")}
    if not entries:
        return ""
    lines = ["### Favourite genre / category prediction (section 5.4.4)", ""]
    for name, entry in entries.items():
        lines.append(
            f"**{name}** — answers naming a category of the user's history: {format_value(entry['agreement'])}"
        )
        lines.append("")
        for record in entry["records"][:examples]:
            lines.append(f"- history: {'; '.join(record['history'][-4:])}")
            lines.append(f"  - answer: {record['answer']!r}")
        lines.append("")
    return "\n".join(lines)


def all_tables(results: dict, dataset: str) -> str:
    sections = [table_1(results, dataset), table_2(results), table_3(results), table_4(results), table_5(results)]
    sections += [table_6(results), table_7(results), table_8(results), table_9(results), preference_section(results)]
    return "\n".join(section for section in sections if section)


def write_plots(results: dict, folder: str) -> list[str]:
    """Hit@1 on cold vs warm items per model, and few-shot curves; returns the PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(folder, exist_ok=True)
    written = []
    main = main_backbone(results)
    models = [
        (CF_NAMES[main], f"cf/{main}"),
        *modality_aware_rows("modality_aware"),
        ("TALLRec", "tallrec"),
        ("MLP-LLM", "mlp_llm"),
        ("A-LLMRec", f"allmrec/{main}"),
        ("A-LLMRec (SBERT)", "allmrec_sbert"),
    ]
    stage1 = results.get(f"stage1/{main}", {})
    bars = [
        (name, _get(results, key, "hit@1_cold"), _get(results, key, "hit@1_warm"))
        for name, key in models
        if key in results
    ]
    if stage1:
        bars.insert(1, ("Stage-1 joint", stage1.get("hit@1_cold"), stage1.get("hit@1_warm")))
        bars.insert(2, ("Stage-1 text", stage1.get("text_hit@1_cold"), stage1.get("text_hit@1_warm")))
    if bars:
        figure, axis = plt.subplots(figsize=(max(6, 1.3 * len(bars)), 4))
        positions = range(len(bars))
        axis.bar([p - 0.2 for p in positions], [b[1] or 0 for b in bars], width=0.4, label="cold items")
        axis.bar([p + 0.2 for p in positions], [b[2] or 0 for b in bars], width=0.4, label="warm items")
        axis.set_xticks(list(positions), [b[0] for b in bars], rotation=20, ha="right")
        axis.set_ylabel("Hit@1")
        axis.set_title("Hit@1 on cold vs warm items")
        axis.legend()
        figure.tight_layout()
        path = os.path.join(folder, "cold_warm.png")
        figure.savefig(path, dpi=120)
        plt.close(figure)
        written.append(path)
    sizes = sorted(few_shot_sizes(results))
    if sizes:
        figure, axis = plt.subplots(figsize=(6, 4))
        for name, key in (
            (CF_NAMES[main], "cf"),
            ("Stage-1 joint", "stage1"),
            ("TALLRec", "tallrec"),
            ("A-LLMRec", "allmrec"),
            ("A-LLMRec (SBERT)", "allmrec_sbert"),
        ):
            values = [_get(results, f"few_shot/{size}/{key}") for size in sizes]
            if any(value is not None for value in values):
                axis.plot(
                    sizes, [value if value is not None else float("nan") for value in values], marker="o", label=name
                )
        axis.set_xlabel("K (training users)")
        axis.set_ylabel("Hit@1")
        axis.set_title("Few-shot training")
        axis.legend()
        figure.tight_layout()
        path = os.path.join(folder, "few_shot.png")
        figure.savefig(path, dpi=120)
        plt.close(figure)
        written.append(path)
    return written
