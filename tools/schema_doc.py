"""Generate ``docs/scenario-reference.md`` from the scenario's pydantic schema.

    python -m tools.schema_doc            # (re)write docs/scenario-reference.md
    python -m tools.schema_doc --check    # exit 1 if the committed file is out of date
    python -m tools.schema_doc -o PATH    # write somewhere else

Every key is listed with its dotted path, type, default, allowed values, constraints and
description. Descriptions come from, in order: ``Field(description=...)``; a ``#:`` comment on the
line(s) just above the field in its class; ``tools/data/scenario_descriptions.yaml``. The prose
around the tables (introduction, worked example, cross-key rules) is the template
``tools/templates/scenario-reference.md``. Nothing here runs a simulation.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import yaml
from pydantic.fields import FieldInfo

from maiasim.engine import ROUTERS, SCHEDULERS
from maiasim.scenario.schema import Scenario
from maiasim.spec.calibration import SAMPLED_FACTORS, Calibration
from maiasim.spec.hardware import ChipSpec
from maiasim.spec.model import ModelSpec
from tools import docgen

from .schema_types import (
    constraints_text,
    default_text,
    is_model,
    list_item,
    strip_annotated,
    type_name,
    union_args,
    union_variants,
    variant_tag,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "tools" / "templates" / "scenario-reference.md"
COMMAND = "python -m tools.schema_doc"


#: fields whose values name entries of an engine registry (a new entry is a new allowed value)
REGISTRIES = {"router.policy": ROUTERS, "deployment.scheduler.policy": SCHEDULERS}


def _load_descriptions() -> dict:
    text = (ROOT / "tools" / "data" / "scenario_descriptions.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    sampled = ", ".join(f"`{f}`" for f in SAMPLED_FACTORS)
    data["descriptions"] = {k: v.replace("{sampled_factors}", sampled)
                            for k, v in data["descriptions"].items()}
    return data


_DATA = _load_descriptions()
#: Descriptions for fields that carry none in the schema, keyed ``ClassName.field``. A description
#: given in the schema itself (``Field(description=...)`` or a ``#:`` comment) takes precedence.
DESCRIPTIONS: dict[str, str] = _DATA["descriptions"]
#: Extra notes shown under a section's heading, keyed by class name (after the class docstring).
NOTES: dict[str, str] = _DATA["notes"]


# ---- schema walking ---------------------------------------------------------------------------


@dataclass
class Row:
    """One key of the reference: a table row."""

    path: str
    type: str
    default: str
    allowed: str
    description: str


@dataclass
class Section:
    """A heading, its intro and its table of keys (``level`` is the heading depth)."""

    title: str
    intro: str = ""
    rows: list[Row] = field(default_factory=list)
    level: int = 2


def _field_comments(cls: type) -> dict[str, str]:
    """``#:`` comments directly above each annotated field in the class body."""
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    pending: list[str] = []
    for line in src.splitlines()[1:]:
        s = line.strip()
        if s.startswith("#:"):
            pending.append(s[2:].strip())
            continue
        m = re.match(r"^([A-Za-z_]\w*)\s*:", s)
        if m and pending:
            out[m.group(1)] = " ".join(pending)
        pending = []
    return out


def _description(cls: type, name: str, info: FieldInfo) -> str:
    text = ((info.description or "").strip() or _field_comments(cls).get(name)
            or DESCRIPTIONS.get(f"{cls.__name__}.{name}", ""))
    if text:
        text = text[0].upper() + text[1:]
        if not text.endswith("."):
            text += "."
    return text


