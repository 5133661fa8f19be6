"""Entity linking for the offline parser: the warehouse's own product, brand, sales-org and
model names, found in a question case- and accent-insensitively, in part or misspelt.

The index is built from the live warehouse (the YAML caps its sample values) plus the layer's
sample values, once per backend, so linking a question costs a few dictionary look-ups and one
rapidfuzz pass over the words nothing else explained.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from semantic_layer.model import SemanticModel

_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+[a-z]*)?")
_CAMEL = re.compile(r"[A-Z][a-z]*|[0-9]+")
# Model-name words too generic to name a model on their own.
_MODEL_PREFIXES = ("StatsForecast",)
_GENERIC_MODEL_WORDS = {"baseline", "auto"}


def fold(text: str) -> str:
    """Lower case without accents: 'Prévision' and 'PREVISION' compare equal."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(fold(text))


@dataclass(frozen=True)
class Entity:
    """One value of one field, as the warehouse spells it."""

    field: str  # product, brand, sales_org, model
    value: str
    published: bool = True  # in the live mapping (else only a sample value of the layer)


@dataclass
class Mention:
    """Words of the question (token span) and the entities they may name."""

    start: int
    end: int
    text: str
    candidates: list[Entity]
    how: str  # exact, partial, fuzzy


@dataclass
class EntityIndex:
    """Names → entities; built once from the warehouse's distinct values."""

    exact: dict[str, list[Entity]] = field(default_factory=lambda: defaultdict(list))
    names: dict[Entity, tuple[str, ...]] = field(default_factory=dict)  # entity → its tokens
    vocabulary: set[str] = field(default_factory=set)  # every token of every name
    org_names: dict[str, str] = field(default_factory=dict)  # sales_org → sales_org_name
    products_by_brand: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, entity: Entity, *aliases: str) -> None:
        for alias in (entity.value, *aliases):
            key = " ".join(tokens(alias))
            if key and entity not in self.exact[key]:
                self.exact[key].append(entity)
        name_tokens = tuple(tokens(entity.value))
        self.names[entity] = name_tokens
        self.vocabulary.update(name_tokens)
        for alias in aliases:
            self.vocabulary.update(tokens(alias))


def model_aliases(name: str) -> list[str]:
    """StatsForecastAutoArima → 'auto arima', 'arima'; the words people use for a model."""
    stem = name
    for prefix in _MODEL_PREFIXES:
        stem = stem.removeprefix(prefix)
    words = [w.lower() for w in _CAMEL.findall(stem)]
    specific = [w for w in words if w not in _GENERIC_MODEL_WORDS]
    aliases = [" ".join(words), " ".join(specific), stem.lower()]
    if specific and words[0] == "auto":
        aliases.append("auto" + "".join(specific))  # autoarima, autoets
    return [a for a in dict.fromkeys(aliases) if a]


def build_index(
    rows: list[tuple[str, str, str, str]], models: list[str], semantic: SemanticModel
) -> EntityIndex:
    """rows: the mapping's distinct (product, brand, sales_org, sales_org_name)."""
    index = EntityIndex()
    for product, brand, org, org_name in rows:
        index.add(Entity("product", product))
        index.add(Entity("brand", brand))
        index.add(Entity("sales_org", org), org_name)
        index.org_names[org] = org_name
        index.products_by_brand[brand].add(product)
    for model in models:
        index.add(Entity("model", model), *model_aliases(model))
    published = {e.value for e in index.names}
    for table in semantic.tables:
        for column in table.dimensions:
            if column.name in ("product", "brand", "model"):
                for value in column.sample_values:
                    if value not in published:
                        aliases = model_aliases(value) if column.name == "model" else []
                        index.add(Entity(column.name, value, published=False), *aliases)
    return index


def link(words: list[str], index: EntityIndex, reserved: set[str]) -> tuple[list[Mention], dict]:
    """Mentions of entities in `words`, longest first; returns also the fuzzy corrections made.

    A word is only corrected (rapidfuzz ratio ≥ 80 against the names' words) when it is not a
    word the parser knows, so 'sales' never becomes 'salakis'.
    """
    corrected = list(words)
    fixes: dict[str, str] = {}
    vocabulary = sorted(index.vocabulary)
    for i, word in enumerate(words):
        if len(word) < 4 or word in reserved or word in index.vocabulary or word.isdigit():
            continue
        best = process.extractOne(word, vocabulary, scorer=fuzz.ratio, score_cutoff=80)
        if best:
            corrected[i] = best[0]
            fixes[word] = best[0]
    mentions: list[Mention] = []
    taken = [False] * len(corrected)
    for n in range(min(8, len(corrected)), 0, -1):
        for i in range(len(corrected) - n + 1):
            if any(taken[i : i + n]):
                continue
            gram = corrected[i : i + n]
            found, how = _match(gram, index, reserved)
            if found:
                fuzzy = any(corrected[j] != words[j] for j in range(i, i + n))
                text = " ".join(words[i : i + n])
                mentions.append(Mention(i, i + n, text, found, "fuzzy" if fuzzy else how))
                taken[i : i + n] = [True] * n
    mentions.sort(key=lambda m: m.start)
    used = {words[j] for m in mentions for j in range(m.start, m.end)}
    return mentions, {k: v for k, v in fixes.items() if k in used}


def _match(gram: list[str], index: EntityIndex, reserved: set[str]) -> tuple[list[Entity], str]:
    key = " ".join(gram)
    if key in index.exact:
        return list(index.exact[key]), "exact"
    if all(w in reserved or len(w) < 3 for w in gram):
        return [], ""
    if len(gram) == 1 and len(gram[0]) < 4:
        return [], ""
    # Some of a name's words: 'etorki port' is in six products' names.
    hits = [
        e
        for e, name in index.names.items()
        if e.field in ("product", "brand") and _contains(name, gram)
    ]
    return hits, "partial"


def _contains(name: tuple[str, ...], gram: list[str]) -> bool:
    """The words of `gram` appear in `name` in order ('etorki 1kg' in ETORKI PORT 1KG X4 FR)."""
    remaining = iter(name)
    return all(word in remaining for word in gram)
