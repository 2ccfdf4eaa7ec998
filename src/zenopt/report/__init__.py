"""Reports rendered from a run's manifest alone (never from live models)."""

__all__ = ["console", "html"]
