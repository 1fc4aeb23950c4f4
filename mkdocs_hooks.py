"""Hooks of the docs build (mkdocs.yml ``hooks:``): links written for a reader of the repository also work on
the site.

The pages link a tutorial where it lives in the repository, ``../notebooks/NAME.ipynb``, which is valid on
GitHub. The site renders the tutorials from ``docs/tutorials/`` (``make docs`` copies them there), so such a
link is pointed there before mkdocs checks it: strict mode still fails on a tutorial that does not exist.
"""

from __future__ import annotations

import re

NOTEBOOK_LINK = re.compile(r"\]\((?P<up>(?:\.\./)+)notebooks/(?P<name>[\w.-]+\.ipynb)(?P<anchor>#[^)\s]*)?\)")


def on_page_markdown(markdown: str, page, **kwargs) -> str:
    depth = page.file.src_uri.count("/")  # folders between docs/ and the page

    def to_site(match: re.Match) -> str:
        if match["up"].count("../") != depth + 1:  # not the repository's notebooks/ folder
            return match[0]
        return f"]({'../' * depth}tutorials/{match['name']}{match['anchor'] or ''})"

    return NOTEBOOK_LINK.sub(to_site, markdown)
