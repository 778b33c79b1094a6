"""sslterm: set up, run, watch and compare self-supervised learning experiments from a terminal."""

__version__ = "0.1.0"
