"""Chainlit chat over the Daraz catalog: ``daraz-llama chat`` (or ``chainlit run chat_app.py`` in a checkout).

The catalog comes from DARAZ_LLAMA_CORPUS / DARAZ_LLAMA_INDEX_DIR (default: the packaged demo corpus),
is loaded once per process, and is shared by every session; each session has its own settings and
conversation. See chainlit.md (the in-app readme) and README.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no weight-loading bars in the server log

import chainlit as cl
from chainlit.input_widget import NumberInput, Select, Slider, TextInput

from daraz_llama.answers.generators import GeneratorError
from daraz_llama.answers.local_llm import installed_runtimes
from daraz_llama.chat.auth import LoginGuard, login_users
from daraz_llama.chat.cards import card_props, cited, ranking_list
from daraz_llama.chat.catalog import (
    Catalog,
    CatalogError,
    CatalogSource,
    catalog_loaded,
    generator_note,
    shared_catalog,
)
from daraz_llama.chat.errors import explain_generator_error
from daraz_llama.chat.options import (
    ANY,
    GENERATOR_LABELS,
    LOCAL_MODEL_LABELS,
    LOCAL_RUNTIME_LABELS,
    MODE_LABELS,
    ChatOptions,
    OptionsError,
    category_label,
    describe_filters,
    options_from_settings,
)
from daraz_llama.filters import ProductFilters
from daraz_llama.models import ModelError
from daraz_llama.text import escape_markdown

logger = logging.getLogger("daraz_llama.chat")
STEP_NAME = "How these results were found"


def settings_widgets(catalog: Catalog, options: ChatOptions) -> list[Any]:
    filters = options.filters
    categories = {
        f"{category_label(name)} ({count})": name
        for name, count in sorted(catalog.category_counts.items(), key=lambda item: item[0].casefold())
    }
    return [
        Select(
            id="category",
            label="Category",
            items={"Any category": ANY, **categories},
            initial_value=filters.category or ANY,
        ),
        NumberInput(
            id="max_price",
            label="Highest price in taka (0: no limit)",
            initial=filters.max_price,
            placeholder="no limit",
        ),
        NumberInput(
            id="min_price",
            label="Lowest price in taka (0: no limit)",
            initial=filters.min_price,
            placeholder="no limit",
        ),
        Slider(
            id="min_rating", label="Minimum stars (0: any)", initial=filters.min_rating or 0, min=0, max=5, step=0.5
        ),
        TextInput(id="brand", label="Brand", initial=filters.brand or "", placeholder="any brand"),
        Slider(
            id="products", label="Products to compare in each answer", initial=options.products, min=1, max=10, step=1
        ),
        Select(
            id="generator",
            label="Who writes the answers",
            items=GENERATOR_LABELS,
            initial_value=options.generator,
            description="Catalog facts: instant, always from the listings. The others write freely, "
            "still only from the listings found.",
        ),
        Select(id="local_model", label="Gemma model", items=LOCAL_MODEL_LABELS, initial_value=options.local_model),
        *(
            [
                Select(
                    id="local_runtime",
                    label="Gemma runtime",
                    items=LOCAL_RUNTIME_LABELS,
                    initial_value=options.local_runtime,
                    description="llama.cpp runs the quantised model several times faster on a CPU",
                )
            ]
            if len(installed_runtimes()) > 1
            else []
        ),
        Select(
            id="mode",
            label="How to search",
            items=MODE_LABELS,
            initial_value=options.mode,
            description="Best available: keywords and meaning, re-ranked when a re-ranker is installed",
        ),
    ]


USERS = login_users()  # a half-made login configuration stops the server here, with the reason
if USERS:
    guard = LoginGuard(USERS)

    @cl.password_auth_callback
    async def password_login(username: str, password: str) -> cl.User | None:
        if await asyncio.to_thread(guard.check, username, password):  # scrypt: off the event loop
            return cl.User(identifier=username, metadata={"provider": "password"})
        return None


@cl.on_app_startup
async def preload_catalog() -> None:
    """Load (or build) the index as the server starts, so the first shopper does not wait for it."""
    asyncio.get_running_loop().run_in_executor(None, _load_quietly)


def _load_quietly() -> None:
    started = time.perf_counter()
    try:
        shared_catalog().warm_up(ChatOptions())
    except Exception:  # noqa: BLE001 - reported to each session as it starts
        logger.exception("could not load the catalog")
        return
    logger.info("catalog ready: index and models loaded in %.1f s", time.perf_counter() - started)


async def _catalog() -> Catalog | None:
    """The shared catalog; tells the user when it is being built, and what to run when it cannot be."""
    note = None
    if not catalog_loaded():
        source = CatalogSource.from_env()
        what = (
            f"Building the search index for {source.corpus.name}"
            if source.corpus is not None and source.needs_build()
            else "Loading the index"
        )
        note = await cl.Message(content=f"{what} (first start, it takes a moment)…").send()
    try:
        return await asyncio.to_thread(shared_catalog)
    except CatalogError as err:
        await cl.ErrorMessage(content=f"The catalog is not available: {err}").send()
    except Exception as err:  # noqa: BLE001 - never a stack trace in the chat
        logger.exception("could not load the catalog")
        await cl.ErrorMessage(content=f"The catalog could not be loaded ({type(err).__name__}: {err}).").send()
    finally:
        if note is not None:
            await note.remove()
    return None


@cl.set_starters
async def starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    try:
        catalog = await asyncio.to_thread(shared_catalog)
    except Exception:  # noqa: BLE001 - no starters; the chat start reports the problem
        return []
    return [cl.Starter(label=question, message=question) for question in catalog.starters()]


@cl.on_chat_start
async def start() -> None:
    catalog = await _catalog()
    if catalog is None:
        return
    options = ChatOptions()
    cl.user_session.set("options", options)
    cl.user_session.set("engine", None)
    await cl.ChatSettings(settings_widgets(catalog, options)).send()


@cl.on_settings_update
async def update_settings(settings: dict[str, Any]) -> None:
    catalog = await _catalog()
    if catalog is None:
        return
    try:
        options = options_from_settings(settings, catalog.brands)
    except OptionsError as err:
        await cl.ErrorMessage(content=f"Settings not applied: {err}").send()
        return
    cl.user_session.set("options", options)
    engine = cl.user_session.get("engine")
    if engine is not None:  # the conversation goes on with the new settings
        cl.user_session.set("history", (engine.memory, engine.last_turn))
    cl.user_session.set("engine", None)
    await cl.Message(content=f"From your next message: {options.describe()}.", author="settings").send()
    note = generator_note(options)
    if note:
        await cl.Message(content=note, author="settings").send()


def _session_engine(catalog: Catalog, options: ChatOptions):
    engine = cl.user_session.get("engine")
    if engine is None:
        memory, last_turn = cl.user_session.get("history") or (None, None)
        engine = catalog.engine(options, memory)
        engine.last_turn = last_turn
        cl.user_session.set("engine", engine)
    return engine


def _start_answer(catalog: Catalog, engine, text: str):
    with catalog.lock:  # retrieval: shared retrievers and models, one query at a time
        return engine.stream_chat(text)


@cl.on_message
async def answer(message: cl.Message) -> None:
    catalog = await _catalog()
    if catalog is None:
        return
    options: ChatOptions = cl.user_session.get("options") or ChatOptions()
    started = time.perf_counter()  # what the shopper waits for, models and all
    try:
        engine = await asyncio.to_thread(_session_engine, catalog, options)
    except (GeneratorError, ModelError) as err:  # not configured, not installed, not loadable
        await cl.ErrorMessage(content=f"{err}. Choose another generator in the settings.").send()
        return
    async with cl.Step(name=STEP_NAME, type="retrieval", show_input=False, default_open=False) as step:
        step.input = message.content
        try:
            response = await asyncio.to_thread(_start_answer, catalog, engine, message.content)
        except Exception as err:  # noqa: BLE001
            logger.exception("retrieval failed")
            step.output = f"Search failed: {type(err).__name__}: {err}"
            await cl.ErrorMessage(content=f"Search failed ({type(err).__name__}: {err}). Try again.").send()
            return
        turn = engine.last_turn
        active = describe_filters(ProductFilters(**turn.filters))
        given = (
            f"{len(turn.products)} shown in the answer"
            if turn.products or not turn.retrieved
            else "none fits what was asked"
        )
        step.output = (
            f"Searched for **{escape_markdown(turn.standalone)}** ({turn.mode}; filters: {active or 'none'}): "
            f"{len(turn.retrieved)} products found, {given}, in "
            f"{1000 * (time.perf_counter() - started):.0f} ms.\n\n{ranking_list(turn.retrieved)}"
        )

    reply = cl.Message(content="")
    first_token = None
    tokens = iter(response.response_gen)
    if active:  # the filters in force, above the answer
        await reply.stream_token(f"_Showing: {escape_markdown(active)}._\n\n")
    try:
        while (token := await asyncio.to_thread(next, tokens, None)) is not None:
            first_token = first_token or time.perf_counter() - started
            await reply.stream_token(token)
    except Exception as err:  # noqa: BLE001 - the endpoint is down, the model failed, ...
        logger.warning(
            "generation failed (%s): %s: %s",
            options.generator,
            type(err).__name__,
            err,
            exc_info=logger.isEnabledFor(logging.DEBUG),
        )
        await reply.remove()
        await cl.ErrorMessage(content=explain_generator_error(err, options)).send()
        return
    total = time.perf_counter() - started
    cards = [card_props(product) for product in cited(reply.content, turn.products)]
    if cards:
        reply.elements = [cl.CustomElement(name="ProductCards", props={"cards": cards}, display="inline")]
    await reply.send()
    if not turn.retrieved and turn.filters:
        await cl.Message(
            content=f"No product passes the filters ({escape_markdown(active)}): loosen them in the settings.",
            author="settings",
        ).send()
    step.output += f"\n\nAnswer ({options.generator}): first token {first_token or total:.2f} s, full {total:.2f} s"
    await step.update()
    logger.info("answer: first token %.2f s, full %.2f s (%s)", first_token or total, total, options.generator)
