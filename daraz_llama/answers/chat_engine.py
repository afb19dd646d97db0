"""A LlamaIndex chat engine over the product retriever: condense → retrieve → numbered context → cited answer."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, ChatResponseGen, MessageRole
from llama_index.core.chat_engine.types import AgentChatResponse, BaseChatEngine, StreamingAgentChatResponse
from llama_index.core.llms import LLM
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.schema import NodeWithScore

from daraz_llama.answers.context import (
    FULL_CONTEXT,
    ContextProduct,
    ContextStyle,
    format_context,
    number_products,
    taka,
)
from daraz_llama.answers.fit import ProductFit, Requirements, TitleVocabulary, assess_all
from daraz_llama.answers.offline_llm import CatalogAnswerLLM
from daraz_llama.answers.shopper_query import (
    asked_about,
    is_comparison,
    is_follow_up,
    search_query,
    search_words,
    wants_cheapest,
)
from daraz_llama.filters import ProductFilters
from daraz_llama.index import ProductIndex
from daraz_llama.milvus_store import MilvusIndex
from daraz_llama.postprocessor import product_id_of
from daraz_llama.retriever import ProductRetriever, build_retriever

SYSTEM_PROMPT = (
    "You are a shopping assistant for a Daraz store. Answer only from the numbered products below. "
    "Cite every product you mention as [n]. Never state a price, rating or spec that the cited product "
    "does not list. A product with a 'misses' line lacks what it names: say so. A CHEAPER THAN line gives "
    "the price of the product the shopper saw last. If no product is listed, "
    "say plainly that nothing in the catalog fits and cite nothing.\n\n{context}"
)
CHEAPER_RE = re.compile(r"\b(cheaper|less expensive|lower price|more affordable|kom dam\w*|sosta)\b", re.I)
MAX_MESSAGE_CHARS = 1000  # a longer message is cut: no search or model reads more
NOTHING_FITS_WRITER = CatalogAnswerLLM()
REFERENCE_RE = re.compile(r"\b(it|this|that|these|those|one|ones|them|same|oita|eita|eta|ota)\b", re.I)


@dataclass
class Turn:
    """What the engine did for one message (the Chainlit app shows it).

    ``retrieved``: what the search found, best fit first; ``products``: those handed to the
    generator (none when nothing fits the requirements).
    """

    message: str
    standalone: str
    products: list[ContextProduct]
    mode: str
    filters: dict[str, Any]
    retrieved: list[ContextProduct]


def title_vocabulary(index: ProductIndex | MilvusIndex) -> TitleVocabulary:
    """The catalog's title words (computed once per loaded index)."""
    if "title_vocabulary" not in index.cache:
        index.cache["title_vocabulary"] = TitleVocabulary.from_titles(index.titles().values())
    return index.cache["title_vocabulary"]


def _fit_text(product: ContextProduct, node: NodeWithScore) -> str:
    fields = (product.title, product.brand, product.category, product.colors, product.sizes, node.node.get_content())
    return " ".join(str(value) for value in fields if value)


def order_by_fit(
    products: list[ContextProduct], fits: list[ProductFit], cheapest: bool = False
) -> list[tuple[ContextProduct, ProductFit]]:
    """Products that miss the fewest names, models, measures and budget first (retrieval order within a tie);
    asked for the cheapest, the cheapest of the best-fitting ones leads."""

    def key(pair: tuple[ContextProduct, ProductFit]) -> tuple[int, int, bool]:
        fit = pair[1]
        return len(fit.missing_identity), len(fit.missing), not fit.fits

    ranked = sorted(zip(products, fits), key=key)
    if cheapest and ranked:
        best = [pair for pair in ranked if key(pair) == key(ranked[0]) and pair[0].price is not None]
        if best:
            lead = min(best, key=lambda pair: pair[0].price or 0.0)
            ranked.remove(lead)
            ranked.insert(0, lead)
    return ranked


