"""Pretext objectives, one module each, looked up by their catalog names."""

from sslterm.objectives.infonce import InfoNCE, info_nce

OBJECTIVES = {"infonce": InfoNCE}

__all__ = ["OBJECTIVES", "InfoNCE", "info_nce"]
