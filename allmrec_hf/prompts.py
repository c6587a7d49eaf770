"""Prompt templates of A-LLMRec (paper Figure 3; wording per domain as in the reference implementation).

Soft tokens enter the prompt through placeholder tokens: ``[UserRep]`` (the projected user representation), then
each history and candidate title followed by ``[HistoryEmb]`` / ``[CandidateEmb]`` (the projected joint embedding of
that item). The model replaces the placeholders' input embeddings (LLaVA-style); the LLM's own embedding table is
never touched.
"""

from __future__ import annotations

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


def quoted_titles(titles: list[str], placeholder: str | None) -> str:
    return ",".join(f'"{title}"{placeholder or ""}' for title in titles)


def history_clause(words: PromptDomain, history_titles: list[str], item_tokens: bool) -> str:
    if not history_titles:  # a new user: no title to list (the user token then carries the mean training user)
        return f"This user has not {words.interacted} any {words.noun} yet."
    return f"This user has {words.interacted} {quoted_titles(history_titles, HISTORY_TOKEN if item_tokens else None)} in the previous."


def recommendation_prompt(
    domain: str,
    history_titles: list[str],
    candidate_titles: list[str],
    user_token: bool = True,
    item_tokens: bool = True,
) -> str:
    """The recommendation prompt of Figure 3 (with ``user_token`` and ``item_tokens`` off: Figure 5, the prompt of
    LLM-Only and TALLRec)."""
    words = PROMPT_DOMAINS[domain]
    user = f"{USER_TOKEN} is a user representation. " if user_token else ""
    candidates = quoted_titles(candidate_titles, CANDIDATE_TOKEN if item_tokens else None)
    return (
        f"{user}{history_clause(words, history_titles, item_tokens)} Recommend one next {words.noun} for this "
        f"user to {words.verb} next from the following {words.noun} title set, {candidates}. The recommendation is "
    )


def preference_prompt(
    domain: str, history_titles: list[str], user_token: bool = True, item_tokens: bool = True
) -> str:
    """The favourite genre/category prompt of section 5.4.4: same user and history, asking in free text."""
    words = PROMPT_DOMAINS[domain]
    user = f"{USER_TOKEN} is a user representation. " if user_token else ""
    return (
        f"{user}{history_clause(words, history_titles, item_tokens)} "
        f"Given the {words.noun}s this user has {words.interacted}, the {words.preference} this user likes most are"
    )


def answer_text(title: str) -> str:
    """What the LLM is trained to answer: the quoted title (the tokenizer's EOS token is appended after it)."""
    return f'"{title}"'
