"""Rows of a prepared split -> LLM batches: prompts with placeholders, soft-token item ids and answers."""

from __future__ import annotations

import torch

from .configuration_allmrec import ALLMRecConfig
from .data.batching import EpochCandidates, left_pad
from .prompts import answer_token_ids, cap_titles, preference_prompt, recommendation_prompt


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
