"""ROM images: fixed-width word lists, their bit-field layouts, and the text formats
that FPGA tools load them from.

A generated design keeps its weights, indices and scales in ROMs. This module holds one
ROM as a :class:`RomImage` and writes it, byte-for-byte deterministically, as:

* ``.mem``  -- one hex word per line, for Verilog ``$readmemh`` (the canonical format);
* ``.coe``  -- Xilinx coefficient file (Block Memory Generator / Distributed Memory);
* ``.mif``  -- Intel/Altera Quartus Memory Initialization File (named ``*.intel.mif``
  because Xilinx uses ``.mif`` for a different format);
* ``.hex``  -- Intel HEX, word-addressed as Quartus expects for memory initialisation;
* ``.json`` -- a sidecar describing the image (name, width, depth, bit-field layout).

Every writer has a matching reader so that each format is round-trip tested.
Signed quantities are stored as two's complement; see :func:`to_twos` / :func:`from_twos`.
"""

from __future__ import annotations

import json
import operator
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .output import atomic_write_text

__all__ = [
    "ROM_FORMATS",
    "RomError",
    "RomField",
    "RomImage",
    "from_twos",
    "pack_fields",
    "read_coe",
    "read_ihex",
    "read_mem",
    "read_mif",
    "sidecar",
    "to_coe",
    "to_ihex",
    "to_mem",
    "to_mif",
    "to_twos",
    "unpack_fields",
    "write_rom_images",
]

#: Format names accepted by :func:`write_rom_images` (the JSON sidecar is always written).
ROM_FORMATS: tuple[str, ...] = ("mem", "coe", "mif", "hex")

#: File-name suffix used for each format in :data:`ROM_FORMATS`.
_SUFFIXES: Mapping[str, str] = {"mem": ".mem", "coe": ".coe", "mif": ".intel.mif", "hex": ".hex"}

# A ROM name becomes a file-name stem, so keep it to a safe, path-free character set.
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")

# Intel HEX records carry their byte count in one byte.
_IHEX_MAX_WIDTH = 255 * 8


class RomError(ValueError):
    """A ROM image, field value or ROM file is invalid."""


