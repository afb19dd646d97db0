"""An OpenAI-compatible ``/v1/chat/completions`` server for any generator (``daraz-llama serve-llm``)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Iterator

from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms import LLM
from pydantic import BaseModel, Field

ROLES = {"system": MessageRole.SYSTEM, "user": MessageRole.USER, "assistant": MessageRole.ASSISTANT}


class Message(BaseModel):
    role: str
    content: str


class ChatRequest(BaseModel):
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None


def create_app(llm: LLM, model_name: str) -> FastAPI:
    """A FastAPI app that answers OpenAI chat-completion requests with ``llm``."""
    app = FastAPI(title="daraz-llama generator")

    def to_messages(request: ChatRequest) -> list[ChatMessage]:
        try:
            return [ChatMessage(role=ROLES[m.role], content=m.content) for m in request.messages]
        except KeyError as err:
            raise HTTPException(status_code=400, detail=f"unknown role {err.args[0]!r}") from err

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "daraz-llama"}]}

    @app.post("/v1/chat/completions", response_model=None)
    def chat(request: ChatRequest) -> dict[str, Any] | StreamingResponse:
        messages = to_messages(request)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:16]}"
        created = int(time.time())
        if not request.stream:
            text = llm.chat(messages).message.content or ""
            return {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model_name,
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                "usage": {
                    "prompt_tokens": 0,
                    "completion_tokens": len(text.split()),
                    "total_tokens": len(text.split()),
                },
            }

        def events() -> Iterator[str]:
            def chunk(delta: dict[str, str], finish: str | None = None) -> str:
                body = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model_name,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

            yield chunk({"role": "assistant", "content": ""})
            for piece in llm.stream_chat(messages):
                if piece.delta:
                    yield chunk({"content": piece.delta})
            yield chunk({}, "stop")
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app