class ProductChatEngine(BaseChatEngine):
    """Chat over the catalog with any LlamaIndex ``LLM``; answers cite products as [1], [2] …

    Each message becomes a search (question words stripped); follow-ups ("is there a cheaper one?",
    "in black?") are condensed with the previous search ("cheaper" becomes a price ceiling below the
    last best match). The products found are checked against what the shopper asked for
    (:mod:`daraz_llama.answers.fit`): the best fit leads, a partial match carries what it misses, and
    when nothing fits, the catalog's own refusal answers instead of the generator. An LLM with a
    ``context_style`` (the local Gemma) gets at most its number of products, described as briefly as it
    asks (``style`` overrides it).
    """

    def __init__(
        self,
        retriever: ProductRetriever,
        llm: LLM,
        context_products: int = 5,
        memory: ChatMemoryBuffer | None = None,
        style: ContextStyle | None = None,
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.style: ContextStyle = style if style is not None else getattr(llm, "context_style", FULL_CONTEXT)
        self.context_products = min(context_products, self.style.max_products or context_products)
        self.memory = memory or ChatMemoryBuffer.from_defaults(token_limit=3000)
        self.last_turn: Turn | None = None
        self.vocabulary = title_vocabulary(retriever.index)

    @property
    def chat_history(self) -> list[ChatMessage]:
        return self.memory.get_all()

    def reset(self) -> None:
        self.memory.reset()
        self.last_turn = None

    def condense(self, message: str) -> tuple[str, dict[str, Any]]:
        """The standalone search for ``message`` and extra filters implied by the conversation.

        A new question is searched on its own (question words stripped); a follow-up ("cheaper?",
        "in black?", "oita koto?") adds its words to the previous search, and "cheaper" becomes a
        price ceiling below the last best match, within its category.
        """
        search = search_query(message)
        previous = self.last_turn
        if previous is None or not is_follow_up(message):
            return search, {}
        extra: dict[str, Any] = {}
        cheaper = CHEAPER_RE.search(message)
        shown = previous.products or previous.retrieved
        lead = shown[0] if shown else None
        if cheaper and lead is not None and lead.price:
            extra["max_price"] = lead.price - 1
            if lead.category and self.retriever.config.filters.category is None:
                extra["category"] = lead.category  # a cheaper one of the same kind, not anything cheaper
        rest = REFERENCE_RE.sub(" ", CHEAPER_RE.sub(" ", search_words(message)))
        return " ".join(f"{previous.standalone} {rest}".split()), extra

    def _retrieve(
        self, standalone: str, extra: dict[str, Any]
    ) -> tuple[list[NodeWithScore], ProductFilters, ProductRetriever]:
        retriever = self.retriever
        if extra:
            filters = replace(retriever.config.filters, **extra)
            retriever = build_retriever(retriever.index, retriever.config, filters=filters)
        nodes, applied = retriever.search(standalone)
        return nodes, applied, retriever

    def _select(
        self, message: str, standalone: str, nodes: list[NodeWithScore]
    ) -> tuple[list[ContextProduct], list[ContextProduct]]:
        """All retrieved products, best fit first, and those the generator gets (none when nothing fits)."""
        requirements = Requirements.from_search(
            standalone,
            self.vocabulary,
            cheapest=wants_cheapest(message),
            comparison=is_comparison(message),
            message=message,
            asked=asked_about(message),
        )
        products = number_products(nodes)
        fits = assess_all(
            requirements,
            [p.title for p in products],
            [_fit_text(p, n) for p, n in zip(products, nodes)],
            [p.price for p in products],
        )
        ranked = order_by_fit(products, fits, requirements.cheapest)
        retrieved = [
            replace(product, number=i, missing=fit.missing_identity + fit.missing, meets=fit.met)
            for i, (product, fit) in enumerate(ranked, start=1)
        ]
        fitting = bool(ranked) and ranked[0][1].fits
        return retrieved, retrieved[: self.context_products] if fitting else []

    def _messages(
        self, message: str, standalone: str, products: list[ContextProduct], cheaper_than: float | None = None
    ) -> list[ChatMessage]:
        question = f"QUESTION: {' '.join(message.split())}"
        if self.style.search_line or not products:  # the catalog's refusal names the search
            question += f"\nSEARCH: {standalone}"
        if cheaper_than is not None:
            question += f"\nCHEAPER THAN: {taka(cheaper_than)}"
        return [
            ChatMessage(
                role=MessageRole.SYSTEM,
                content=SYSTEM_PROMPT.format(context=format_context(products, self.style)),
            ),
            ChatMessage(role=MessageRole.USER, content=question),
        ]

    def prepare(self, message: str) -> tuple[list[ChatMessage], list[NodeWithScore]]:
        """Search for ``message`` and return the generator's messages and the products given to it
        (recorded as :attr:`last_turn` and in memory)."""
        message = message[:MAX_MESSAGE_CHARS]
        standalone, extra = self.condense(message)
        nodes, applied, retriever = self._retrieve(standalone, extra)
        retrieved, products = self._select(message, standalone, nodes)
        by_id = {product_id_of(n): n for n in nodes}
        sources = [by_id[p.product_id] for p in products if p.product_id in by_id]
        self.last_turn = Turn(message, standalone, products, retriever.mode, applied.as_dict(), retrieved)
        self.memory.put(ChatMessage(role=MessageRole.USER, content=message))
        cheaper_than = extra["max_price"] + 1 if "max_price" in extra else None
        return self._messages(message, standalone, products, cheaper_than), sources

    def _writer(self) -> LLM:
        """The generator, or the catalog's own answer when nothing fits: with no product to ground on there is
        nothing for a model to write, and the refusal is then instant and never invents a product."""
        return self.llm if self.last_turn is None or self.last_turn.products else NOTHING_FITS_WRITER

    def chat(self, message: str, chat_history: list[ChatMessage] | None = None) -> AgentChatResponse:
        messages, nodes = self.prepare(message)
        answer = self._writer().chat(messages).message.content or ""
        self.memory.put(ChatMessage(role=MessageRole.ASSISTANT, content=answer))
        return AgentChatResponse(response=answer, source_nodes=nodes)

    def stream_chat(self, message: str, chat_history: list[ChatMessage] | None = None) -> StreamingAgentChatResponse:
        messages, nodes = self.prepare(message)

        def tokens() -> ChatResponseGen:
            text = ""
            for chunk in self._writer().stream_chat(messages):
                text += chunk.delta or ""
                yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=chunk.delta)
            self.memory.put(ChatMessage(role=MessageRole.ASSISTANT, content=text))

        # Tokens are generated as the caller reads ``response_gen`` (no writer thread polling a queue).
        return StreamingAgentChatResponse(chat_stream=tokens(), source_nodes=nodes, is_writing_to_memory=False)

    async def achat(self, message: str, chat_history: list[ChatMessage] | None = None) -> AgentChatResponse:
        return await asyncio.to_thread(self.chat, message, chat_history)

    async def astream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        return await asyncio.to_thread(self.stream_chat, message, chat_history)
