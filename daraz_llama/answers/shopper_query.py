"""A shopper's chat message → the search it stands for.

Question words, politeness and filler ("do you have", "what's the lowest price you have for",
"any options?", "ki ki ache", "dam koto", "khujchi") are stripped; product words, model numbers,
specs and budgets ("up to 55,000 taka", "2000 takar moddhe") are kept, so the retriever and the
fit test read what the shopper wants rather than how they asked. Follow-ups ("cheaper?", "in black?",
"oita koto?") are told apart from new questions.
"""

from __future__ import annotations

import re

# Whole phrases first (longest wins), then single words. Budget words (under, up to, taka, moddhe …)
# are never stripped: the retriever turns them into a price filter.
_FILLER_PHRASES = (
    r"what(?:'s| is| are)? the (?:lowest|cheapest|best|current) price (?:you have |you've got )?(?:for|of)",
    r"what(?:'s| is| are)? the price(?: of| for)?",
    r"how much (?:is|are|does|do|for|will)(?: it cost| they cost)?",
    r"how much",
    r"what(?: would| will| does)? it cost",
    r"what does it cost",
    r"do you (?:have|sell|carry|stock|got)",
    r"have you got",
    r"do you",
    r"can i (?:buy|get|order|find)",
    r"is (?:it|this|that|there) (?:available|in stock)",
    r"(?:is|are) there(?: any)?",
    r"i(?:'m| am) looking for",
    r"looking for",
    r"i (?:want|need|would like|wanna)(?: to buy| to get)?",
    r"i'd like(?: to buy)?",
    r"(?:can|could|would) you (?:please )?(?:show|suggest|recommend|find|tell)(?: me)?",
    r"show me",
    r"any (?:options|suggestions|ideas|recommendations)",
    r"what (?:do you have|have you got|are the options)",
    r"what(?:'s| is) (?:available|in stock)",
    r"you(?:'ve| have) got",
    r"do you have (?:one|it|them|any)",
    # Banglish
    r"ki ki ache",
    r"ache ki",
    r"pawa jabe",
    r"paowa jabe",
    r"dam koto",
    r"daam koto",
    r"koto taka",
    r"koto dam",
    r"dekhan to",
    r"dekhao to",
    r"apnader kache",
    r"apnar kache",
    r"what about",
    r"how about",
)
_FILLER_WORDS = frozenset(
    """
    a an the i i'm im me my mine we our you your u ur he she they it its it's this that these those there here
    is are am was were be been being do does did have has had got get gets getting can could would will should
    may might must shall please pls plz kindly thanks thank hi hello hey dear sir ok okay
    what what's whats which who whom whose how when where why whether if so then just also too really very
    some any anything something one ones available availability stock exist exists sell sold selling carry
    want wanted need needed looking look find show tell suggest recommend know like love about around
    price prices priced cost costs costing much many options option suggestions suggestion
    ache achhe ase ki kono ekta ekti amar amake amader apnar apnader tomar khujchi khujtesi chai chaichi lagbe
    hobe nibo kinbo dekhan dekhao plz bhai vai apu koto dam daam ta ti re na
""".split()
)
_WORD_RE = re.compile(r"[^\W_](?:[\w'.,/+-]*[^\W_])?|[৳%\"]", re.UNICODE)
_COMPARISON_RE = re.compile(
    r"\b(?:which (?:one )?(?:is|of)|vs\.?|versus|compare[ds]?|difference between|both)\b", re.IGNORECASE
)
_CHEAPEST_RE = re.compile(
    r"\b(?:cheapest|lowest price|least expensive|most affordable|sob(?:cheye)? kom dam\w*)\b", re.IGNORECASE
)

# Words that, on their own, describe a variation of the last search rather than a product.
_COMPARATIVES = frozenset(
    """cheaper cheap less expensive lower price affordable budget bigger smaller larger
    longer shorter lighter heavier better stronger faster slimmer thinner thicker sosta kom beshi boro choto
    other another different more same similar""".split()
)
_REFERENCES = frozenset("it this that these those one ones them same oita eita eta ota oigula eigula".split())
_ATTRIBUTES = frozenset(
    """black white red blue green yellow pink purple violet orange brown grey gray silver gold
    golden navy maroon beige cream ash olive sky kalo sada lal nil sobuj holud golapi
    size sizes small medium large xl xxl xxxl 2xl 3xl xs s m l free colour color colours colors
    cotton silk leather plastic steel metal wooden wood glass pcs pc piece pieces pack set pair packs sets
    version model variant option edition type
    kids kid child children baby boys girls men women man woman ladies gents chele meye cheleder meyeder""".split()
)
_PLACEHOLDERS = frozenset("something anything gift present recommend suggest".split())
_CONNECTORS = frozenset("and or ar r with without for in of e er te".split())  # never a product on their own
_FOLLOW_UP_START = re.compile(r"^\s*(?:and|what about|how about|in|with|without|for|ar|r|or)\b", re.IGNORECASE)
_BUDGET_RE = re.compile(
    r"\b(?:under|below|less than|within|upto|up to|budget|max|niche|nicher|moddhe|modhe|"
    r"vitore|bhitore|taka|takar|tk|bdt)\b|৳",
    re.IGNORECASE,
)


