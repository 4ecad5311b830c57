"""The one Jinja2 environment and the filters that emit HDL literals.

Templates never compute widths; they receive them from the plan. HDL literals that would
collide with Jinja syntax (``{{N{x}}}`` replication, ``{#``) are produced by these filters,
whose *output* Jinja never re-parses.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import jinja2


def template_dir() -> Path:
    """Templates ship inside the wheel as ``hlsgen/templates``; a source checkout keeps them
    at the repository root."""
    packaged = Path(str(resources.files("hlsgen"))) / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def v_lit(value: int, width: int) -> str:
    """A signed Verilog literal of ``width`` bits (two's complement hex when negative)."""
    if not -(1 << (width - 1)) <= value < (1 << (width - 1)):
        raise ValueError(f"{value} does not fit a {width}-bit signed literal")
    if value >= 0:
        return f"{width}'sd{value}"
    return f"{width}'sh{value & ((1 << width) - 1):x}"


def v_bits(value: int, width: int) -> str:
    """An unsigned Verilog literal holding ``value``'s two's-complement bits."""
    return f"{width}'h{value & ((1 << width) - 1):x}"


def v_sext(name: str, to_width: int, width: int, lsb: int = 0) -> str:
    """Bits ``[lsb + width - 1 : lsb]`` of ``name`` sign-extended to ``to_width`` bits."""
    msb = lsb + width - 1
    base = f"{name}[{msb}:{lsb}]"
    extra = to_width - width
    if extra < 0:
        raise ValueError(f"cannot sign-extend {width} bits to {to_width}")
    if extra == 0:
        return base
    if extra == 1:
        return f"{{{name}[{msb}], {base}}}"
    return f"{{{{{extra}{{{name}[{msb}]}}}}, {base}}}"


def v_resize(name: str, width: int, lsb: int, to_width: int) -> str:
    """Bits ``[width-1:lsb]`` of the ``width``-bit signed signal ``name`` (an arithmetic
    right shift by ``lsb``) as a ``to_width``-bit value: truncated when the value is known to
    fit, sign-extended when fewer bits are left, the sign bit alone when none are."""
    avail = width - lsb
    if lsb == 0 and width == to_width:
        return name
    if avail >= to_width:
        return f"{name}[{lsb + to_width - 1}:{lsb}]"
    if avail >= 1:
        return v_sext(name, to_width, avail, lsb)
    sign = f"{name}[{width - 1}]"
    return sign if to_width == 1 else f"{{{{{to_width}{{{sign}}}}}}}"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The project's single template environment (strict: a missing variable is an error)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.globals.update(v_lit=v_lit, v_bits=v_bits, v_resize=v_resize)
    return env


def render(name: str, **context: object) -> str:
    """Render one template by its path under ``templates/``."""
    return environment().get_template(name).render(**context)