def _as_int(value: object, what: str) -> int:
    """Coerce an integer-like value (int, numpy integer) to ``int``; reject anything else."""
    if isinstance(value, bool):
        raise RomError(f"{what} must be an integer, got bool {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise RomError(f"{what} must be an integer, got {type(value).__name__} {value!r}") from None


def _hex_digits(width: int) -> int:
    """Hex digits needed for one ``width``-bit word: ``ceil(width / 4)``."""
    return (width + 3) // 4


@dataclass(frozen=True)
class RomField:
    """One documented bit field of a ROM word: bits ``[lsb, lsb + width)``."""

    name: str
    lsb: int
    width: int
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise RomError(f"field name must be a non-empty string, got {self.name!r}")
        lsb = _as_int(self.lsb, f"field {self.name!r} lsb")
        width = _as_int(self.width, f"field {self.name!r} width")
        if lsb < 0:
            raise RomError(f"field {self.name!r}: lsb must be >= 0, got {lsb}")
        if width < 1:
            raise RomError(f"field {self.name!r}: width must be >= 1, got {width}")
        object.__setattr__(self, "lsb", lsb)
        object.__setattr__(self, "width", width)

    @property
    def msb(self) -> int:
        """Index of the field's most significant bit."""
        return self.lsb + self.width - 1


def _check_layout(layout: Sequence[RomField], word_width: int | None = None) -> None:
    """Reject duplicate names, overlapping fields and (if given) fields past ``word_width``."""
    names: set[str] = set()
    for f in layout:
        if not isinstance(f, RomField):
            raise RomError(f"layout entries must be RomField, got {type(f).__name__}")
        if f.name in names:
            raise RomError(f"duplicate field name {f.name!r} in layout")
        names.add(f.name)
        if word_width is not None and f.msb >= word_width:
            raise RomError(
                f"field {f.name!r} (bits {f.msb}..{f.lsb}) does not fit a {word_width}-bit word"
            )
    ordered = sorted(layout, key=lambda f: f.lsb)
    for lo, hi in zip(ordered, ordered[1:]):
        if hi.lsb <= lo.msb:
            raise RomError(f"fields {lo.name!r} and {hi.name!r} overlap")


@dataclass(frozen=True)
class RomImage:
    """A ROM: ``depth`` >= 1 unsigned words of ``width`` bits, plus an optional field layout.

    ``words`` and ``layout`` may be passed as any sequence; they are stored as tuples.
    """

    name: str
    width: int
    words: tuple[int, ...]
    layout: tuple[RomField, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise RomError(
                f"ROM name must match [A-Za-z0-9_][A-Za-z0-9_.-]* (it names files), "
                f"got {self.name!r}"
            )
        width = _as_int(self.width, f"ROM {self.name!r} width")
        if width < 1:
            raise RomError(f"ROM {self.name!r}: width must be >= 1, got {width}")
        words = tuple(_as_int(w, f"ROM {self.name!r} word {i}") for i, w in enumerate(self.words))
        if not words:
            raise RomError(f"ROM {self.name!r}: depth must be >= 1 (no words given)")
        limit = 1 << width
        for i, w in enumerate(words):
            if not 0 <= w < limit:
                raise RomError(
                    f"ROM {self.name!r}: word {i} is {w}, outside [0, 2**{width}) "
                    f"for a {width}-bit ROM"
                )
        layout = tuple(self.layout)
        _check_layout(layout, width)
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "layout", layout)

    @property
    def depth(self) -> int:
        """Number of words."""
        return len(self.words)


# --------------------------------------------------------------------------- fields


def pack_fields(values: Mapping[str, int], layout: Sequence[RomField]) -> int:
    """Pack unsigned field values into one word; every field must be given, none extra.

    Strict on purpose: a misspelt or forgotten field would otherwise silently become 0.
    """
    _check_layout(layout)
    names = {f.name for f in layout}
    extra = sorted(set(values) - names)
    if extra:
        raise RomError(f"values for unknown field(s) {extra}; layout has {sorted(names)}")
    word = 0
    for f in layout:
        if f.name not in values:
            raise RomError(f"no value given for field {f.name!r}")
        v = _as_int(values[f.name], f"field {f.name!r} value")
        if not 0 <= v < (1 << f.width):
            raise RomError(
                f"field {f.name!r}: value {v} does not fit {f.width} unsigned bits "
                f"(store signed values with to_twos)"
            )
        word |= v << f.lsb
    return word


def unpack_fields(word: int, layout: Sequence[RomField]) -> dict[str, int]:
    """Split a word into its unsigned field values (bits outside every field are ignored)."""
    _check_layout(layout)
    w = _as_int(word, "word")
    if w < 0:
        raise RomError(f"word must be non-negative, got {w}")
    return {f.name: (w >> f.lsb) & ((1 << f.width) - 1) for f in layout}


def to_twos(value: int, width: int) -> int:
    """Encode a signed ``value`` as a ``width``-bit two's-complement word."""
    width = _as_int(width, "width")
    value = _as_int(value, "value")
    if width < 1:
        raise RomError(f"width must be >= 1, got {width}")
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if not lo <= value <= hi:
        raise RomError(f"value {value} does not fit {width}-bit two's complement [{lo}, {hi}]")
    return value & ((1 << width) - 1)


def from_twos(word: int, width: int) -> int:
    """Decode a ``width``-bit two's-complement word to a signed integer."""
    width = _as_int(width, "width")
    word = _as_int(word, "word")
    if width < 1:
        raise RomError(f"width must be >= 1, got {width}")
    if not 0 <= word < (1 << width):
        raise RomError(f"word {word} is outside [0, 2**{width})")
    return word - (1 << width) if word >> (width - 1) else word


# --------------------------------------------------------------------------- writers


def _comment_lines(header: str, marker: str) -> list[str]:
    """One comment line per header line, e.g. ``"// text"``; no trailing whitespace."""
    if not isinstance(header, str):
        raise RomError(f"header must be a string, got {type(header).__name__}")
    return [f"{marker} {line}".rstrip() for line in header.splitlines()]


def _join(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def to_mem(img: RomImage, header: str = "") -> str:
    """``$readmemh`` text: optional ``//`` header, then one zero-padded hex word per line."""
    nd = _hex_digits(img.width)
    lines = _comment_lines(header, "//")
    lines.extend(f"{w:0{nd}x}" for w in img.words)
    return _join(lines)


def to_coe(img: RomImage, header: str = "") -> str:
    """Xilinx ``.coe`` text (radix 16), words comma-separated one per line, ``;``-terminated."""
    nd = _hex_digits(img.width)
    lines = _comment_lines(header, ";")
    lines.append("memory_initialization_radix=16;")
    lines.append("memory_initialization_vector=")
    lines.extend(f"{w:0{nd}x}," for w in img.words[:-1])
    lines.append(f"{img.words[-1]:0{nd}x};")
    return _join(lines)


def to_mif(img: RomImage, header: str = "") -> str:
    """Quartus ``.mif`` text with HEX radices; addresses are padded to the widest address."""
    nd = _hex_digits(img.width)
    na = len(f"{img.depth - 1:x}")
    lines = _comment_lines(header, "--")
    lines += [
        f"WIDTH={img.width};",
        f"DEPTH={img.depth};",
        "ADDRESS_RADIX=HEX;",
        "DATA_RADIX=HEX;",
        "",
        "CONTENT BEGIN",
    ]
    lines.extend(f"\t{a:0{na}x} : {w:0{nd}x};" for a, w in enumerate(img.words))
    lines.append("END;")
    return _join(lines)


def _ihex_record(address: int, rtype: int, data: bytes) -> str:
    """One Intel HEX record line (upper-case hex) with its checksum."""
    body = bytes([len(data), (address >> 8) & 0xFF, address & 0xFF, rtype]) + data
    checksum = (-sum(body)) & 0xFF
    return ":" + body.hex().upper() + f"{checksum:02X}"


def to_ihex(img: RomImage) -> str:
    """Word-addressed Intel HEX: one word per type-00 record, type-04 records past 64 Ki words.

    Intel HEX has no comment syntax, so there is no header.
    """
    if img.width > _IHEX_MAX_WIDTH:
        raise RomError(
            f"ROM {img.name!r}: width {img.width} exceeds the Intel HEX limit of "
            f"{_IHEX_MAX_WIDTH} bits (255 data bytes per record)"
        )
    if img.depth > 1 << 32:
        raise RomError(f"ROM {img.name!r}: depth {img.depth} exceeds 32-bit Intel HEX addressing")
    nbytes = (img.width + 7) // 8
    lines: list[str] = []
    for addr, w in enumerate(img.words):
        if addr and addr & 0xFFFF == 0:
            lines.append(_ihex_record(0, 0x04, (addr >> 16).to_bytes(2, "big")))
        lines.append(_ihex_record(addr & 0xFFFF, 0x00, w.to_bytes(nbytes, "big")))
    lines.append(":00000001FF")
    return _join(lines)


def sidecar(img: RomImage, files: Sequence[str | os.PathLike[str]], header: str = "") -> str:
    """JSON description of ``img`` listing the file names written for it (sorted keys)."""
    doc = {
        "name": img.name,
        "width": img.width,
        "depth": img.depth,
        "layout": [
            {"name": f.name, "lsb": f.lsb, "width": f.width, "description": f.description}
            for f in img.layout
        ],
        "formats": [Path(f).name for f in files],
        "header": header,
    }
    return json.dumps(doc, sort_keys=True, indent=2) + "\n"


# --------------------------------------------------------------------------- readers

_DIGITS: Mapping[int, str] = {
    2: "01",
    8: "01234567",
    10: "0123456789",
    16: "0123456789abcdefABCDEF",
}


def _parse_uint(token: str, radix: int, where: str) -> int:
    """Parse a plain unsigned digit string (no sign, prefix or underscores) in ``radix``."""
    digits = _DIGITS[radix]
    if not token or any(c not in digits for c in token):
        raise RomError(f"{where}: {token!r} is not a radix-{radix} number")
    return int(token, radix)


def _check_fits(words: Sequence[int], width: int, what: str) -> None:
    limit = 1 << width
    for i, w in enumerate(words):
        if w >= limit:
            raise RomError(f"{what}: word {i} ({w:#x}) does not fit {width} bits")


def _check_width(width: int) -> int:
    width = _as_int(width, "width")
    if width < 1:
        raise RomError(f"width must be >= 1, got {width}")
    return width


def read_mem(text: str, width: int) -> tuple[int, ...]:
    """Parse ``$readmemh`` text: hex words separated by whitespace, ``//`` and ``/* */``
    comments allowed, ``_`` digit separators allowed; ``@`` address markers are rejected
    because our ROMs are always written densely from address 0."""
    width = _check_width(width)
    words: list[int] = []
    stripped = re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)
    if "/*" in stripped:
        raise RomError(".mem: unterminated /* comment")
    for lineno, line in enumerate(stripped.splitlines(), start=1):
        for token in line.split():
            where = f".mem line {lineno}"
            if token.startswith("@"):
                raise RomError(f"{where}: address marker {token!r} is not supported")
            words.append(_parse_uint(token.replace("_", ""), 16, where))
    if not words:
        raise RomError(".mem: no words found")
    _check_fits(words, width, ".mem")
    return tuple(words)


def read_coe(text: str) -> tuple[int, tuple[int, ...]]:
    """Parse a Xilinx ``.coe`` file; returns ``(radix, words)``. Radix 2, 8, 10 or 16;
    lines starting with ``;`` are comments; vector entries split on commas/whitespace."""
    body = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith(";"))
    statements = body.split(";")
    if statements[-1].strip():
        raise RomError(f".coe: text after the last ';': {statements[-1].strip()[:40]!r}")
    radix: int | None = None
    vector: str | None = None
    for stmt in statements[:-1]:
        key, eq, value = stmt.partition("=")
        key = key.strip().lower()
        if not eq:
            raise RomError(f".coe: expected 'key=value', got {stmt.strip()[:40]!r}")
        if key == "memory_initialization_radix":
            r = value.strip()
            if r not in ("2", "8", "10", "16"):
                raise RomError(f".coe: unsupported radix {r!r} (expected 2, 8, 10 or 16)")
            radix = int(r)
        elif key == "memory_initialization_vector":
            vector = value
        else:
            raise RomError(f".coe: unknown key {key!r}")
    if radix is None:
        raise RomError(".coe: missing memory_initialization_radix")
    if vector is None:
        raise RomError(".coe: missing memory_initialization_vector")
    tokens = [t for t in re.split(r"[,\s]+", vector) if t]
    if not tokens:
        raise RomError(".coe: no words found")
    words = tuple(_parse_uint(t, radix, f".coe word {i}") for i, t in enumerate(tokens))
    return radix, words


