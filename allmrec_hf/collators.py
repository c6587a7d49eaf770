"""Batches for Trainer: precomputed tensor rows and the collators of the three stages (the CF backbone's, stage 1's
and stage 2's prompt batches), over one padding helper."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from .configuration_allmrec import ALLMRecConfig
from .data.negatives import EpochCandidates, EpochNegatives
from .prompts import answer_token_ids, cap_titles, preference_prompt, recommendation_prompt


def left_pad(sequences: list, length: int) -> torch.LongTensor:
    """The last ``length`` items of each sequence, right-aligned in a zero-padded ``(rows, length)`` tensor."""
    lengths = np.fromiter((len(sequence) for sequence in sequences), dtype=np.int64, count=len(sequences))
    kept = np.minimum(lengths, length)
    output = np.zeros((len(sequences), length), dtype=np.int64)
    if kept.sum():
        flat = np.concatenate([np.asarray(sequence, dtype=np.int64) for sequence in sequences])
        rows = np.repeat(np.arange(len(sequences)), kept)
        within = np.arange(kept.sum()) - np.repeat(np.cumsum(kept) - kept, kept)
        source = np.repeat(np.cumsum(lengths) - kept, kept) + within
        output[rows, length - np.repeat(kept, kept) + within] = flat[source]
    return torch.from_numpy(output)


class TensorRows(torch.utils.data.Dataset):
    """Rows of precomputed tensors that share their first dimension; an item is a dict of row slices.

    ``sequence_columns`` are left-padded ``(rows, max_length)`` item-id columns whose rows are returned without their
    padding (at least one position), so a sampler can group rows by length (``len(item["input_ids"])``) and
    `collate_rows` pads each batch only to its own longest row.
    """

    def __init__(self, sequence_columns: tuple[str, ...] = (), **columns: torch.Tensor):
        sizes = {name: len(column) for name, column in columns.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"columns differ in length: {sizes}")
        self.columns = columns
        self.sequence_columns = sequence_columns
        if sequence_columns:
            first = columns[sequence_columns[0]]
            self.starts = (first.shape[1] - (first != 0).sum(1)).clamp(max=first.shape[1] - 1)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = {name: column[index] for name, column in self.columns.items()}
        for name in self.sequence_columns:
            row[name] = row[name][self.starts[index] :]
        return row

    def lengths(self) -> list[int]:
        width = self.columns[self.sequence_columns[0]].shape[1]
        return (width - self.starts).tolist()


def collate_rows(features: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack rows; 1-D columns of unequal lengths (trimmed sequences) are left-padded to the batch's longest."""
    batch = {}
    for name in features[0]:
        values = [feature[name] for feature in features]
        if values[0].dim() == 1 and len({len(value) for value in values}) > 1:
            batch[name] = pad_sequence(values, batch_first=True, padding_value=0, padding_side="left")
        else:
            batch[name] = torch.stack(values)
    return batch


def by_length(rows: TensorRows) -> TensorRows:
    """The same rows ordered by sequence length, so sequential evaluation batches carry little padding (metrics do
    not depend on row order)."""
    order = torch.argsort(torch.tensor(rows.lengths()), stable=True)
    return TensorRows(rows.sequence_columns, **{name: column[order] for name, column in rows.columns.items()})


@torch.no_grad()
def map_rows(rows: TensorRows, function, batch_size: int = 1024, device=None) -> torch.Tensor:
    """Apply ``function`` to batches of ``rows`` grouped by length (little padding) and return the outputs, one per
    row, in the rows' original order."""
    order = (
        torch.argsort(torch.tensor(rows.lengths()), stable=True) if rows.sequence_columns else torch.arange(len(rows))
    )
    outputs = []
    for start in range(0, len(rows), batch_size):
        batch = collate_rows([rows[int(index)] for index in order[start : start + batch_size]])
        outputs.append(function({name: value.to(device) for name, value in batch.items()}).float().cpu())
    stacked = torch.cat(outputs)
    restored = torch.empty_like(stacked)
    restored[order] = stacked
    return restored


IGNORE_INDEX = -100