class _Walker:
    """Collects sections depth-first from the scenario model down."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.appendix: list[tuple[type, str, str, str]] = []  # (model, path, title, intro)
        self.seen_unions: dict[Any, str] = {}
        self.all_rows: list[tuple[str, str, str]] = []  # (path, ClassName.field, description)

    def model(self, cls: type, path: str, title: str, intro: str = "", level: int = 2,
              skip: str | None = None) -> None:
        """A section for model ``cls`` at ``path`` (its rows), then one for each nested model."""
        note = NOTES.get(cls.__name__, "")
        intro = intro or _doc(cls)
        sec = Section(title, f"{intro}\n\n{note}".strip(), level=level)
        self.sections.append(sec)
        nested: list[tuple] = []
        for name, info in cls.model_fields.items():
            if name == skip:
                continue
            p = f"{path}.{name}" if path else name
            t = info.annotation
            desc = _description(cls, name, info)
            self.all_rows.append((p, f"{cls.__name__}.{name}", desc))
            disc = info.discriminator if isinstance(info.discriminator, str) else None
            var = union_variants(t, disc)
            bare, _ = strip_annotated(t)
            if var is not None:
                models, disc = var
                key = tuple(models)
                tags = ", ".join(f"`{variant_tag(m, disc)}`" for m in models)
                if key in self.seen_unions:
                    desc = f"{desc} Same keys as `{self.seen_unions[key]}`."
                else:
                    self.seen_unions[key] = p
                    nested.append(("variants", models, disc, p, name))
                opt = " or null" if any(a is type(None) for a in (union_args(bare) or ())) else ""
                sec.rows.append(Row(p, f"mapping{opt}", default_text(info),
                                    f"`{disc}`: one of {tags}", desc))
                continue
            args = union_args(bare) or ()
            inline = [a for a in args if is_model(a)]
            if inline and str in args:  # a catalog name or an inline spec: in the appendix
                what = _NAMES.get(inline[0], inline[0].__name__)
                self.appendix.append((inline[0], p, f"Inline {what}", ""))
            sub = list_item(bare)
            if is_model(bare):
                nested.append(("model", bare, p))
            elif sub is not None and is_model(sub):
                nested.append(("model", sub, p + "[]"))
            else:
                single = [a for a in args if is_model(a) and a is not type(None)]
                if len(single) == 1 and len(args) == 2 and type(None) in args:
                    nested.append(("model", single[0], p))
            allowed = constraints_text(t, info)
            if p in REGISTRIES:  # a name the engine looks up: list what it has
                names = ", ".join(f"`{k}`" for k in sorted(REGISTRIES[p]))
                allowed = f"one of {names} (the engine's registry)"
            sec.rows.append(Row(p, type_name(t), default_text(info), allowed, desc))
        for item in nested:
            if item[0] == "model":
                _, m, p = item
                self.model(m, p, f"`{p}`", level=level)
            else:
                _, models, disc, p, name = item
                self.variants(models, disc, p, name, level)

    def variants(self, models: list[type], disc: str, path: str, name: str, level: int) -> None:
        """A section introducing a discriminated union, then one per variant."""
        tags = ", ".join(f"`{variant_tag(m, disc)}`" for m in models)
        titles = {"arrival": "Arrival types", "prompt_tokens": "Length distributions"}
        title = titles.get(name, f"Types of `{name}`")
        intro = f"`{path}.{disc}` selects one of {tags}; each takes the keys listed under it."
        if name == "prompt_tokens":
            intro += f" `{path.rsplit('.', 1)[0]}.output_tokens` takes the same types and keys."
        self.sections.append(Section(f"{title}: `{path}`", intro, level=level))
        for m in models:
            self.model(m, path, f"`{disc}: {variant_tag(m, disc)}`", level=level + 1, skip=disc)
            if not self.sections[-1].rows and not self.sections[-1].intro:
                self.sections[-1].intro = "No other keys."


_NAMES = {ChipSpec: "chip spec", ModelSpec: "model spec"}


def _doc(cls: type) -> str:
    d = cls.__dict__.get("__doc__")
    return inspect.cleandoc(d) if d else ""


def _esc(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _render_section(sec: Section) -> str:
    out = [f"{'#' * sec.level} {sec.title}", ""]
    if sec.intro:
        out += [sec.intro, ""]
    if sec.rows:
        out.append("| Key | Type | Default | Allowed / constraints | Description |")
        out.append("|---|---|---|---|---|")
        for r in sec.rows:
            cells = (r.type, r.default, r.allowed, r.description)
            out.append(f"| `{r.path}` | " + " | ".join(_esc(c) for c in cells) + " |")
        out.append("")
    return "\n".join(out)


@dataclass
class Reference:
    """The walked schema: main sections, appendix sections, and every
    (path, ClassName.field, description)."""

    main: list[Section]
    appendix: list[Section]
    rows: list[tuple[str, str, str]]


def walk() -> Reference:
    """Walk the scenario schema (and the inline chip, model and calibration specs)."""
    w = _Walker()
    w.model(Scenario, "", "Top-level keys")
    main = list(w.sections)
    w.sections = []
    done: set[str] = set()
    for cls, path, title, intro in sorted(w.appendix, key=lambda a: a[0] is not ChipSpec):
        if path in done:
            continue
        done.add(path)
        what = "chip" if cls is ChipSpec else "model"
        intro = (f"`{path}` may be a mapping instead of a catalog name: a whole {what} spec, "
                 f"validated like the catalog's entries (`maiasim/catalog/{what}s.yaml`).")
        if cls is ChipSpec:
            intro += (" `hardware.chip_overrides` takes any of these keys (deep-merged into the "
                      "catalog chip), e.g. `{hbm_bandwidth_bytes_per_s: 8.0e+12}`.")
        w.model(cls, path, f"{title}: `{path}`", intro=intro)
    w.model(Calibration, "hardware.calibration", "Calibration: `hardware.calibration`",
            intro="Sustained-efficiency factors of the chip (`maiasim/spec/calibration.py`). "
                  "`hardware.calibration` takes any of these keys, deep-merged into the chip's "
                  "shipped calibration (generic defaults for a chip without one), e.g. "
                  "`{hbm_fraction: 0.7}`. See docs/physics.md for where each enters.")
    return Reference(main, w.sections, w.all_rows)


def generate() -> str:
    """The full text of docs/scenario-reference.md."""
    ref = walk()
    text = Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        sections="\n".join(_render_section(sec) for sec in ref.main),
        appendix="\n".join(_render_section(sec) for sec in ref.appendix))
    return text.rstrip("\n") + "\n"


def default_path() -> Path:
    """docs/scenario-reference.md of this repository."""
    return ROOT / "docs" / "scenario-reference.md"


def main(argv: list[str] | None = None) -> int:
    """Write the reference, or with ``--check`` exit 1 when the file is stale."""
    return docgen.main(argv, command=COMMAND, description=__doc__.splitlines()[0],
                       default_path=default_path(), generate=generate)

if __name__ == "__main__":
    raise SystemExit(main())