_MIF_RADICES: Mapping[str, int] = {"HEX": 16, "DEC": 10, "UNS": 10, "BIN": 2, "OCT": 8}


def _mif_value(token: str, radix_name: str, width: int, where: str) -> int:
    """Parse one MIF data value; ``DEC`` allows a sign (stored as two's complement)."""
    if radix_name == "DEC" and token and token[0] in "+-":
        v = _parse_uint(token[1:], 10, where)
        if token[0] == "-":
            try:
                return to_twos(-v, width)
            except RomError as e:
                raise RomError(f"{where}: {e}") from None
        return v
    return _parse_uint(token, _MIF_RADICES[radix_name], where)


def read_mif(text: str) -> tuple[int, int, tuple[int, ...]]:
    """Parse a Quartus ``.mif``; returns ``(width, depth, words)``.

    Supports ``--`` and ``%...%`` comments, radices HEX/DEC/UNS/BIN/OCT, single
    addresses (optionally followed by several values for consecutive addresses) and
    ``[a..b] : v;`` ranges. Later assignments override earlier ones (a common idiom is a
    ``[0..N-1] : 0;`` fill first); every address must end up assigned.
    """
    clean = re.sub(r"--[^\n]*|%[^%]*%", "", text)
    if "%" in clean:
        raise RomError(".mif: unterminated % comment")
    m = re.search(r"\bCONTENT\s+BEGIN\b", clean, flags=re.I)
    if m is None:
        raise RomError(".mif: missing 'CONTENT BEGIN'")
    head, rest = clean[: m.start()], clean[m.end() :]
    end = re.search(r"\bEND\s*;\s*\Z", rest, flags=re.I)
    if end is None:
        raise RomError(".mif: content must end with 'END;'")
    content = rest[: end.start()]

    params: dict[str, str] = {}
    statements = head.split(";")
    if statements[-1].strip():
        raise RomError(f".mif: unterminated header statement {statements[-1].strip()[:40]!r}")
    for stmt in statements[:-1]:
        hm = re.fullmatch(r"\s*(\w+)\s*=\s*(\w+)\s*", stmt)
        if hm is None:
            raise RomError(f".mif: bad header statement {stmt.strip()[:40]!r}")
        params[hm.group(1).upper()] = hm.group(2).upper()
    for key in ("WIDTH", "DEPTH"):
        if key not in params:
            raise RomError(f".mif: missing {key}")
    width = _parse_uint(params["WIDTH"], 10, ".mif WIDTH")
    depth = _parse_uint(params["DEPTH"], 10, ".mif DEPTH")
    if width < 1 or depth < 1:
        raise RomError(f".mif: WIDTH and DEPTH must be >= 1, got {width} and {depth}")
    addr_radix = params.get("ADDRESS_RADIX", "HEX")
    data_radix = params.get("DATA_RADIX", "HEX")
    for key, val in (("ADDRESS_RADIX", addr_radix), ("DATA_RADIX", data_radix)):
        if val not in _MIF_RADICES:
            raise RomError(f".mif: unsupported {key} {val!r} (expected {sorted(_MIF_RADICES)})")
    ar = _MIF_RADICES[addr_radix]

    words: list[int | None] = [None] * depth
    entries = content.split(";")
    if entries[-1].strip():
        raise RomError(f".mif: unterminated content line {entries[-1].strip()[:40]!r}")
    for entry in entries[:-1]:
        where = f".mif entry {entry.strip()[:40]!r}"
        addr_part, colon, data_part = entry.partition(":")
        if not colon:
            raise RomError(f"{where}: expected 'address : data'")
        values = [_mif_value(t, data_radix, width, where) for t in data_part.split()]
        if not values:
            raise RomError(f"{where}: no data value")
        rm = re.fullmatch(r"\s*\[\s*(\w+)\s*\.\.\s*(\w+)\s*\]\s*", addr_part)
        if rm is not None:
            lo = _parse_uint(rm.group(1), ar, where)
            hi = _parse_uint(rm.group(2), ar, where)
            if len(values) != 1:
                raise RomError(f"{where}: a range takes exactly one value")
            if lo > hi:
                raise RomError(f"{where}: empty range")
            addrs = range(lo, hi + 1)
            values = values * len(addrs)
        else:
            start = _parse_uint(addr_part.strip(), ar, where)
            addrs = range(start, start + len(values))
        if addrs[-1] >= depth:
            raise RomError(f"{where}: address {addrs[-1]:#x} is past DEPTH={depth}")
        for a, v in zip(addrs, values):
            words[a] = v
    missing = [i for i, w in enumerate(words) if w is None]
    if missing:
        raise RomError(
            f".mif: {len(missing)} address(es) never assigned, first {missing[0]:#x}"
        )
    result = tuple(w for w in words if w is not None)
    _check_fits(result, width, ".mif")
    return width, depth, result


