"""Entry point of the preview server: ``python -m sslterm.preview``."""

from sslterm.preview.server import main

main()
