"""daraz-llama: product-catalog search and chat on LlamaIndex."""

__version__ = "0.1.0"