def _strip_phrases(text: str) -> str:
    for phrase in _FILLER_PHRASES:
        text = re.sub(rf"(?<![\w'])(?:{phrase})(?![\w'])", " ", text, flags=re.IGNORECASE)
    return text


def _words(text: str) -> list[str]:
    return [w.rstrip(".,") for w in _WORD_RE.findall(text) if w.rstrip(".,")]


def search_words(message: str) -> str:
    """The product words of a shopper's ``message`` (empty when it has none: "how much?")."""
    kept = [w for w in _words(_strip_phrases(message)) if w.lower() not in _FILLER_WORDS]
    while kept and kept[-1].lower() in _CONNECTORS:  # "… and" left behind by a stripped question
        kept.pop()
    while kept and kept[0].lower() in _CONNECTORS - {"for"}:
        kept.pop(0)
    return " ".join(kept)


def search_query(message: str) -> str:
    """The product search in a shopper's ``message`` (the message itself when nothing is left)."""
    return search_words(message) or " ".join(message.split())


def wants_cheapest(message: str) -> bool:
    """Whether the shopper asks for the cheapest of what fits."""
    return bool(_CHEAPEST_RE.search(message))


def is_comparison(message: str) -> bool:
    """Whether ``message`` compares products ("which is cheaper, the X or the Y?")."""
    return bool(_COMPARISON_RE.search(message))


def is_follow_up(message: str) -> bool:
    """Whether ``message`` varies the last search ("cheaper?", "in black?", "oita koto?", "what about 2 pcs?")
    rather than naming a kind of product of its own ("rice cooker", "ps5 controller charger")."""
    words = [w.lower() for w in _words(message)]
    if not words or _PLACEHOLDERS & set(words):  # "something for my kid": a new request
        return False
    content = [
        w.lower()
        for w in _words(_BUDGET_RE.sub(" ", _strip_phrases(message)))
        if w.lower() not in _FILLER_WORDS | _CONNECTORS
    ]
    product_words = [w for w in content if w not in _COMPARATIVES | _ATTRIBUTES and not _is_quantity(w)]
    if not product_words:  # "cheaper?", "in black?", "2 pcs?", "how much?", "under 500 taka?"
        return len(content) <= 4 or bool(_FOLLOW_UP_START.match(message))
    # "is it waterproof?", "does that one come in xl?": a question about the last products.
    return any(w in _REFERENCES for w in words) and len(product_words) <= 2 and len(content) <= 4


def _is_quantity(word: str) -> bool:
    """A bare number or a number with a unit ("2", "42", "1.5l", "500ml"), not a model name ("ps5", "rtx4060")."""
    return bool(
        re.fullmatch(
            r"\d+(?:[.,]\d+)?(?:pcs|pc|ml|l|ltr|litre|liter|kg|g|gb|tb|mah|inch|cm|mm|w|xl)?", word, re.IGNORECASE
        )
    )


_SENTENCE_RE = re.compile(r"[^.?!]+[.?!]*")
_ASKING_RE = re.compile(r"\b(?:it|its|it's|they|them|their|either|this one|that one)\b", re.IGNORECASE)


def asked_about(message: str) -> frozenset[str]:
    """Words that only the follow-on questions about "it" use ("… Moto G96? And does it have NFC?" → nfc):
    what the shopper asks about the product, not what names it."""
    sentences = [s for s in _SENTENCE_RE.findall(message) if s.strip()]
    asking = [s for s in sentences[1:] if _ASKING_RE.search(_strip_phrases(s))]  # "is there a …?" still names
    naming = [s for s in sentences if s not in asking]
    named = {w.lower() for s in naming for w in _words(s)}
    return frozenset({w.lower() for s in asking for w in _words(s)} - named)