def read_ihex(text: str, width: int) -> tuple[int, ...]:
    """Parse word-addressed Intel HEX (record types 00, 04, 01), verifying every checksum.

    Each data record must hold exactly one ``ceil(width/8)``-byte big-endian word, and the
    addresses must cover ``0..depth-1`` exactly once.
    """
    width = _check_width(width)
    nbytes = (width + 7) // 8
    upper = 0
    found: dict[int, int] = {}
    seen_eof = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        where = f"Intel HEX line {lineno}"
        if seen_eof:
            raise RomError(f"{where}: record after the end-of-file record")
        if not line.startswith(":"):
            raise RomError(f"{where}: record does not start with ':'")
        try:
            rec = bytes.fromhex(line[1:])
        except ValueError:
            raise RomError(f"{where}: not hex") from None
        if len(rec) < 5 or len(rec) != rec[0] + 5:
            raise RomError(f"{where}: length does not match its byte count")
        if sum(rec) & 0xFF:
            expected = (-sum(rec[:-1])) & 0xFF
            raise RomError(
                f"{where}: bad checksum {rec[-1]:02X} (expected {expected:02X}): {line}"
            )
        count, addr, rtype, data = rec[0], (rec[1] << 8) | rec[2], rec[3], rec[4:-1]
        if rtype == 0x00:
            if count != nbytes:
                raise RomError(
                    f"{where}: data record has {count} bytes, expected {nbytes} "
                    f"(one {width}-bit word)"
                )
            full = (upper << 16) | addr
            if full in found:
                raise RomError(f"{where}: address {full:#x} given twice")
            found[full] = int.from_bytes(data, "big")
        elif rtype == 0x04:
            if count != 2:
                raise RomError(f"{where}: extended linear address record must hold 2 bytes")
            upper = int.from_bytes(data, "big")
        elif rtype == 0x01:
            if count != 0:
                raise RomError(f"{where}: end-of-file record must hold no data")
            seen_eof = True
        else:
            raise RomError(f"{where}: unsupported record type {rtype:02X}")
    if not seen_eof:
        raise RomError("Intel HEX: missing end-of-file record")
    if not found:
        raise RomError("Intel HEX: no data records")
    depth = len(found)
    if max(found) != depth - 1:
        gap = next(i for i in range(depth) if i not in found)
        raise RomError(f"Intel HEX: address {gap:#x} missing (addresses must be 0..depth-1)")
    words = tuple(found[i] for i in range(depth))
    _check_fits(words, width, "Intel HEX")
    return words


