"""The study report's page: the numbers of :mod:`report.build` rendered into one HTML page.

All markup is in the Jinja2 template ``templates/report.html``, rendered with
autoescaping: run names, tags and the experiment name (anyone can edit them in the
MLflow UI) reach the page as text, never as markup. This module only arranges the
numbers into the rows and sentences the template lays out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from mser.metrics import TEST_KAPPA, VAL_KAPPA
from mser.paper import TABLE4
from search.spaces import SPACES, point_label
from tracking.schema import SPEAKER_SIDES

TEMPLATE = "report.html"


class Image(TypedDict):
    """A PNG picture of the page: its file name without the suffix, and its bytes in base64."""

    name: str
    base64: str


class Importance(TypedDict):
    """One study's fANOVA pictures; none, and why (``reason``), when there are too few finished
    trials or nothing to explain."""

    study: str
    finished: int
    needed: int
    images: list[Image]
    reason: str


class Pictures(TypedDict):
    """The pictures of the page, per section, in the order they were drawn."""

    transfer: list[Image]
    confusions: list[Image]
    importance: list[Importance]
    curves: list[Image]


def render(experiment: str, uri: str, numbers: list[dict], families: dict[str, dict], pictures: Pictures, *,
           languages: Sequence[str], transfer: dict[str, dict] | None = None,
           emotions: Sequence[str] = (), serving: list[dict] | None = None,
           ensembles: list[dict] | None = None) -> str:
    """The report page of ``experiment``'s studies (``numbers`` in the order of the studies)."""
    return _ENVIRONMENT.get_template(TEMPLATE).render(
        experiment=experiment, uri=uri, built=time.strftime("%Y-%m-%d %H:%M"), studies=len(numbers),
        languages=list(languages), kappa_rows=_kappa_rows(numbers, languages), families=families,
        joint=_joint(numbers, languages), versus=_versus_paper(numbers), pictures=pictures, emotions=list(emotions),
        data=_data(experiment, numbers), transfer=_transfer(transfer or {}, pictures.get("transfer", [])),
        results=[n for n in numbers if n["best"] is not None], serving=serving or [], ensembles=ensembles or [],
        report_data={"experiment": experiment, "tracking_uri": uri, "studies": numbers, "families": families,
                     "transfer": transfer or {}, "serving": serving or [], "ensembles": ensembles or []})


def _transfer(transfer: dict[str, dict], images: list[Image]) -> list[dict]:
    """Per space: the matrix's rows with one cell (or None) per column, its picture, the held-out comparisons."""
    pictures = {image["name"]: image for image in images}
    return [{"space": space, "columns": matrix["columns"], "held_out": matrix["held_out"],
             "image": pictures.get(f"transfer-{space}"),
             "rows": [{**row, "cells": [row["cells"].get(column) for column in matrix["columns"]]}
                      for row in matrix["rows"]]}
            for space, matrix in transfer.items()]


def _kappa_rows(numbers: list[dict], languages: Sequence[str]) -> list[dict]:
    """Per searched space: each language's best trial (``None`` if not searched) beside the paper's Table 4."""
    cells = {(n["space"], n["language"]): n for n in numbers}
    return [{"space": space, "cells": [{"language": lang, "paper": TABLE4.get(space, {}).get(lang),
                                        "best": cells[space, lang]["best"] if (space, lang) in cells else None}
                                       for lang in languages]}
            for space in SPACES if any((space, lang) in cells for lang in languages)]


def _joint(numbers: list[dict], languages: Sequence[str]) -> dict:
    """The joint studies' kappas per language, in the report's order of languages."""
    joint = [n for n in numbers if n["language"] == "all" and n["best"] is not None]
    return {"languages": [lang for lang in languages if any(lang in n["languages"] for n in joint)],
            "rows": [{"space": n["space"], "cells": [{"language": lang, **n["languages"][lang]}
                                                     for lang in languages if lang in n["languages"]]}
                     for n in joint]}


def _versus_paper(numbers: list[dict]) -> list[dict]:
    """Per study: its best trial, the paper's (or the baseline) trial, their comparison and how to name them."""
    items = []
    for n in numbers:
        paper = n["paper"]
        state = None if paper is None else "stopped early by ASHA" if paper["pruned"] else paper["status"].lower()
        items.append({"space": n["space"], "language": n["language"], "best": n["best"], "paper": paper,
                      "comparison": n["comparison"], "state": state,
                      "point": point_label(n["space"]) if n["space"] in SPACES else "the paper's configuration"})
    return items


def _data(experiment: str, numbers: list[dict]) -> dict:
    """The dataset keys, each study's speakers and the commands that reproduce the report."""
    commands = sorted({n["command"] for n in numbers if n["command"]})
    return {"fingerprints": sorted({n["dataset_key"] for n in numbers}),
            "speakers": [{"space": n["space"], "language": n["language"],
                          "sides": [n["best"]["speakers"][side] if n["best"] else "–" for side in SPEAKER_SIDES]}
                         for n in numbers],
            "choices": [{"space": n["space"], "language": n["language"],
                         "choice": n["best"]["choice"] if n["best"] else None,
                         "val": n["best"][VAL_KAPPA] if n["best"] else None,
                         "test": n["best"][TEST_KAPPA] if n["best"] else None} for n in numbers],
            "repeats": [{"space": n["space"], "language": n["language"], "repeats": n["repeats"],
                         "val": n["best"][VAL_KAPPA], "test": n["best"][TEST_KAPPA]}
                        for n in numbers if n["repeats"] and n["best"]],
            "reproduce": "\n".join([*commands, f"mser-report --experiment {experiment}"])}


def _fmt(value: float | None, digits: int = 3) -> str:
    """``0.123``, or a dash for no value."""
    return "–" if value is None else f"{value:.{digits}f}"


def _signed(value: float, digits: int) -> str:
    """``+0.050``, with a difference that rounds to zero shown as ``+0.000``, not ``-0.000``."""
    return f"{round(value, digits) + 0.0:+.{digits}f}"


#: What Django's ``json_script`` escapes: inside JSON strings, JSON's own escapes for the
#: characters HTML gives a meaning, so the script element's text holds none of them.
_JSON_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


def _json_script(value: object) -> Markup:
    """``value`` as JSON for the inside of a ``<script>`` element, which nothing in it can end early."""
    # Safe to mark safe: the HTML parser reads a script element's text raw (entities would
    # stay escaped and corrupt the JSON), and with no "<", ">" or "&" left, nothing in it can
    # end the element or start the escaped state; outside JSON strings none of them occurs,
    # and inside them the escapes decode to the same characters.
    return Markup(json.dumps(value, default=float).translate(_JSON_ESCAPES))


# The folder beside this file, not PackageLoader("search"): under pytest, tests/search is the package "search".
_ENVIRONMENT = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True,
                           trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=StrictUndefined)
_ENVIRONMENT.filters.update(fmt=_fmt, signed=_signed, json_script=_json_script)
_ENVIRONMENT.globals.update(VAL_KAPPA=VAL_KAPPA, TEST_KAPPA=TEST_KAPPA)  # the metrics' keys in the numbers
