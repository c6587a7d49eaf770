"""Prompt templates of A-LLMRec (paper Figure 3; wording per domain as in the reference implementation).

Soft tokens enter the prompt through placeholder tokens: ``[UserRep]`` (the projected user representation), then
each history and candidate title followed by ``[HistoryEmb]`` / ``[CandidateEmb]`` (the projected joint embedding of
that item). The model replaces the placeholders' input embeddings (LLaVA-style); the LLM's own embedding table is
never touched.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass


USER_TOKEN = "[UserRep]"
HISTORY_TOKEN = "[HistoryEmb]"
CANDIDATE_TOKEN = "[CandidateEmb]"
PLACEHOLDER_TOKENS = (USER_TOKEN, HISTORY_TOKEN, CANDIDATE_TOKEN)


@dataclass(frozen=True)
class PromptDomain:
    """Verbs and nouns of one domain: movies are watched, games played, other items bought."""

    interacted: str
    noun: str
    verb: str
    preference: str


PROMPT_DOMAINS = {
    "movie": PromptDomain(interacted="watched", noun="movie", verb="watch", preference="genres"),
    "game": PromptDomain(interacted="played", noun="game", verb="play", preference="genres"),
    "item": PromptDomain(interacted="bought", noun="item", verb="buy", preference="categories"),
}


# Where the soft tokens sit. The paper (and the reference code) puts the user token first and each item's token after
# its title. Llama-style LLMs use position 0 as an attention sink whatever it holds, so a user token there may go
# unread; and a token after its title is seen by nothing of that title. The alternatives put text before the user token
# and each item's token before its title, so that the title's own tokens read it.
USER_TOKEN_PLACEMENTS = ("first", "after_text")
ITEM_TOKEN_PLACEMENTS = ("after_title", "before_title")


@dataclass(frozen=True)
class SoftTokenLayout:
    """Which soft tokens a prompt holds and where (see `USER_TOKEN_PLACEMENTS`, `ITEM_TOKEN_PLACEMENTS`); the default
    is the paper's prompt, ``SoftTokenLayout(False, False)`` the text-only prompt of LLM-Only and TALLRec."""

    user_token: bool = True
    item_tokens: bool = True
    user_token_placement: str = "first"
    item_token_placement: str = "after_title"

    def __post_init__(self):
        if self.user_token_placement not in USER_TOKEN_PLACEMENTS:
            raise ValueError(
                f"user_token_placement must be one of {USER_TOKEN_PLACEMENTS}, got {self.user_token_placement!r}"
            )
        if self.item_token_placement not in ITEM_TOKEN_PLACEMENTS:
            raise ValueError(
                f"item_token_placement must be one of {ITEM_TOKEN_PLACEMENTS}, got {self.item_token_placement!r}"
            )

    @classmethod
    def of(cls, config) -> SoftTokenLayout:
        """The layout a model's config sets."""
        return cls(config.use_user_token, config.item_tokens, config.user_token_placement, config.item_token_placement)

    def user_sentence(self) -> str:
        if not self.user_token:
            return ""
        if self.user_token_placement == "first":
            return f"{USER_TOKEN} is a user representation. "
        return f"The user representation is {USER_TOKEN}. "

    def quoted_titles(self, titles: list[str], placeholder: str) -> str:
        if not self.item_tokens:
            return ",".join(f'"{title}"' for title in titles)
        if self.item_token_placement == "before_title":
            return ",".join(f'{placeholder}"{title}"' for title in titles)
        return ",".join(f'"{title}"{placeholder}' for title in titles)


def history_clause(words: PromptDomain, history_titles: list[str], layout: SoftTokenLayout) -> str:
    if not history_titles:  # a new user: no title to list (the user token then carries the mean training user)
        return f"This user has not {words.interacted} any {words.noun} yet."
    return f"This user has {words.interacted} {layout.quoted_titles(history_titles, HISTORY_TOKEN)} in the previous."


def recommendation_prompt(
    domain: str, history_titles: list[str], candidate_titles: list[str], layout: SoftTokenLayout = SoftTokenLayout()
) -> str:
    """The recommendation prompt of Figure 3 (with a text-only ``layout``: Figure 5, the prompt of LLM-Only and
    TALLRec)."""
    words = PROMPT_DOMAINS[domain]
    candidates = layout.quoted_titles(candidate_titles, CANDIDATE_TOKEN)
    return (
        f"{layout.user_sentence()}{history_clause(words, history_titles, layout)} Recommend one next {words.noun} for "
        f"this user to {words.verb} next from the following {words.noun} title set, {candidates}. {ANSWER_ANCHOR}"
    )


def preference_prompt(domain: str, history_titles: list[str], layout: SoftTokenLayout = SoftTokenLayout()) -> str:
    """The favourite genre/category prompt of section 5.4.4: same user and history, asking in free text."""
    words = PROMPT_DOMAINS[domain]
    return (
        f"{layout.user_sentence()}{history_clause(words, history_titles, layout)} "
        f"Given the {words.noun}s this user has {words.interacted}, the {words.preference} this user likes most are"
    )


