"""Chainlit entry point for a checkout: ``chainlit run chat_app.py`` (``daraz-llama chat`` does the same from any
install). The app is :mod:`daraz_llama.chat.app`; ``.chainlit/``, ``public/`` and ``chainlit.md`` here link to its
packaged files in ``daraz_llama/chat/app_root/``."""

import daraz_llama.chat.app  # noqa: F401 - importing it registers the Chainlit handlers
