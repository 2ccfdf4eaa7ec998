"""zenopt: make AI models fast and small without letting them get worse — measured, not guessed."""

__version__ = "0.1.0"

__all__ = ["__version__"]
