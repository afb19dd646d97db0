"""Grounded decoding for the local model: a taka amount it writes is one the products list, a citation a
product it was given.

After "৳ " the next characters must spell one of the context's amounts (as the context writes them,
"1,850"); after "[" one of the product numbers and "]"; no other currency's sign at all (the catalog is in
taka, so "$20" could only be made up). Greedy decoding keeps the model's choice when it is allowed (outside
an amount or citation, the tokens close to the best are checked) and otherwise takes its best allowed candidate,
so a small model can no longer turn ৳ 639 into ৳ 6,392 or cite a product that is not there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from daraz_llama.answers.context import parse_context
from daraz_llama.answers.grounding import OTHER_CURRENCY_SIGNS

AMOUNT_TAIL = re.compile(r"৳( ?)([0-9,.]*)$")
CITATION_TAIL = re.compile(r"\[([0-9]*)$")
CONTEXT_AMOUNT = re.compile(r"৳ ([0-9]+(?:,[0-9]+)*(?:\.[0-9]+)?)")
NUMBER_CHARS = frozenset("0123456789,.")
TAIL_CHARS = 40  # the open amount or citation is always within the text's last characters
TAIL_TOKENS = 4 * TAIL_CHARS  # answer tokens that hold them, even where a character takes several byte tokens
CANDIDATES = 64  # how many of the best tokens are tried when the model's own choice is not allowed
PENALTY_REACH = 0.1  # a repetition penalty up to 1.1 can lift a token this close (relatively) to the best one


@dataclass(frozen=True)
class GroundedDecoding:
    """What the answer may state: the context's taka amounts and product numbers."""

    amounts: frozenset[str]
    numbers: frozenset[str]

    @classmethod
    def from_prompt(cls, prompt: str) -> GroundedDecoding | None:
        """The rules for a prompt with a numbered product block; None when it has no products."""
        products = parse_context(prompt)
        if not products:
            return None
        amounts = {amount for p in products for amount in CONTEXT_AMOUNT.findall(p.get("price", ""))}
        return cls(frozenset(amounts), frozenset(p["number"] for p in products))

    def allows(self, text: str, piece: str) -> bool:
        """Whether ``piece`` may follow the answer so far, ``text``."""
        tail = text[-TAIL_CHARS:]
        for char in piece:
            if not self._next_char_allowed(tail, char):
                return False
            tail += char
        return True

    def _next_char_allowed(self, tail: str, char: str) -> bool:
        if char in OTHER_CURRENCY_SIGNS:
            return False
        amount = AMOUNT_TAIL.search(tail)
        if amount:
            space, digits = amount.groups()
            if not space and not digits:
                return char == " " or self._continues(self.amounts, "", char)
            return self._amount_char_allowed(digits, char)
        citation = CITATION_TAIL.search(tail)
        if citation:
            digits = citation.group(1)
            return self._continues(self.numbers, digits, char) or (digits in self.numbers and char == "]")
        return True

    def _amount_char_allowed(self, digits: str, char: str) -> bool:
        """A digit must continue a listed amount; anything else may end a complete one (a comma or a full stop
        after it is punctuation when no listed amount goes on that way)."""
        if self._continues(self.amounts, digits, char):
            return True
        if char.isdigit():
            return False
        if digits in self.amounts:
            return True
        return digits[-1:] in (",", ".") and digits[:-1] in self.amounts and char not in NUMBER_CHARS

    @staticmethod
    def _continues(allowed: frozenset[str], prefix: str, char: str) -> bool:
        return any(value.startswith(prefix + char) for value in allowed)

    def is_open(self, text: str) -> bool:
        """Whether an amount or a citation is being written (the next characters are constrained)."""
        tail = text[-TAIL_CHARS:]
        return bool(AMOUNT_TAIL.search(tail) or CITATION_TAIL.search(tail))

    def mask(self, text: str, scores: np.ndarray, piece_of: Callable[[int], str]) -> np.ndarray:
        """``scores`` (next-token logits) with every token that breaks the rules pushed to -inf. Outside an
        amount or a citation only the tokens close to the best are checked: a repetition penalty applied
        after this (llama.cpp's order) can lift one of them to the top; inside one every candidate is."""
        if not self.is_open(text):
            best = float(np.max(scores))
            close = np.flatnonzero(scores >= best - abs(best) * PENALTY_REACH)
            banned = [int(token) for token in close if not self.allows(text, piece_of(int(token)))]
            if len(banned) < len(close):
                if banned:
                    scores = scores.copy()
                    scores[banned] = -np.inf
                return scores
        count = min(CANDIDATES, scores.shape[-1])
        candidates = np.argpartition(scores, -count)[-count:]
        allowed = [int(token) for token in candidates if self.allows(text, piece_of(int(token)))]
        if not allowed:
            return scores  # nothing near the model's choice fits: leave it (the grounding check reports it)
        masked = np.full_like(scores, -np.inf)
        masked[allowed] = scores[allowed]
        return masked
