"""Generator failures as one clear sentence for the shopper (the stack trace stays in the server log)."""

from __future__ import annotations

import os

from daraz_llama.chat.options import ChatOptions


def explain_generator_error(err: BaseException, options: ChatOptions) -> str:
    """What went wrong with the generator, and what to do about it."""
    name = type(err).__name__
    if options.generator == "openai":
        import openai  # the openai generator is configured, so its client is installed

        endpoint = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
        if isinstance(err, openai.APIConnectionError):  # APITimeoutError is one too
            return (
                f"The OpenAI-compatible endpoint {endpoint} is not answering. Start it (for example "
                "`daraz-llama serve-llm`) or choose another generator in the settings."
            )
        if isinstance(err, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return f"The endpoint {endpoint} refused the API key (OPENAI_API_KEY). Fix it or choose another generator."
    first_line = (str(err).strip().splitlines() or [""])[0][:300]
    return f"The {options.generator} generator failed ({name}: {first_line}). Choose another generator in the settings."
