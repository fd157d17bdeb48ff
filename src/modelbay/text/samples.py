"""Small generated text sets: labelled topics for training tests, sentences for quality gates.

Made from templates with a seeded generator, so every run sees the same texts and
nothing is downloaded. The topics are separable by meaning, not by one keyword:
each has several subjects and verbs, and some sentences share words across topics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["TOPICS", "sentences", "topic_texts"]

TOPICS: dict[str, dict[str, list[str]]] = {
    "sport": {
        "who": [
            "the striker",
            "our goalkeeper",
            "the home team",
            "the young sprinter",
            "the coach",
        ],
        "did": [
            "scored twice in",
            "celebrated winning",
            "trained hard before",
            "was injured during",
            "lost badly in",
        ],
        "what": [
            "the final match",
            "the league season",
            "the relay race",
            "the penalty shootout",
            "the cup game",
        ],
    },
    "finance": {
        "who": ["the central bank", "investors", "the startup", "shareholders", "the pension fund"],
        "did": [
            "raised interest rates after",
            "sold shares during",
            "reported losses in",
            "borrowed heavily for",
            "paid dividends after",
        ],
        "what": [
            "the quarterly report",
            "the market crash",
            "the bond auction",
            "the merger talks",
            "the budget deficit",
        ],
    },
    "cooking": {
        "who": ["the chef", "my grandmother", "the baker", "our neighbour", "the cookbook author"],
        "did": [
            "slowly simmered",
            "baked fresh",
            "seasoned and roasted",
            "carefully whisked",
            "served warm",
        ],
        "what": [
            "the tomato sauce",
            "sourdough bread",
            "a whole chicken",
            "the egg whites",
            "vegetable soup",
        ],
    },
    "weather": {
        "who": ["forecasters", "the storm", "a cold front", "the heatwave", "heavy rain"],
        "did": [
            "warned about",
            "brought flooding to",
            "moved slowly across",
            "broke records in",
            "is expected over",
        ],
        "what": [
            "the coastal towns",
            "the northern valleys",
            "the weekend",
            "the mountain passes",
            "the whole region",
        ],
    },
}
_ENDINGS = ["", " today", " last night", " this week", " again", " once more"]


def topic_texts(n: int = 200, seed: int = 0, topics: tuple[str, ...] | None = None) -> pd.DataFrame:
    """``n`` rows of ``text`` and ``topic``, balanced over the topics."""
    rng = np.random.default_rng(seed)
    names = list(topics or TOPICS)
    rows = []
    for i in range(n):
        topic = names[i % len(names)]
        t = TOPICS[topic]
        parts = [str(rng.choice(t[k])) for k in ("who", "did", "what")]
        text = " ".join(parts) + str(rng.choice(_ENDINGS)) + "."
        rows.append({"text": text[0].upper() + text[1:], "topic": topic})
    order = rng.permutation(n)
    return pd.DataFrame(rows).iloc[order].reset_index(drop=True)


def sentences(n: int = 256, seed: int = 1) -> list[str]:
    """``n`` varied sentences (every topic, short and long): held-out text for quality gates."""
    df = topic_texts(n, seed)
    rng = np.random.default_rng(seed)
    out = []
    for i, text in enumerate(df["text"]):
        if i % 3 == 0:  # some longer ones, so that padding and truncation are exercised
            text = f"{text} {df['text'].iloc[int(rng.integers(n))]} {df['text'].iloc[int(rng.integers(n))]}"
        out.append(text)
    return out
