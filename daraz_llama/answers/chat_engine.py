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

from daraz_llama.answers.context import ContextProduct, format_context, number_products
from daraz_llama.retriever import ProductRetriever, build_retriever

SYSTEM_PROMPT = (
    "You are a shopping assistant for a Daraz store. Answer only from the numbered products below. "
    "Cite every product you mention as [n]. Never state a price, rating or spec that the cited product "
    "does not list. If no product fits the question, say so plainly and cite nothing.\n\n{context}"
)
CHEAPER_RE = re.compile(r"\b(cheaper|less expensive|lower price|more affordable|budget|kom dam\w*|sosta)\b", re.I)
FOLLOW_UP_RE = re.compile(r"^(and |what about |how about |any |in |with |show me |only |also |ar )", re.I)
FILLER_RE = re.compile(r"\b(is there|are there|a|an|one|ones|any|show me|what about|how about|please|only|also)\b"
                       r"|[?!.]", re.I)


@dataclass
class Turn:
    """What the engine did for one message (the Chainlit app shows it)."""

    message: str
    standalone: str
    products: list[ContextProduct]
    mode: str
    filters: dict[str, Any]


class ProductChatEngine(BaseChatEngine):
    """Chat over the catalog with any LlamaIndex ``LLM``; answers cite products as [1], [2] …

    Follow-ups ("is there a cheaper one?", "in black?") are condensed with the previous turn into a
    standalone search: "cheaper" becomes a price ceiling below the last best match.
    """

    def __init__(self, retriever: ProductRetriever, llm: LLM, context_products: int = 5,
                 memory: ChatMemoryBuffer | None = None) -> None:
        self.retriever = retriever
        self.llm = llm
        self.context_products = context_products
        self.memory = memory or ChatMemoryBuffer.from_defaults(token_limit=3000)
        self.last_turn: Turn | None = None

    @property
    def chat_history(self) -> list[ChatMessage]:
        return self.memory.get_all()

    def reset(self) -> None:
        self.memory.reset()
        self.last_turn = None

    def condense(self, message: str) -> tuple[str, dict[str, Any]]:
        """The standalone search for ``message`` and extra filters implied by the conversation."""
        previous = self.last_turn
        if previous is None:
            return message, {}
        extra: dict[str, Any] = {}
        cheaper = CHEAPER_RE.search(message)
        if cheaper and previous.products and previous.products[0].price:
            extra["max_price"] = previous.products[0].price - 1
        rest = " ".join(FILLER_RE.sub(" ", CHEAPER_RE.sub(" ", message)).split())
        if cheaper or FOLLOW_UP_RE.match(message) or len(message.split()) <= 3:
            rest = re.sub(r"^(and|in|with)\s+", "", rest, flags=re.I)
            return " ".join(f"{previous.standalone} {rest}".split()), extra
        return message, {}

    def _retrieve(self, message: str) -> tuple[str, list[NodeWithScore], ProductRetriever]:
        standalone, extra = self.condense(message)
        retriever = self.retriever
        if extra:
            filters = replace(retriever.config.filters, **extra)
            retriever = build_retriever(retriever.index, retriever.config, filters=filters)
        nodes = retriever.retrieve(standalone)[: self.context_products]
        return standalone, nodes, retriever

    def _messages(self, standalone: str, products: list[ContextProduct]) -> list[ChatMessage]:
        return [ChatMessage(role=MessageRole.SYSTEM, content=SYSTEM_PROMPT.format(context=format_context(products))),
                ChatMessage(role=MessageRole.USER, content=f"QUESTION: {standalone}")]

    def _prepare(self, message: str) -> tuple[list[ChatMessage], list[NodeWithScore]]:
        standalone, nodes, retriever = self._retrieve(message)
        products = number_products(nodes)
        self.last_turn = Turn(message, standalone, products, retriever.mode, retriever.last_filters.as_dict())
        self.memory.put(ChatMessage(role=MessageRole.USER, content=message))
        return self._messages(standalone, products), nodes

    def chat(self, message: str, chat_history: list[ChatMessage] | None = None) -> AgentChatResponse:
        messages, nodes = self._prepare(message)
        answer = self.llm.chat(messages).message.content or ""
        self.memory.put(ChatMessage(role=MessageRole.ASSISTANT, content=answer))
        return AgentChatResponse(response=answer, source_nodes=nodes)

    def stream_chat(self, message: str, chat_history: list[ChatMessage] | None = None
                    ) -> StreamingAgentChatResponse:
        messages, nodes = self._prepare(message)

        def tokens() -> ChatResponseGen:
            text = ""
            for chunk in self.llm.stream_chat(messages):
                text += chunk.delta or ""
                yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=chunk.delta)
            self.memory.put(ChatMessage(role=MessageRole.ASSISTANT, content=text))

        # Tokens are generated as the caller reads ``response_gen`` (no writer thread polling a queue).
        return StreamingAgentChatResponse(chat_stream=tokens(), source_nodes=nodes, is_writing_to_memory=False)

    async def achat(self, message: str, chat_history: list[ChatMessage] | None = None) -> AgentChatResponse:
        return await asyncio.to_thread(self.chat, message, chat_history)

    async def astream_chat(self, message: str, chat_history: list[ChatMessage] | None = None
                           ) -> StreamingAgentChatResponse:
        return await asyncio.to_thread(self.stream_chat, message, chat_history)