def pad_rows(rows: list[list[int]], value: int, side: str) -> torch.LongTensor:
    width = max((len(row) for row in rows), default=0)
    padded = [
        ([value] * (width - len(row)) + row) if side == "left" else (row + [value] * (width - len(row)))
        for row in rows
    ]
    return torch.tensor(padded, dtype=torch.long).view(len(rows), width)


class RecommendationBatcher:
    """Builds A-LLMRec batches from rows with ``history``, ``candidates``, ``target`` and ``user_id``.

    Titles are capped at ``config.max_title_tokens`` and every catalog answer (the quoted title followed by EOS) is
    tokenised once at construction; prompts are tokenised per batch. ``with_answers`` appends each row's target answer after its prompt (training layout, with
    ``labels``); ``with_candidate_answers`` adds every candidate's answer tokens (for likelihood scoring).

    Args:
        tokenizer: A tokenizer prepared by `prepare_tokenizer`.
        titles (`list[str]`): Title of every item id (index 0 is padding).
        config (`ALLMRecConfig`): Prompt domain, history length, number of candidates, soft-token switches.
        cf_max_length (`int`): History window of the CF backbone (for ``x_u``).
        prompt (`str`, *optional*, defaults to `"recommendation"`): ``"recommendation"`` or ``"preference"``.
        missing_title (`str`, *optional*, defaults to `"No Title"`): Written for an item without a title.
        strict_candidates (`bool`, *optional*, defaults to `True`):
            Require exactly ``config.num_candidates`` candidates per row, as the model was trained with.
        training_candidates (`EpochCandidates`, *optional*):
            Draws each row's candidates afresh per (seed, epoch, row) (rows then carry their index in ``row``);
            without it the rows' stored candidates are used, as evaluation does.
    """

    def __init__(
        self,
        tokenizer,
        titles: list[str],
        config: ALLMRecConfig,
        cf_max_length: int,
        with_answers: bool = True,
        with_candidate_answers: bool = False,
        prompt: str = "recommendation",
        missing_title: str = "No Title",
        strict_candidates: bool = True,
        training_candidates: EpochCandidates | None = None,
    ):
        if prompt not in ("recommendation", "preference"):
            raise ValueError(f"prompt must be 'recommendation' or 'preference', got {prompt!r}")
        self.tokenizer = tokenizer
        self.titles = cap_titles(tokenizer, [title or missing_title for title in titles], config.max_title_tokens)
        self.config = config
        self.cf_max_length = cf_max_length
        self.with_answers = with_answers
        self.with_candidate_answers = with_candidate_answers
        self.prompt = prompt
        self.strict_candidates = strict_candidates
        self.training_candidates = training_candidates
        self.answer_ids = answer_token_ids(tokenizer, self.titles)
        self.context = getattr(config.llm_config.get_text_config(), "max_position_embeddings", None)

    def prompt_text(self, history: list[int], candidates: list[int]) -> str:
        config = self.config
        history_titles = [self.titles[item] for item in history]
        if self.prompt == "preference":
            return preference_prompt(config.prompt_domain, history_titles, config.use_user_token, config.item_tokens)
        return recommendation_prompt(
            config.prompt_domain,
            history_titles,
            [self.titles[item] for item in candidates],
            config.use_user_token,
            config.item_tokens,
        )

    def check_context(self, features: list[dict], prompt_ids: list[list[int]]) -> None:
        """A prompt with its longest possible answer must fit the LLM's context: beyond it positions are undefined."""
        if self.context is None:
            return
        longest_answer = max(len(ids) for ids in self.answer_ids)
        for feature, ids in zip(features, prompt_ids):
            if len(ids) + longest_answer > self.context:
                raise ValueError(
                    f"user {feature.get('user', feature.get('user_id'))}: the prompt holds {len(ids)} tokens and "
                    f"answers reach {longest_answer}, beyond the LLM's {self.context} positions; lower "
                    "--max_title_tokens (now {}) or --history_length".format(self.config.max_title_tokens)
                )

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        config = self.config
        histories = [list(feature["history"])[-config.history_length :] for feature in features]
        if self.training_candidates is not None:
            candidates = self.training_candidates.candidates(
                torch.tensor([feature["row"] for feature in features]),
                torch.tensor([feature["target"] for feature in features]),
            ).tolist()
        else:
            candidates = [list(feature["candidates"]) for feature in features]
        if self.prompt == "recommendation" and self.strict_candidates:
            for feature, row in zip(features, candidates):
                if len(row) != config.num_candidates:
                    raise ValueError(
                        f"user {feature.get('user_id')} has {len(row)} candidates but the model prompts with "
                        f"num_candidates={config.num_candidates}"
                    )
        prompts = [self.prompt_text(history, row) for history, row in zip(histories, candidates)]
        prompt_ids = self.tokenizer(prompts, add_special_tokens=True)["input_ids"]
        self.check_context(features, prompt_ids)
        pad = config.llm_pad_token_id
        batch = {
            "history_item_ids": pad_rows(histories, 0, "right"),
            "candidate_item_ids": torch.tensor(candidates, dtype=torch.long)
            if self.prompt == "recommendation"
            else None,
            "cf_input_ids": left_pad([feature["history"] for feature in features], self.cf_max_length),
            "user_ids": torch.tensor([feature["user_id"] for feature in features], dtype=torch.long),
        }
        prompts_padded = pad_rows(prompt_ids, pad, "left")
        prompt_mask = pad_rows([[1] * len(ids) for ids in prompt_ids], 0, "left")
        if self.with_answers:
            answers = [self.answer_ids[feature["target"]] for feature in features]
            batch["input_ids"] = torch.cat([prompts_padded, pad_rows(answers, pad, "right")], 1)
            batch["attention_mask"] = torch.cat(
                [prompt_mask, pad_rows([[1] * len(a) for a in answers], 0, "right")], 1
            )
            batch["labels"] = pad_rows(answers, IGNORE_INDEX, "right")
        else:
            batch["input_ids"], batch["attention_mask"] = prompts_padded, prompt_mask
        if self.with_candidate_answers:
            answers = [[self.answer_ids[item] for item in row] for row in candidates]
            width = max(len(answer) for row in answers for answer in row)
            batch["candidate_answer_ids"] = torch.tensor(
                [[a + [pad] * (width - len(a)) for a in row] for row in answers]
            )
            batch["candidate_answer_lengths"] = torch.tensor([[len(answer) for answer in row] for row in answers])
        return {name: value for name, value in batch.items() if value is not None}


