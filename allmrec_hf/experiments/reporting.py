"""Markdown tables of results, for the quickstart, the pipeline and the experiment runner."""

from __future__ import annotations

import math


def format_value(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def markdown_table(rows: list[dict], columns: list[str], headers: list[str] | None = None) -> str:
    """A markdown table with one line per row dict; missing values print as ``–``."""
    headers = headers or columns
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(format_value(row.get(column)) for column in columns) + " |" for row in rows]
    return "\n".join(lines)


def pipeline_summary(metrics: dict) -> list[dict]:
    """One row per scorer of a workflow's ``metrics.json``: the CF model, the stage-1 scorers, A-LLMRec's modes."""
    rows = []
    cf = metrics.get("cf", {})
    rows.append({"model": f"{cf.get('backbone', 'CF')} (CF backbone)", **cf})
    stage1 = metrics.get("stage1", {})
    rows.append({"model": "Stage 1 joint scorer (no LLM)", **stage1})
    rows.append(
        {
            "model": "Stage 1 text path (no LLM)",
            **{k[len("text_") :]: v for k, v in stage1.items() if k.startswith("text_")},
        }
    )
    names = {
        "score": "A-LLMRec, candidate scoring",
        "score_sbert": "A-LLMRec (SBERT), candidate scoring",
        "generate": "A-LLMRec, greedy generation (exact match)",
        "constrained": "A-LLMRec, constrained generation",
    }
    for key, figures in metrics.get("evaluation", {}).items():  # a decoding mode without a name here still shows
        if key != "score_cold_users":  # other users than the rows above (Table 4 reports them)
            rows.append({"model": names.get(key, f"A-LLMRec, {key}"), **figures})
    return rows


SUMMARY_COLUMNS = ["model", "hit@1", "hit@1_cold", "hit@1_warm", "hit@5", "ndcg@10"]
SUMMARY_HEADERS = ["model", "Hit@1", "Hit@1 cold", "Hit@1 warm", "Hit@5", "NDCG@10"]
