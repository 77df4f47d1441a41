"""jetclr-coffea: self-supervised jet representations for columnar HEP analysis."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
