"""The browser tests as a package, so that their conftest is ``browser.conftest`` and never shadows the unit
tests' ``conftest`` module (which test modules import helpers from)."""
