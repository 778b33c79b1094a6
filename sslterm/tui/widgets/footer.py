"""The footer every screen shows: Textual's compact footer, drawn also while the app does not have the focus."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class AppFooter(Footer):
    """Textual's footer, compact and without the palette (fits 80 columns; ctrl+p still opens the palette).

    Textual's footer fills in its keys only while the app has the focus. In the browser (``sslterm serve``)
    the page tells the app it is blurred until it is clicked, so every screen opened before the first click
    had an empty footer. The keys are the screen's and do not depend on the page's focus: drawn at once.
    """

    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True  # what Footer.bindings_changed sets before it returns on a blurred app
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self.recompose)
