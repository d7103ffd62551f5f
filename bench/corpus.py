"""A deterministic benchmark corpus: passages of about 200 words, each describing one made-up
place in plain English, and questions whose answer is in one known passage. No download; the
same seed gives byte-identical files. Runs under any Python 3.10+ (no project imports)."""

from __future__ import annotations

import json
import random
from pathlib import Path

SYLLABLES = (
    "ar bel cor dan el fen gar hol ist jor kel lin mor nes or pel quin ros sal tor ul ven wil "
    "yar zan bra cle dro fri glo kra ple sto tre vol"
).split()
KINDS = "town village port city harbour settlement valley district island borough".split()
REGIONS = (
    "northern coastal eastern mountain southern river western lake desert forest upland "
    "border delta island marsh"
).split()
GOODS = (
    "wool timber salt copper grain cheese glass paper wine olive oil honey leather silk iron "
    "tin pottery rope barley apples fish coffee tea spices cotton marble amber linen"
).split()
TRADES = (
    "weavers miners fishermen farmers smiths potters brewers masons merchants sailors "
    "carpenters printers bakers tanners glassmakers"
).split()
FEATURES = (
    "a stone bridge|an old lighthouse|a covered market|a clock tower|a ruined castle|"
    "a botanical garden|a narrow canal|a hilltop monastery|a railway viaduct|a town hall|"
    "a medieval wall|a public library|a salt mine|a wooden pier|a cathedral"
).split("|")
EVENTS = (
    "a great fire|a long drought|a severe flood|a harsh winter|an earthquake|a plague|"
    "a famine|a siege|a storm|a mining collapse"
).split("|")
FESTIVALS = "lantern harvest spring river music bread winter flower boat cheese".split()
SPORTS = "rowing football cycling chess wrestling archery sailing running".split()

TEMPLATES = (
    "{name} is a {adj} {kind} in the {region} region, known for its {good} and for {feature}.",
    "It was founded in {year} by {person}, who came from {other} with a group of {trade}.",
    "For most of its history the local economy depended on {good} and {good2}.",
    "In {year2} {event} destroyed much of the old centre, and the {kind} was rebuilt in brick.",
    "The population reached {pop} people in the census of {year3}.",
    "Its best known building is {feature}, completed in {year4} after {n} years of work.",
    "Every {season} the {kind} holds a {festival} festival that draws visitors from {other}.",
    "The {trade} of {name} formed a guild in {year2}, which still owns {feature2}.",
    "Trade with {other} grew after a road was opened through the {region} hills.",
    "The local school teaches {sport}, and the {kind} team won a regional title in {year3}.",
    "{person} later became mayor and built {feature2} near the main square.",
    "Visitors often remark on the smell of {good} in the streets near the harbour.",
    "A small museum describes how {event} changed the lives of the {trade}.",
    "The {kind} is twinned with {other}, and the two exchange {good2} every year.",
    "Today most residents work in services, but {good} is still produced by {n} families.",
)
QUESTIONS = (
    ("When was {name} founded?", "{year}"),
    ("Who founded {name}?", "{person}"),
    ("What is {name} known for?", "{good}"),
    ("What destroyed the old centre of {name}?", "{event}"),
    ("How many people lived in {name} in {year3}?", "{pop}"),
    ("Which festival does {name} hold?", "{festival}"),
    ("What is {name} twinned with?", "{other}"),
    ("Which sport is taught in {name}?", "{sport}"),
)


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize()


def _slots(rng: random.Random, name: str, names: list[str]) -> dict:
    good, good2 = rng.sample(GOODS, 2)
    feature, feature2 = rng.sample(FEATURES, 2)
    year = rng.randint(900, 1800)
    return {
        "name": name,
        "adj": rng.choice("small quiet busy old prosperous remote historic lively".split()),
        "kind": rng.choice(KINDS),
        "region": rng.choice(REGIONS),
        "good": good,
        "good2": good2,
        "feature": feature,
        "feature2": feature2,
        "year": year,
        "year2": year + rng.randint(20, 150),
        "year3": rng.randint(1850, 2020),
        "year4": year + rng.randint(5, 300),
        "person": f"{_name(rng)} {_name(rng)}",
        "other": rng.choice(names) if names else _name(rng),
        "trade": rng.choice(TRADES),
        "event": rng.choice(EVENTS),
        "pop": f"{rng.randint(800, 90000):,}",
        "n": rng.randint(3, 40),
        "season": rng.choice("spring summer autumn winter".split()),
        "festival": rng.choice(FESTIVALS),
        "sport": rng.choice(SPORTS),
    }


def passages(count: int, seed: int = 7, words: tuple[int, int] = (170, 200)) -> list[dict]:
    """`count` passages {"_id", "text", "slots"} of words[0]..words[1] words, one place each."""
    rng = random.Random(seed)
    names: list[str] = []
    seen: set[str] = set()
    out = []
    for i in range(count):
        name = _name(rng)
        while name in seen:
            name = _name(rng) + _name(rng).lower()
        seen.add(name)
        slots = _slots(rng, name, names[-50:])
        names.append(name)
        order = list(TEMPLATES[1:])
        rng.shuffle(order)
        sentences = [TEMPLATES[0].format(**slots)]
        while sum(len(s.split()) for s in sentences) < words[0]:
            if not order:
                order = list(TEMPLATES[1:])
                rng.shuffle(order)
                slots = {
                    **slots,
                    **{
                        k: v
                        for k, v in _slots(rng, name, names).items()
                        if k
                        in ("good", "good2", "feature2", "year2", "trade", "event", "n", "other")
                    },
                }
            sentence = order.pop().format(**slots)
            if sum(len(s.split()) for s in sentences) + len(sentence.split()) > words[1]:
                continue
            sentences.append(sentence)
        out.append({"_id": f"p{i:06d}", "text": " ".join(sentences), "slots": slots})
    return out


def questions(corpus: list[dict], count: int, seed: int = 11) -> list[dict]:
    """`count` questions {"id", "text", "answer_id"}, each about one passage."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        passage = rng.choice(corpus)
        template, _ = rng.choice(QUESTIONS)
        out.append(
            {
                "id": f"q{i:05d}",
                "text": template.format(**passage["slots"]),
                "answer_id": passage["_id"],
            }
        )
    return out


def write(folder: Path, n_passages: int, n_questions: int, seed: int = 7) -> tuple[Path, Path]:
    """corpus.jsonl ({"_id", "text"} per line, BEIR style, no titles) and questions.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus = passages(n_passages, seed)
    corpus_path, questions_path = folder / "corpus.jsonl", folder / "questions.jsonl"
    with open(corpus_path, "w", encoding="utf-8") as f:
        for p in corpus:
            f.write(json.dumps({"_id": p["_id"], "text": p["text"]}) + "\n")
    with open(questions_path, "w", encoding="utf-8") as f:
        for q in questions(corpus, n_questions, seed + 4):
            f.write(json.dumps(q) + "\n")
    return corpus_path, questions_path
