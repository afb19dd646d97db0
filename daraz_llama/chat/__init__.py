"""The Chainlit chat over the catalog: options, the shared catalog, product cards (the app is ``chat_app.py``)."""
