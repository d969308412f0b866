"""Missing products (pure): extraction, grouping, categories and recommendations."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from views_api.missing import Product, categorize, category, extract, group, normalise, recommend

T1 = datetime(2026, 3, 17, 9, tzinfo=UTC)
T2 = datetime(2026, 3, 18, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "product"),
    [
        ("Looking for  BLUE widgets", "blue widgets"),
        ("looking for blue widgets, preferably cheap", "blue widgets"),
        ("do you have hydraulic pump filters?", "hydraulic pump filters"),
        ("Do you have a 12V motor?", "12v motor"),
        ("do you have the blue widgets?", "blue widgets"),
        ("looking for any anvils", "anvils"),
        ("looking for an", "an"),  # an article alone stays
        ("I need a cordless drill.", "cordless drill"),
        ("need an impact wrench", "impact wrench"),
        ("we need some bearings", "bearings"),
        ("need gaskets", "gaskets"),
        ("searching for brass valves, 2 inch", "brass valves"),
        ("stainless steel parts", "stainless steel"),
        ("garden items", "garden"),
        ("show me generators.", "generators"),
        ("where are the air compressors?", "air compressors"),
        ("where is hammer", "hammer"),
        ("  Torque Wrench!! ", "torque wrench"),
        ("needle holder", "needle holder"),
        ("?!", ""),
    ],
)
def test_extract(query: str, product: str) -> None:
    assert extract(query) == product


def test_normalise_trims_punctuation_and_collapses_whitespace() -> None:
    assert normalise("  'Blue   Widgets'?! ") == "blue widgets"
    assert normalise("...") == ""


@pytest.mark.parametrize(
    ("name", "cat"),
    [
        ("cordless drill", "tools"),
        ("toolbox", "tools"),
        ("hydraulic pump filters", "parts"),  # parts are checked before equipment
        ("v belts", "parts"),
        ("air compressors", "equipment"),
        ("12v motor", "equipment"),
        ("blue widgets", "other"),
        ("sawdust", "tools"),  # a keyword matches words starting with it
        ("jigsaw", "other"),  # but not inside a word
    ],
)
def test_category(name: str, cat: str) -> None:
    assert category(name) == cat


def test_group_adds_queries_up_per_product_with_examples_and_last_request() -> None:
    products = group(
        [
            ("looking for blue widgets", 4, T1),
            ("do you have blue widgets?", 2, T2),
            ("need some blue widgets", 2, T1),
            ("blue widgets", 1, T1),
            ("do you have hydraulic pump filters?", 3, T2),
            ("gauge", 3, T1),
            ("?", 5, T2),  # nothing to extract
            ("looking for nothing", 0, T2),  # no searches
        ]
    )
    assert [(p.name, p.count, p.last_requested) for p in products] == [
        ("blue widgets", 9, T2),
        ("gauge", 3, T1),
        ("hydraulic pump filters", 3, T2),
    ]
    assert products[0].examples == ["looking for blue widgets", "do you have blue widgets?", "need some blue widgets"]
    assert products[1].examples == ["gauge"]


def test_categorize_keeps_the_top_five_of_each_category_in_order() -> None:
    names = [f"filter {i}" for i in range(7)] + ["drill", "pump", "widget"]
    assert categorize([Product(n, 1) for n in names]) == {
        "tools": ["drill"],
        "parts": ["filter 0", "filter 1", "filter 2", "filter 3", "filter 4"],
        "equipment": ["pump"],
        "other": ["widget"],
    }


def test_recommend_rules_in_order_and_at_most_four() -> None:
    products = [
        Product("blue widgets", 12),
        Product("hydraulic pump filters", 5),
        Product("drill", 1),
        Product("saw", 1),
    ]
    assert recommend(products, zero_searches=19, all_searches=60) == [
        "Consider stocking 'blue widgets': requested 12 times",
        "Consider stocking 'hydraulic pump filters': requested 5 times",
        "Review your parts range: 5 requests for 1 missing product",
        "31.7% of searches found nothing: add synonyms to your catalogue or stock the top requests",
    ]
    # a tie between categories goes to the first name; few zero results; a long tail of single requests
    tail = [Product("drill", 2), Product("v belt", 1), Product("pump", 1)]
    assert recommend(tail, zero_searches=4, all_searches=100) == [
        "Consider stocking 'drill': requested 2 times",
        "Review your tools range: 2 requests for 1 missing product",
        "2 products were asked for only once: watch whether they come back before stocking them",
    ]
    assert recommend([Product("widget", 1)], zero_searches=1, all_searches=10) == [
        "10% of searches found nothing: add synonyms to your catalogue or stock the top requests",
        "1 product was asked for only once: watch whether it comes back before stocking it",
    ]
    assert recommend([Product("drill", 1), Product("bolt", 2)], zero_searches=3, all_searches=300) == [
        "Consider stocking 'bolt': requested 2 times",
        "Review your tools range: 1 request for 1 missing product",
    ]
    assert recommend([], zero_searches=0, all_searches=0) == []
