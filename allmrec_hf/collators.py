"""Batches for Trainer: precomputed tensor rows and the collators of the three stages (the CF backbone's, stage 1's
and stage 2's prompt batches), over one padding helper."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from .data.negatives import EpochCandidates, EpochNegatives
from .prompts import SoftTokenLayout, answer_token_ids, cap_titles, preference_prompt, recommendation_prompt


def pad(rows: list, value: int = 0, side: str = "left", length: int | None = None) -> torch.LongTensor:
    """Rows of ids as one ``(rows, width)`` tensor, filled with ``value`` on ``side``.

    ``width`` is ``length`` when given (a row longer than it keeps its last ``length`` ids when padded on the left,
    as a history window keeps the most recent items, its first when padded on the right), else the longest row.
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
    width = int(length if length is not None else lengths.max(initial=0))
    kept = np.minimum(lengths, width)
    output = np.full((len(rows), width), value, dtype=np.int64)
    if kept.sum():
        flat = np.concatenate([np.asarray(row, dtype=np.int64) for row in rows])
        row_of = np.repeat(np.arange(len(rows)), kept)
        within = np.arange(kept.sum()) - np.repeat(np.cumsum(kept) - kept, kept)
        first = np.cumsum(lengths) - lengths + (lengths - kept if side == "left" else 0)
        column = within + (width - np.repeat(kept, kept) if side == "left" else 0)
        output[row_of, column] = flat[np.repeat(first, kept) + within]
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