# --------------------------------------------------------------------------- files


def write_rom_images(
    img: RomImage,
    directory: Path,
    formats: Sequence[str] = ROM_FORMATS,
    header: str = "",
) -> list[Path]:
    """Write ``img`` in each requested format plus the ``<name>.json`` sidecar.

    Files are ``<name>.mem``, ``<name>.coe``, ``<name>.intel.mif``, ``<name>.hex``; each is
    written atomically. The directory is created if needed. Returns the paths written, in
    the order of ``formats`` (duplicates dropped) with the sidecar last.
    """
    directory = Path(directory)
    files = rom_files(img, formats, header)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        atomic_write_text(directory / name, text)
    return [directory / name for name in files]


def rom_files(img: RomImage, formats: Sequence[str] = ROM_FORMATS,
              header: str = "") -> dict[str, str]:
    """File name -> text of ``img`` in each requested format, then the JSON sidecar.

    Unknown format names are rejected before anything is produced.
    """
    if isinstance(formats, str):
        raise RomError(f"formats must be a sequence of names, not the string {formats!r}")
    chosen: list[str] = []
    for fmt in formats:
        if fmt not in _SUFFIXES:
            raise RomError(f"unknown ROM format {fmt!r}; valid formats are {list(ROM_FORMATS)}")
        if fmt not in chosen:
            chosen.append(fmt)
    writers = {"mem": lambda: to_mem(img, header), "coe": lambda: to_coe(img, header),
               "mif": lambda: to_mif(img, header), "hex": lambda: to_ihex(img)}
    files = {f"{img.name}{_SUFFIXES[fmt]}": writers[fmt]() for fmt in chosen}
    files[f"{img.name}.json"] = sidecar(img, list(files), header)
    return files
