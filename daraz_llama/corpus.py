"""Parse the ``<!--DOC:START ...-->`` … ``<!--DOC:END-->`` Markdown product corpus.

Every START marker ends up either as a parsed product or as a reported problem:
nothing is dropped silently, and one bad block never takes the rest down.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from daraz_llama.text import normalise_text

# Every pattern here sees corpus text: each is linear in the line's length (no two runs of one character
# class next to each other, no lazy group followed by a run); values are stripped in Python instead.
START_RE = re.compile(r"^<!--[ \t]*DOC:START\b(?P<attrs>.*)-->$")
END_RE = re.compile(r"^<!--[ \t]*DOC:END[ \t]*-->$")
ID_RE = re.compile(r"(?:^|\s)id=(?P<id>[^\s>]+)")
CATEGORY_RE = re.compile(r"(?:^|\s)category=(?P<category>(?:(?!\sid=)[^>])*)")
FIELD_RE = re.compile(r"^\*\*(?P<key>[^*]{1,80}):\*\*(?P<value>.*)$")
MONEY_RE = re.compile(
    r"(?:(?:৳|tk\.?|bdt|taka)[ \t]*)?(?P<num>[0-9]{1,3}(?:,[0-9]{2,3})+|[0-9]{1,15})(?P<frac>\.[0-9]{1,4})?"
    r"[ \t]*(?:৳|tk\.?|bdt|taka|/-)?",
    re.IGNORECASE,
)
RATING_RE = re.compile(
    r"(?P<avg>[0-9]{1,2}(?:\.[0-9]{1,3})?)[ \t]*/[ \t]*5[ \t]*\((?P<count>[0-9][0-9,]{0,14})[ \t]+ratings?\)"
)
SOLD_RE = re.compile(r"(?<![0-9.])(?P<num>[0-9]{1,9}(?:\.[0-9]{1,3})?)(?P<unit>[KkMm]?)[ \t]+sold")
LINK_RE = re.compile(r"\[[^\[\]]*\]\((?P<url>[^()\s]*)\)")
BANGLA_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")
MAX_PRICE = 1e9  # taka; a larger "price" is a broken value, not a product

# Sections whose body is a list of "- " lines (or, for Description, free text).
LIST_SECTIONS = {"Variants (sample)", "Delivery Options", "Return & Warranty", "Images (sample)"}


@dataclass
class ParseProblem:
    """One thing wrong in the corpus, with where it is."""

    source: str
    line: int
    message: str
    product_id: str | None = None
    skipped: bool = True  # True when a START marker's block was not turned into a product

    def __str__(self) -> str:
        pid = f" (id={self.product_id})" if self.product_id else ""
        return f"{self.source}:{self.line}{pid}: {self.message}"


@dataclass
class Product:
    """One product block, with typed fields; absent fields stay ``None``."""

    product_id: str
    title: str
    category: str
    line: int
    brand: str | None = None
    sku: str | None = None
    url: str | None = None
    sales: str | None = None
    sold_count: int | None = None
    seller_location: str | None = None
    price: float | None = None
    original_price: float | None = None
    discount_pct: int | None = None
    rating: float | None = None
    rating_count: int | None = None
    colors: list[str] = field(default_factory=list)
    sizes: list[str] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)
    delivery: list[str] = field(default_factory=list)
    returns_warranty: list[str] = field(default_factory=list)
    seller: str | None = None
    seller_url: str | None = None
    seller_stats: str | None = None
    description: str | None = None
    images: list[str] = field(default_factory=list)


@dataclass
class ParseResult:
    """Products and problems found in one corpus file."""

    source: str
    products: list[Product]
    problems: list[ParseProblem]
    start_markers: int

    @property
    def skipped(self) -> list[ParseProblem]:
        return [p for p in self.problems if p.skipped]


class CorpusError(Exception):
    """The corpus cannot be read at all (missing file, no products)."""


class FieldError(ValueError):
    """A field value that cannot be read; the product is kept without it and the problem reported."""


def parse_money(value: str) -> float | None:
    """``"৳ 1,200"`` (or Bangla digits, ``"৳ ১,২০০"``) → ``1200.0``; ``None`` for a value without digits.

    Raises :class:`FieldError` for anything else: a sign, an exponent, several dots, stray commas, a huge number.
    """
    text = value.strip().translate(BANGLA_DIGITS)
    if not any(c.isdigit() for c in text):  # empty, "n/a": no price listed
        return None
    match = MONEY_RE.fullmatch(text)
    if not match:
        raise FieldError(f"not a taka amount: {value.strip()[:40]!r}")
    amount = float(match.group("num").replace(",", "") + (match.group("frac") or ""))
    if amount > MAX_PRICE:
        raise FieldError(f"amount {amount:,.0f} is too large to be a price")
    return amount


def parse_sold(value: str) -> int | None:
    """``"1.2K sold"`` → ``1200``; ``None`` when ``value`` is not a sales count (e.g. a seller location)."""
    text = value.strip()
    if not text.lower().endswith("sold"):
        return None
    match = SOLD_RE.fullmatch(text)
    if not match:
        raise FieldError(f"not a sales count: {text[:40]!r}")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group("unit").lower()]
    return round(float(match.group("num")) * scale)


def parse_rating(value: str) -> tuple[float | None, int | None]:
    """``"4.5/5 (12 ratings)"`` → ``(4.5, 12)``; ``"0.0/5 (0 ratings)"`` → ``(None, 0)``: nobody rated it."""
    match = RATING_RE.fullmatch(value.strip())
    if not match:
        raise FieldError(f"not a rating like '4.5/5 (12 ratings)': {value.strip()[:40]!r}")
    average, count = float(match.group("avg")), int(match.group("count").replace(",", ""))
    if not 0 <= average <= 5:
        raise FieldError(f"rating {average} is not between 0 and 5")
    return (average if count > 0 else None), count


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class _BlockParser:
    """Turns the lines of one block into a :class:`Product` (``finish`` raises ``ValueError`` for a block
    that cannot be one); a field it cannot read is left out and noted in ``field_problems``."""

    def __init__(self, product_id: str, category: str | None, start_line: int) -> None:
        self.product = Product(product_id=product_id, title="", category=category or "", line=start_line)
        self.section: str | None = None
        self.description: list[str] = []
        self.block_error: str | None = None
        self.field_problems: list[tuple[int, str]] = []

    def feed(self, line: str, number: int) -> None:
        try:
            self._feed(line)
        except FieldError as err:
            self.field_problems.append((number, str(err)))
        except ValueError as err:
            self.block_error = self.block_error or f"line {number}: {err}"

    def _feed(self, line: str) -> None:
        stripped = line.strip()
        if self.section == "Description":
            if stripped.startswith("**Images (sample):**"):
                self.section = "Images (sample)"
            elif stripped.startswith("_Source:") or stripped == "---":
                self.section = None
            else:
                self.description.append(line.rstrip())
            return
        if not self.product.title and stripped.startswith("## "):
            self.product.title = stripped[3:].strip()
            return
        match = FIELD_RE.match(stripped)
        if match:
            self._field(match.group("key").strip(), match.group("value").strip())
            return
        if stripped.startswith("- ") and self.section:
            self._list_item(stripped[2:].strip())
        elif stripped.startswith("_Source:") or stripped == "---":
            self.section = None

    def _field(self, key: str, value: str) -> None:
        p = self.product
        self.section = key if (key in LIST_SECTIONS or key in {"Description", "Seller"}) else None
        if key == "DocID":
            if value and value != p.product_id:
                raise ValueError(f"DocID {value!r} does not match the START marker's id")
        elif key == "Category":
            p.category = value or p.category
        elif key == "Brand":
            p.brand = value or None
        elif key == "SKU":
            p.sku = value or None
        elif key == "URL":
            p.url = value or None
        elif key == "Sales":
            p.sales = value or None
            p.sold_count = parse_sold(value)
            if p.sold_count is None and value:
                p.seller_location = value
        elif key == "Price":
            p.price = parse_money(value)
        elif key == "Original":
            p.original_price = parse_money(value)
        elif key == "Discount":
            digits = re.fullmatch(r"-?[ \t]*([0-9]{1,3})[ \t]*%", value)
            if value and not digits:
                raise FieldError(f"not a discount like '-18%': {value[:40]!r}")
            p.discount_pct = int(digits.group(1)) if digits else None
        elif key == "Rating":
            if value:
                p.rating, p.rating_count = parse_rating(value)
        elif key == "Colors":
            p.colors = _split_list(value)
        elif key == "Sizes":
            p.sizes = _split_list(value)
        elif key == "Seller":
            link = LINK_RE.search(value)
            p.seller_url = link.group("url") if link else None
            p.seller = LINK_RE.sub("", value).strip() or None
        elif key == "Description" and value:
            self.description.append(value)

    def _list_item(self, item: str) -> None:
        p = self.product
        if self.section == "Variants (sample)":
            p.variants.append(item)
        elif self.section == "Delivery Options":
            p.delivery.append(item)
        elif self.section == "Return & Warranty":
            p.returns_warranty.append(item)
        elif self.section == "Images (sample)":
            p.images.append(item)
        elif self.section == "Seller":
            p.seller_stats = item

    def finish(self) -> Product:
        p = self.product
        if self.block_error:
            raise ValueError(self.block_error)
        if not p.title:
            raise ValueError("no '## <title>' line")
        if not p.category:
            raise ValueError("no category (neither category= in the marker nor a **Category:** line)")
        text = "\n".join(self.description).strip()
        p.description = re.sub(r"\n{3,}", "\n\n", text) or None
        return p


def decode_lines(raw: bytes) -> tuple[list[str], set[int]]:
    """Split ``raw`` into lines decoded as UTF-8 (UTF-16 when it starts with a UTF-16 byte-order mark);
    also return the 1-based numbers of undecodable lines."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16", errors="replace").splitlines(), set()
    try:
        return raw.decode("utf-8").splitlines(), set()
    except UnicodeDecodeError:
        pass
    lines: list[str] = []
    bad: set[int] = set()
    for number, raw_line in enumerate(raw.splitlines(), start=1):
        try:
            lines.append(raw_line.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(raw_line.decode("utf-8", errors="replace"))
            bad.add(number)
    return lines, bad


class _CorpusParser:
    """Reads a corpus line by line (:meth:`feed`); each block becomes a product or a problem as it closes."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.products: list[Product] = []
        self.problems: list[ParseProblem] = []
        self.starts = 0
        self._seen: dict[str, int] = {}  # product id -> line of its block
        self._block: _BlockParser | None = None
        self._block_start = 0
        self._block_body = 0  # non-blank lines in the block
        self._block_bad: list[int] = []  # its lines that were not valid UTF-8
        self._in_idless_block = False  # inside a block whose START had no id (already reported)

    def feed(self, raw_line: str, number: int, bad: bool = False) -> None:
        """One line (1-based ``number``; ``bad``: it was not valid UTF-8)."""
        line = normalise_text(raw_line)
        stripped = line.strip()
        start = START_RE.match(stripped)
        if start:
            self._start(start.group("attrs"), number, bad)
        elif END_RE.match(stripped):
            self._end(number)
        elif self._block is not None:
            if bad:
                self._block_bad.append(number)
            if stripped and stripped != "---":
                self._block_body += 1
            self._block.feed(line, number)

    def result(self) -> ParseResult:
        """Everything read, once the last line was fed."""
        if self._block is not None:
            self._problem(
                self._block_start, "block has no DOC:END before the end of the file", self._block.product.product_id
            )
            self._block = None
        return ParseResult(
            source=self.source, products=self.products, problems=self.problems, start_markers=self.starts
        )

    def _problem(self, line: int, message: str, product_id: str | None, skipped: bool = True) -> None:
        self.problems.append(ParseProblem(self.source, line, message, product_id, skipped=skipped))

    def _start(self, attrs: str, number: int, bad: bool) -> None:
        self.starts += 1
        if self._block is not None:
            self._problem(
                self._block_start,
                f"block has no DOC:END before the next DOC:START on line {number}",
                self._block.product.product_id,
            )
            self._block = None
        id_match = ID_RE.search(attrs)
        cat_match = CATEGORY_RE.search(attrs)
        category = cat_match.group("category").strip() if cat_match else None
        self._block_start, self._block_body, self._block_bad = number, 0, [number] if bad else []
        self._in_idless_block = not id_match
        if not id_match:
            self._problem(number, "DOC:START marker has no id=", None)
            return
        self._block = _BlockParser(id_match.group("id"), category or None, number)

    def _end(self, number: int) -> None:
        if self._block is not None:
            self._close()
        elif not self._in_idless_block:
            self._problem(number, "DOC:END without a DOC:START", None, skipped=False)
        self._in_idless_block = False

    def _close(self) -> None:
        assert self._block is not None
        block, pid = self._block, self._block.product.product_id
        self._block = None
        try:
            if self._block_bad:
                raise ValueError(f"not valid UTF-8 on line {self._block_bad[0]}")
            if self._block_body == 0:
                raise ValueError("empty product block")
            if pid in self._seen:
                raise ValueError(f"duplicate id (first defined on line {self._seen[pid]})")
            product = block.finish()
        except ValueError as err:
            self._problem(self._block_start, str(err), pid)
            return
        self._seen[pid] = self._block_start
        self.products.append(product)
        for line, message in block.field_problems:
            self._problem(line, f"{message}: field left out", pid, skipped=False)


def parse_corpus_text(lines: list[str], source: str, bad_lines: frozenset[int] | set[int] = frozenset()) -> ParseResult:
    """Parse corpus ``lines``; ``bad_lines`` are line numbers that were not valid UTF-8."""
    parser = _CorpusParser(source)
    for number, line in enumerate(lines, start=1):
        parser.feed(line, number, number in bad_lines)
    return parser.result()


class CorpusStream:
    """The products of a corpus file, read line by line: memory stays flat whatever the file's size.

    Iterate for the products; afterwards :attr:`problems` and :attr:`start_markers` hold what
    :func:`parse_corpus` reports. Lines end at ``\n`` here (``parse_corpus`` also splits at Unicode line
    separators), so the two agree on any corpus without those inside a line.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CorpusError(f"corpus file not found: {self.path}")
        self.problems: list[ParseProblem] = []
        self.start_markers = 0

    def __iter__(self) -> Iterator[Product]:
        parser = _CorpusParser(str(self.path))
        with open(self.path, "rb") as handle:
            if handle.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):  # rare: decoded whole
                lines, _ = decode_lines(self.path.read_bytes())
                raw_lines: Iterable[bytes] = (line.encode("utf-8") for line in lines)
            else:
                handle.seek(0)
                raw_lines = handle
            for number, raw in enumerate(raw_lines, start=1):
                try:
                    line, bad = raw.decode("utf-8"), False
                except UnicodeDecodeError:
                    line, bad = raw.decode("utf-8", errors="replace"), True
                parser.feed(line.rstrip("\r\n"), number, bad)
                if parser.products:
                    yield from parser.products
                    parser.products.clear()
        result = parser.result()
        yield from result.products
        self.problems, self.start_markers = result.problems, result.start_markers


def parse_corpus(path: str | Path) -> ParseResult:
    """Parse the corpus file at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"corpus file not found: {path}")
    lines, bad = decode_lines(path.read_bytes())
    return parse_corpus_text(lines, str(path), bad)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