class BackboneCollator:
    """Stacks rows; for training rows, adds the epoch's negative of every real position and drops the row index."""

    def __init__(self, negatives: EpochNegatives | None):
        self.negatives = negatives

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        batch = collate_rows(features)
        rows = batch.pop("row", None)
        if "positive_ids" in batch:
            negatives = self.negatives(rows, batch["positive_ids"].shape[1])
            batch["negative_ids"] = negatives.masked_fill(batch["positive_ids"] == 0, 0)
        return batch


class AlignerCollator:
    """Adds one negative per user and the texts of the batch's distinct items (or their precomputed embeddings,
    when the sentence encoder is frozen): the positives', followed by the negatives' with ``negative_texts``."""

    def __init__(
        self,
        negatives: EpochNegatives,
        text_input_ids=None,
        text_lengths=None,
        frozen_text_embeddings=None,
        *,
        negative_texts: bool,
    ):
        if frozen_text_embeddings is None and text_input_ids is None:
            raise ValueError("pass either the tokenised catalog or precomputed text embeddings")
        self.negatives = negatives
        self.text_input_ids = text_input_ids
        self.text_lengths = text_lengths
        self.frozen_text_embeddings = frozen_text_embeddings
        self.negative_texts = negative_texts

    def __call__(self, features):
        batch = collate_rows(features)
        rows = batch.pop("row")
        batch["negative_ids"] = self.negatives(rows)[:, 0]
        items = batch["positive_ids"]
        if self.negative_texts:
            items = torch.cat([items, batch["negative_ids"]])
        if self.frozen_text_embeddings is not None:
            batch["text_embeddings"] = self.frozen_text_embeddings[items]
            return batch
        distinct, batch["text_index"] = torch.unique(items, return_inverse=True)
        lengths = self.text_lengths[distinct]
        width = int(lengths.max())
        batch["text_input_ids"] = self.text_input_ids[distinct, :width]
        batch["text_attention_mask"] = (torch.arange(width)[None, :] < lengths[:, None]).long()
        return batch