class RecommendationBatcher:
    """Builds the prompt batches of an LLM recommender from rows with ``history``, ``candidates``, ``target`` and
    ``user_id``: the prompt with its placeholders and the inputs of the soft tokens the config uses (item ids for
    ``[HistoryEmb]``/``[CandidateEmb]``, the CF history window for ``[UserRep]``), and the answers.

    Titles are capped at ``config.max_title_tokens`` and every catalog answer (the quoted title followed by EOS) is
    tokenised once at construction; prompts are tokenised per batch.

    Args:
        tokenizer: A tokenizer prepared by `prepare_tokenizer`.
        titles (`list[str]`): Title of every item id (index 0 is padding).
        config (`LLMPromptConfig`): The prompt (domain, history length, candidates, title cap, soft tokens).
        cf_window (`int`, *optional*): History window of the CF backbone, for ``x_u`` (models with a user token).
        with_answers (`bool`, *optional*, defaults to `True`): Append each row's target answer after its prompt
            (the training layout ``[left padding][prompt][answer][right padding]``) with ``labels``: the answer
            tokens aligned with the last columns, or with ``causal_lm_labels`` as long as ``input_ids`` (-100 over
            the prompt, as a `transformers` causal LM computes its own loss), with ``position_ids``.
        with_candidate_answers (`bool`, *optional*): Add every candidate's answer tokens (for candidate scoring);
            with ``with_answers`` false, ``labels`` are then each row's target index among its candidates (the
            ranking objectives' training batches).
        prompt (`str`, *optional*, defaults to `"recommendation"`): ``"recommendation"`` or ``"preference"``.
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
        config,
        cf_window: int | None = None,
        with_answers: bool = True,
        with_candidate_answers: bool = False,
        prompt: str = "recommendation",
        strict_candidates: bool = True,
        training_candidates: EpochCandidates | None = None,
        causal_lm_labels: bool = False,
    ):
        if prompt not in ("recommendation", "preference"):
            raise ValueError(f"prompt must be 'recommendation' or 'preference', got {prompt!r}")
        if config.use_user_token and cf_window is None:
            raise ValueError("a prompt with the user token needs the CF backbone's window (cf_window)")
        self.tokenizer = tokenizer
        self.titles = cap_titles(
            tokenizer, [title or config.missing_title for title in titles], config.max_title_tokens
        )
        self.config = config
        self.layout = SoftTokenLayout.of(config)
        self.cf_window = cf_window
        self.with_answers = with_answers
        self.with_candidate_answers = with_candidate_answers
        self.prompt = prompt
        self.strict_candidates = strict_candidates
        self.training_candidates = training_candidates
        self.causal_lm_labels = causal_lm_labels
        self.answer_ids = answer_token_ids(tokenizer, self.titles)
        self.context = getattr(config.llm_config.get_text_config(), "max_position_embeddings", None)

    @classmethod
    def for_model(cls, model, tokenizer, titles: list[str], **options) -> RecommendationBatcher:
        """A batcher for ``model``'s prompt (its config and CF window)."""
        return cls(tokenizer, titles, model.config, model.cf_window, **options)

    def prompt_text(self, history: list[int], candidates: list[int]) -> str:
        config = self.config
        history_titles = [self.titles[item] for item in history]
        if self.prompt == "preference":
            return preference_prompt(config.prompt_domain, history_titles, self.layout)
        return recommendation_prompt(
            config.prompt_domain, history_titles, [self.titles[item] for item in candidates], self.layout
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
                    f"--max_title_tokens (now {self.config.max_title_tokens}) or --history_length"
                )

    def candidates_of(self, features: list[dict]) -> list[list[int]]:
        if self.training_candidates is not None:
            return self.training_candidates.candidates(
                torch.tensor([feature["row"] for feature in features]),
                torch.tensor([feature["target"] for feature in features]),
            ).tolist()
        candidates = [list(feature["candidates"]) for feature in features]
        if self.prompt == "recommendation" and self.strict_candidates:
            for feature, row in zip(features, candidates):
                if len(row) != self.config.num_candidates:
                    raise ValueError(
                        f"user {feature.get('user_id')} has {len(row)} candidates but the model prompts with "
                        f"num_candidates={self.config.num_candidates}"
                    )
        return candidates

    def soft_token_inputs(self, features, histories, candidates) -> dict[str, torch.Tensor]:
        """The inputs of the soft tokens the prompt holds (none for a text-only prompt)."""
        inputs = {}
        if self.config.item_tokens:
            inputs["history_item_ids"] = pad(histories, 0, "right")
            if self.prompt == "recommendation":
                inputs["candidate_item_ids"] = torch.tensor(candidates, dtype=torch.long)
        if self.config.use_user_token:
            inputs["cf_input_ids"] = pad([feature["history"] for feature in features], 0, "left", self.cf_window)
            inputs["user_ids"] = torch.tensor([feature["user_id"] for feature in features], dtype=torch.long)
        return inputs

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        config = self.config
        histories = [list(feature["history"])[-config.history_length :] for feature in features]
        candidates = self.candidates_of(features)
        prompts = [self.prompt_text(history, row) for history, row in zip(histories, candidates)]
        prompt_ids = self.tokenizer(prompts, add_special_tokens=True)["input_ids"]
        self.check_context(features, prompt_ids)
        pad_id = config.llm_pad_token_id
        batch = self.soft_token_inputs(features, histories, candidates)
        batch["input_ids"] = pad(prompt_ids, pad_id, "left")
        batch["attention_mask"] = pad([[1] * len(ids) for ids in prompt_ids], 0, "left")
        if self.with_answers:
            answers = [self.answer_ids[feature["target"]] for feature in features]
            labels = pad(answers, IGNORE_INDEX, "right")
            if self.causal_lm_labels:
                labels = torch.cat([torch.full_like(batch["input_ids"], IGNORE_INDEX), labels], 1)
            batch["input_ids"] = torch.cat([batch["input_ids"], pad(answers, pad_id, "right")], 1)
            batch["attention_mask"] = torch.cat(
                [batch["attention_mask"], pad([[1] * len(a) for a in answers], 0, "right")], 1
            )
            batch["labels"] = labels
            if self.causal_lm_labels:
                batch["position_ids"] = (batch["attention_mask"].cumsum(1) - 1).clamp(min=0)
        if self.with_candidate_answers:
            answers = [[self.answer_ids[item] for item in row] for row in candidates]
            batch["candidate_answer_ids"] = torch.stack(
                [pad(row, pad_id, "right", max(map(len, sum(answers, [])))) for row in answers]
            )
            batch["candidate_answer_lengths"] = torch.tensor([[len(answer) for answer in row] for row in answers])
            if not self.with_answers and "target" in features[0]:
                batch["labels"] = torch.tensor([row.index(f["target"]) for f, row in zip(features, candidates)])
        return batch


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