# The prompt's last words. The answer follows them as natural text does (` "Title"`, the space inside the answer's first
# token): a prompt ending in a space would make every tokenizer here emit a lone space token that text never has.
ANSWER_ANCHOR = "The recommendation is"


def answer_text(title: str) -> str:
    """What the LLM is trained to answer after the prompt: the quoted title (the tokenizer's EOS token follows)."""
    return f' "{title}"'


def answer_token_ids(tokenizer, titles: list[str]) -> list[list[int]]:
    """The token ids of every title's answer as they follow the prompt, EOS appended.

    Tokenised behind the prompt's last words and cut after them, so the ids are those the tokenizer gives the answer
    inside the full text (SentencePiece and byte-level BPE treat a leading space differently when a text starts
    with it)."""
    anchor = tokenizer(ANSWER_ANCHOR, add_special_tokens=False)["input_ids"]
    joint = tokenizer([ANSWER_ANCHOR + answer_text(title) for title in titles], add_special_tokens=False)["input_ids"]
    for title, ids in zip(titles, joint):
        if ids[: len(anchor)] != anchor:
            raise ValueError(f"{type(tokenizer).__name__} merges the prompt's end with the answer {title!r}")
    return [ids[len(anchor) :] + [tokenizer.eos_token_id] for ids in joint]


def cap_titles(tokenizer, titles: list[str], max_tokens: int | None) -> list[str]:
    """Titles without surrounding whitespace and of at most ``max_tokens`` tokens, longer ones cut at the last word
    boundary within the cap (at the cap itself when the first word is already longer)."""
    titles = [title.strip() for title in titles]
    if max_tokens is None:
        return titles
    offsets = tokenizer(titles, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    capped = []
    for title, spans in zip(titles, offsets):
        if len(spans) <= max_tokens:
            capped.append(title)
            continue
        end = spans[max_tokens - 1][1]
        boundary = title.rfind(" ", 0, end + 1) if not title[end : end + 1].isspace() else end
        capped.append(title[: boundary if boundary > 0 else end].rstrip())
    return capped


_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Lower-cased, HTML-unescaped, whitespace-collapsed text with straight quotes."""
    return _SPACE.sub(" ", html.unescape(text).translate(_QUOTES)).strip().lower()


def normalize_title(text: str) -> str:
    """`normalize_text` without surrounding quotes or a final period: how a title a person types is looked up."""
    return normalize_text(text).strip(" \"'").rstrip(".").strip()


def named_candidates(answer: str, candidate_titles: list[str]) -> list[int]:
    """The candidates a generated answer names: those whose normalised title the answer starts with, quoted (or is,
    unquoted), a final period and spaces inside the quotes allowed. When one matching title extends another (``1.88`` and ``1.88" x 9 yd``) the
    longer is meant; several indices remain only when candidates share the same normalised title."""
    text = normalize_text(answer)
    titles = [normalize_text(title) for title in candidate_titles]
    named = [
        index for index, title in enumerate(titles) if re.match(rf'"? ?{re.escape(title)} ?\.? ?("|$)', text) and title
    ]
    longest = max((len(titles[index]) for index in named), default=0)
    return [index for index in named if len(titles[index]) == longest]


def exact_hit(answer: str, candidate_titles: list[str], target_index: int) -> float:
    """Hit@1 of a generated answer: 1 when it names the target alone, ``1/k`` when it names a title that the target
    shares with ``k - 1`` other candidates (the expectation of a random pick among them, the same rule candidate
    scoring applies to the tied likelihoods of identical answers), else 0."""
    named = named_candidates(answer, candidate_titles)
    return 1.0 / len(named) if target_index in named else 0.0


def lenient_hit(answer: str, target_title: str) -> bool:
    """The reference implementation's rule: the lower-cased target title is a substring of the text between the
    first and the last quote of the answer (the whole answer when it has fewer than two quotes). It counts answers
    naming several titles, and titles that are prefixes of others, as hits."""
    answer = answer.translate(_QUOTES).lower()
    start, end = answer.find('"'), answer.rfind('"')
    inside = answer[start + 1 : end] if end > start else answer
    return target_title.lower() in inside


def prepare_tokenizer(tokenizer, placeholders: bool = True) -> dict[str, int]:
    """Make sure a padding token exists (GPT-2 and Llama have none: EOS serves), pad on the left and, with
    ``placeholders``, add the soft-token placeholders as special tokens (so they are never split or merged); return
    the token ids the config records."""
    if tokenizer.eos_token_id is None:
        raise ValueError(f"{type(tokenizer).__name__} has no end-of-sequence token; answers end with one")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    ids = {
        "llm_pad_token_id": tokenizer.pad_token_id,
        "llm_eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.bos_token_id,
    }
    if placeholders:
        tokenizer.add_tokens(list(PLACEHOLDER_TOKENS), special_tokens=True)
        user, history, candidate = tokenizer.convert_tokens_to_ids(list(PLACEHOLDER_TOKENS))
        ids.update({"user_token_id": user, "history_token_id": history, "candidate_token_id": candidate})
    return ids
