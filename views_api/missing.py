"""Missing products (pure): zero-result searches turned into the products people asked for.

A search that found nothing says what the shop lacks. `extract` takes the product out of one
query with a few patterns ("looking for X", "do you have X", "need a X", "searching for X",
"X products/items/parts", "show me X", "where is the X"): the first pattern that matches wins, its
capture is lower-cased, whitespace collapsed, trimmed of punctuation and of a leading article
(a, an, the, some, any); a query no pattern
matches is itself the product (normalised the same way). `group` adds the searches up per product,
`categorize` sorts products into tools / parts / equipment / other by keywords, and `recommend`
writes at most four rule-based action items.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

PATTERNS: Final = tuple(
    re.compile(p)
    for p in (
        r"\blooking for (.+?)(?:\.|,|$)",
        r"\bdo you have (.+?)(?:\?|$)",
        r"\bneed (?:a |an |some )?(.+?)(?:\.|,|$)",
        r"\bsearching for (.+?)(?:\.|,|$)",
        r"(.+?) (?:products?|items?|parts?)\b",
        r"\bshow me (.+?)(?:\.|,|$)",
        r"\bwhere (?:is|are) (?:the )?(.+?)(?:\?|$)",
    )
)
"""The extraction patterns, tried in order on the normalised query."""

CATEGORIES: Final[dict[str, tuple[str, ...]]] = {
    "tools": ("tool", "wrench", "hammer", "drill", "saw", "screwdriver", "pliers"),
    "parts": ("part", "filter", "belt", "bearing", "gasket", "seal", "valve", "hose"),
    "equipment": ("pump", "motor", "compressor", "generator", "engine"),
}
"""Keywords of each category, checked in this order (a 'pump filter' is a part); a keyword matches a
word that starts with it ('filters', 'toolbox'). Products matching none are 'other'."""

CATEGORY_NAMES: Final = (*CATEGORIES, "other")
TOP_PER_CATEGORY: Final = 5
MAX_EXAMPLES: Final = 3
MAX_RECOMMENDATIONS: Final = 4
ZERO_SHARE_ALERT: Final = 10.0
"""Zero-result searches at or above this share of all searches (percent) earn a recommendation."""

_TRIM: Final = string.punctuation + string.whitespace
_ARTICLE: Final = re.compile(r"^(?:a|an|the|some|any) ")


def normalise(text: str) -> str:
    """Lower case, whitespace collapsed, punctuation trimmed from both ends."""
    return " ".join(text.lower().split()).strip(_TRIM)


def extract(query: str) -> str:
    """The product a search query asks for ('' for a query of punctuation only)."""
    text = " ".join(query.lower().split())
    for pattern in PATTERNS:
        match = pattern.search(text)
        if match:
            name = normalise(_ARTICLE.sub("", normalise(match.group(1))))
            if name:
                return name
    return normalise(text)


def category(name: str) -> str:
    """The category of a product name: tools, parts, equipment or other."""
    for cat, words in CATEGORIES.items():
        if re.search(r"\b(?:" + "|".join(words) + ")", name):
            return cat
    return "other"


@dataclass
class Product:
    """One missing product: the zero-result searches that asked for it."""

    name: str
    count: int = 0
    last_requested: datetime | None = None
    queries: dict[str, int] = field(default_factory=dict)
    """Each distinct query that asked for it, and how often."""

    @property
    def examples(self) -> list[str]:
        """Up to three distinct queries, the most frequent first (then alphabetical)."""
        ranked = sorted(self.queries.items(), key=lambda kv: (-kv[1], kv[0]))
        return [q for q, _ in ranked[:MAX_EXAMPLES]]


def group(searches: Iterable[tuple[str, int, datetime]]) -> list[Product]:
    """Products from (query, count, last seen) triples, by count (desc) then name."""
    products: dict[str, Product] = {}
    for query, count, last in searches:
        name = extract(query)
        if not name or count <= 0:
            continue
        product = products.setdefault(name, Product(name))
        product.count += count
        product.last_requested = last if product.last_requested is None else max(product.last_requested, last)
        key = " ".join(query.split())
        product.queries[key] = product.queries.get(key, 0) + count
    return sorted(products.values(), key=lambda p: (-p.count, p.name))


def categorize(products: Sequence[Product]) -> dict[str, list[str]]:
    """Names of the top five products (in the given order) of each category."""
    out: dict[str, list[str]] = {c: [] for c in CATEGORY_NAMES}
    for product in products:
        names = out[category(product.name)]
        if len(names) < TOP_PER_CATEGORY:
            names.append(product.name)
    return out


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def recommend(products: Sequence[Product], zero_searches: int, all_searches: int) -> list[str]:
    """At most four action items, in this order:

    1. "Consider stocking 'X': requested N times" for the two most requested products asked for at least twice;
    2. the category (tools, parts, equipment) with the most requests, if any: "Review your parts range: ...";
    3. when zero-result searches are at least 10% of all searches: "P% of searches found nothing: ...";
    4. when products asked for only once outnumber the others: a note on the long tail.
    """
    recs = [f"Consider stocking '{p.name}': requested {_times(p.count)}" for p in products[:2] if p.count >= 2]
    demand = {c: [p for p in products if category(p.name) == c] for c in CATEGORIES}
    ranked = sorted(
        ((sum(p.count for p in ps), c, len(ps)) for c, ps in demand.items() if ps), key=lambda t: (-t[0], t[1])
    )
    if ranked:
        requests, cat, n = ranked[0]
        asks, noun = ("request" if requests == 1 else "requests"), ("product" if n == 1 else "products")
        recs.append(f"Review your {cat} range: {requests} {asks} for {n} missing {noun}")
    if all_searches and zero_searches * 100 >= ZERO_SHARE_ALERT * all_searches:
        pct = round(zero_searches * 100 / all_searches, 1)
        recs.append(f"{pct:g}% of searches found nothing: add synonyms to your catalogue or stock the top requests")
    once = sum(1 for p in products if p.count == 1)
    if once and once * 2 > len(products):
        recs.append(
            "1 product was asked for only once: watch whether it comes back before stocking it"
            if once == 1
            else f"{once} products were asked for only once: watch whether they come back before stocking them"
        )
    return recs[:MAX_RECOMMENDATIONS]
