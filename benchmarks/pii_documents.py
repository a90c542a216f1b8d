# ruff: noqa: E501  (document templates read best one line a part)
"""Whole documents for the PII benchmark, unlike its one-sentence templates: medical notes, credentials
files, HR letters (the development set), and invoices, chat logs, support tickets (the held-out set,
written before any change was measured on it and run only at the end).

Every document is multi-line, in one of four locales, with values from Faker and formats drawn at
random: dates of birth behind the cues each locale writes (DOB, D.O.B., date of birth, born, né(e) le,
date de naissance, geb., Geburtsdatum, ...) in the date formats each locale uses; credentials as config
and env files hold them (AWS key pairs, Azure connection strings and SAS signatures, a GCP service
account's key, PEM private keys, ``password=`` / ``secret:`` / ``token`` assignments); names with and
without titles; addresses with every street suffix Faker knows. A part is a string (plain text) or a
``(TYPE, value)`` pair (a gold entity, or a decoy when TYPE is in ``pii.DECOYS``).
"""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Callable
from datetime import date
from typing import Any

Part = str | tuple[str, str]

MONTHS = {
    "en": "January February March April May June July August September October November December".split(),
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split(),
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split(),
}
SHORT = {
    "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(),
    "de": "Jan. Feb. März Apr. Mai Juni Juli Aug. Sept. Okt. Nov. Dez.".split(),
    "fr": "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc.".split(),
}


def _ordinal(day: int) -> str:
    if 10 <= day % 100 <= 20:
        return f"{day}th"
    return f"{day}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th') }"


def date_text(d: date, locale: str, rng: random.Random) -> str:
    """``d`` in one of the formats people in ``locale`` write a date of birth in."""
    lang = locale[:2]
    m, s = MONTHS[lang][d.month - 1], SHORT[lang][d.month - 1]
    formats = {
        "en_US": [
            f"{d:%m/%d/%Y}", f"{m} {d.day}, {d.year}", f"{s} {d.day}, {d.year}", f"{d:%Y-%m-%d}",
            f"{d:%m-%d-%Y}", f"{d.month}/{d.day}/{d.year}", f"{m} {_ordinal(d.day)}, {d.year}",
        ],
        "en_GB": [
            f"{d:%d/%m/%Y}", f"{d.day} {m} {d.year}", f"{d.day} {s} {d.year}", f"{d:%Y-%m-%d}",
            f"{_ordinal(d.day)} {m} {d.year}", f"{d:%d.%m.%Y}", f"{d:%d-%m-%Y}",
        ],
        "de_DE": [
            f"{d:%d.%m.%Y}", f"{d.day}. {m} {d.year}", f"{d:%Y-%m-%d}", f"{d.day}.{d.month}.{d.year}",
            f"{d.day}. {s} {d.year}", f"{d:%d.%m.%y}",
        ],
        "fr_FR": [
            f"{d:%d/%m/%Y}", f"{'1er' if d.day == 1 else d.day} {m} {d.year}", f"{d:%Y-%m-%d}",
            f"{d:%d-%m-%Y}", f"{d:%d.%m.%Y}", f"{d.day} {s} {d.year}",
        ],
    }  # fmt: skip
    return rng.choice(formats[locale])


DOB_CUES = {
    "en": ["DOB: ", "D.O.B.: ", "D.O.B. ", "Date of birth: ", "Date of Birth - ", "born ", "Born: ",
           "born on ", "Birth date: ", "DOB ", "Birthdate: "],
    "de": ["Geburtsdatum: ", "geb. ", "geboren am ", "Geb.-Datum: ", "Geb. am ", "Geburtstag: "],
    "fr": ["né le ", "née le ", "né(e) le ", "Date de naissance : ", "Date de naissance: ", "Naissance : "],
}  # fmt: skip


def dob(fake: Any, locale: str, rng: random.Random) -> list[Part]:
    """A cue and a date of birth."""
    born = fake.date_of_birth(minimum_age=1, maximum_age=100)
    return [rng.choice(DOB_CUES[locale[:2]]), ("DATE_OF_BIRTH", date_text(born, locale, rng))]


def _r(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64(rng: random.Random, nbytes: int) -> str:
    return base64.b64encode(bytes(rng.randrange(256) for _ in range(nbytes))).decode()


def pem(rng: random.Random, kind: str) -> str:
    """A PEM private key block of ``kind`` ("RSA ", "EC ", "OPENSSH ", "ENCRYPTED " or "")."""
    body = _b64(rng, rng.choice([120, 200, 300]))
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {kind}PRIVATE KEY-----\n" + "\n".join(lines) + f"\n-----END {kind}PRIVATE KEY-----"


def password(fake: Any, rng: random.Random) -> str:
    return str(
        rng.choice(
            [
                fake.password(length=rng.randint(10, 20)),
                fake.password(length=12, special_chars=False),
                f"{fake.word().capitalize()}{rng.randint(10, 9999)}{rng.choice('!#$%&*')}",
            ]
        )
    )


# ---------------------------------------------------------------------------------------- development


def medical_note(fake: Any, locale: str, rng: random.Random) -> list[Part]:
    lang = locale[:2]
    head = {"en": "Patient", "de": "Patient", "fr": "Patient"}[lang]
    seen = {"en": "Seen by", "de": "Behandelnd", "fr": "Médecin"}[lang]
    parts: list[Part] = [f"{head}: ", ("PERSON", fake.name()), "\n", *dob(fake, locale, rng), "\n"]
    if rng.random() < 0.6:
        parts += [{"en": "Address: ", "de": "Anschrift: ", "fr": "Adresse : "}[lang]]
        parts += [("STREET_ADDRESS", fake.street_address()), f"\n{fake.postcode()} {fake.city()}\n"]
    if rng.random() < 0.5:
        parts += [
            {"en": "Phone: ", "de": "Tel.: ", "fr": "Tél. : "}[lang],
            ("PHONE", fake.phone_number()),
            "\n",
        ]
    if locale == "en_US" and rng.random() < 0.4:
        parts += ["SSN: ", ("US_SSN", fake.ssn()), "\n"]
    parts += [
        {"en": "Visit on ", "de": "Termin am ", "fr": "Consultation du "}[lang],
        ("TIME", date_text(fake.date_this_year(), locale, rng)),
        {"en": ": follow-up, BP 128/82, dose 2.5 mg.\n", "de": ": Kontrolle, RR 128/82, 2,5 mg.\n",
         "fr": " : suivi, TA 12/8, 2,5 mg.\n"}[lang],
        f"{seen}: ", ("PERSON", f"{fake.first_name()} {fake.last_name()}"), "\n",
    ]  # fmt: skip
    return parts


def credentials_file(fake: Any, locale: str, rng: random.Random) -> list[Part]:
    style = rng.choice(["ini", "env", "yaml", "json"])
    key_id = "AKIA" + _r(rng, 16, string.ascii_uppercase + string.digits)
    secret = _r(rng, 40, string.ascii_letters + string.digits + "+/")
    user = fake.user_name()
    pw = password(fake, rng)
    token = _r(rng, rng.choice([24, 32, 40]))
    if style == "ini":
        return [
            "[default]\naws_access_key_id = ", ("API_KEY", key_id), "\naws_secret_access_key = ",
            ("API_KEY", secret), f"\nregion = {rng.choice(['eu-west-1', 'us-east-1'])}\n\n[db]\nuser = {user}\n",
            "password = ", ("API_KEY", pw), "\n",
        ]  # fmt: skip
    if style == "env":
        account = fake.user_name().replace("_", "").replace(".", "")[:20]
        return [
            f"# {fake.company()} staging\nDB_HOST=10.0.0.{rng.randint(2, 250)}\nDB_USER={user}\n",
            "DB_PASSWORD=", ("API_KEY", pw), "\nAWS_SECRET_ACCESS_KEY=", ("API_KEY", secret),
            f"\nAZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=https;AccountName={account};AccountKey=",
            ("API_KEY", _b64(rng, 64)), ";EndpointSuffix=core.windows.net\nSECRET_KEY=", ("API_KEY", token), "\n",
        ]  # fmt: skip
    if style == "yaml":
        return [
            f"database:\n  user: {user}\n  password: ", ("API_KEY", pw),
            "\nservice:\n  api_token: ", ("API_KEY", token),
            "\n  client_secret: \"", ("API_KEY", _r(rng, 32, string.ascii_letters + string.digits + "~_.-")),
            f"\"\n  timeout: {rng.randint(5, 60)}\n",
        ]  # fmt: skip
    project = f"{fake.word()}-{rng.randint(100000, 999999)}"
    return [
        '{\n  "type": "service_account",\n  "project_id": "', project, '",\n  "private_key_id": "',
        ("API_KEY", _r(rng, 40, "0123456789abcdef")), '",\n  "private_key": "',
        ("API_KEY", pem(rng, "").replace("\n", "\\n")), '\\n",\n  "client_email": "',
        ("EMAIL", f"{fake.user_name().replace('_', '-')}@{project}.iam.gserviceaccount.com"), '"\n}\n',
    ]  # fmt: skip


def hr_letter(fake: Any, locale: str, rng: random.Random) -> list[Part]:
    lang = locale[:2]
    name = fake.name()
    opening = {"en": "Dear ", "de": "Sehr geehrte/r ", "fr": "Madame, Monsieur "}[lang]
    body = {
        "en": ",\n\nWe are pleased to confirm your employment as of ",
        "de": ",\n\nwir bestätigen Ihre Anstellung ab dem ",
        "fr": ",\n\nNous confirmons votre embauche à compter du ",
    }[lang]
    parts: list[Part] = [
        opening,
        ("PERSON", name),
        body,
        ("TIME", date_text(fake.date_this_year(), locale, rng)),
    ]
    parts += [".\n", {"en": "Employee details: ", "de": "Angaben: ", "fr": "Coordonnées : "}[lang]]
    parts += [*dob(fake, locale, rng), ", ", ("STREET_ADDRESS", fake.street_address()), ", "]
    parts += [("EMAIL", fake.email()), ".\n"]
    if rng.random() < 0.6:
        parts += [
            {"en": "Salary account: ", "de": "Gehaltskonto: ", "fr": "Compte : "}[lang],
            ("IBAN", fake.iban()),
        ]
        parts += [".\n"]
    parts += [{"en": "Kind regards,\n", "de": "Mit freundlichen Grüßen\n", "fr": "Cordialement,\n"}[lang]]
    parts += [("PERSON", f"{fake.first_name()} {fake.last_name()}"), f"\n{fake.job()}\n"]
    return parts


# ------------------------------------------------------------------------------------------ held out


def invoice(fake: Any, locale: str, rng: random.Random) -> list[Part]:
    lang = locale[:2]
    label = {"en": "INVOICE", "de": "RECHNUNG", "fr": "FACTURE"}[lang]
    parts: list[Part] = [
        f"{label} ",
        ("ORDER", f"{rng.randint(2019, 2026)}-{rng.randint(1000, 99999)}"),
        "\n",
    ]
    parts += [("COMPANY", fake.company()), "\n", ("STREET_ADDRESS", fake.street_address()), "\n"]
    parts += [
        f"{fake.postcode()} {fake.city()}\n\n",
        {"en": "Bill to: ", "de": "An: ", "fr": "Client : "}[lang],
    ]
    parts += [("PERSON", fake.name()), "\n", ("STREET_ADDRESS", fake.street_address())]
    parts += [f"\n{fake.postcode()} {fake.city()}\n"]
    for _ in range(rng.randint(1, 3)):
        parts += [
            f"{fake.word().capitalize()} x{rng.randint(1, 9)} ",
            ("AMOUNT", f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}"),
            "\n",
        ]
    parts += [
        {"en": "Pay to ", "de": "Bitte überweisen auf ", "fr": "Règlement sur "}[lang],
        ("IBAN", fake.iban()),
    ]
    if rng.random() < 0.5:
        parts += [
            {"en": " or card ", "de": " oder Karte ", "fr": " ou carte "}[lang],
            ("CREDIT_CARD", fake.credit_card_number()),
        ]
    parts += [
        ".\n",
        {"en": "Questions: ", "de": "Fragen: ", "fr": "Questions : "}[lang],
        ("PHONE", fake.phone_number()),
    ]
    parts += [" / ", ("EMAIL", fake.email()), "\n"]
    return parts  # fmt: skip


def chat_log(fake: Any, locale: str, rng: random.Random) -> list[Part]:
    lang = locale[:2]
    a, b = fake.first_name(), fake.first_name()
    full = fake.name()
    lines: list[list[Part]] = [
        [f"[{rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}] {a}: ",
         {"en": "can you add ", "de": "kannst du ", "fr": "tu peux ajouter "}[lang], ("PERSON", full),
         {"en": " to the onboarding list?", "de": " auf die Onboarding-Liste setzen?", "fr": " à la liste ?"}[lang]],
        [f"[{rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}] {b}: ",
         {"en": "sure, their birthday for the HR form? ", "de": "klar, Geburtsdatum fürs Formular? ",
          "fr": "ok, sa date de naissance pour le formulaire ? "}[lang]],
        [f"[{rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}] {a}: ", *dob(fake, locale, rng),
         {"en": ", mobile ", "de": ", Handy ", "fr": ", portable "}[lang], ("PHONE", fake.phone_number())],
        [f"[{rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}] {b}: ",
         {"en": "also the vpn box is ", "de": "der VPN-Server ist ", "fr": "le serveur vpn est "}[lang],
         ("IP_ADDRESS", fake.ipv4_public()), {"en": ", build ", "de": ", Version ", "fr": ", version "}[lang],
         ("VERSION", f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}")],
    ]  # fmt: skip
    if rng.random() < 0.5:
        lines.append(
            [f"[{rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}] {a}: export GITHUB_TOKEN=",
             ("API_KEY", f"ghp_{_r(rng, 36)}"), " # " + {"en": "rotate it", "de": "bitte rotieren",
                                                          "fr": "à changer"}[lang]]
        )  # fmt: skip
    parts: list[Part] = []
    for line in lines:
        parts += [*line, "\n"]
    return parts


def support_ticket(fake: Any, locale: str, rng: random.Random) -> list[Part]:
    lang = locale[:2]
    parts: list[Part] = [
        f"Ticket #{rng.randint(10000, 99999)}\n", {"en": "From: ", "de": "Von: ", "fr": "De : "}[lang],
        ("PERSON", fake.name()), " <", ("EMAIL", fake.email()), ">\n",
        {"en": "Customer since ", "de": "Kunde seit ", "fr": "Client depuis "}[lang],
        ("TIME", str(rng.randint(2005, 2025))), ", ", *dob(fake, locale, rng), "\n\n",
        {"en": "My app stopped syncing after the update. My config:\n",
         "de": "Die App synchronisiert seit dem Update nicht mehr. Meine Konfiguration:\n",
         "fr": "L'application ne synchronise plus depuis la mise à jour. Ma config :\n"}[lang],
    ]  # fmt: skip
    snippet = rng.choice(["npmrc", "netrc", "sas", "pem", "token"])
    if snippet == "npmrc":
        parts += ["//registry.npmjs.org/:_authToken=", ("API_KEY", f"npm_{_r(rng, 36)}"), "\n"]
    elif snippet == "netrc":
        parts += [
            f"machine {fake.domain_name()} login {fake.user_name()} password ",
            ("API_KEY", password(fake, rng)),
            "\n",
        ]
    elif snippet == "sas":
        sig = _b64(rng, 32).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
        parts += [
            f"BlobEndpoint=https://{fake.user_name().replace('_', '')}.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=b&srt=co&sp=rl&se=2026-12-31&sig=",
            ("API_KEY", sig),
            "\n",
        ]
    elif snippet == "pem":
        parts += [("API_KEY", pem(rng, rng.choice(["RSA ", "EC ", "OPENSSH ", "ENCRYPTED "]))), "\n"]
    else:
        parts += [
            "Authorization: Bearer ",
            ("API_KEY", _r(rng, rng.choice([32, 48]))),
            "\n",
            "client_secret=",
            ("API_KEY", _r(rng, 34)),
        ]
        parts += ["\n"]
    parts += [
        {"en": "Ship the replacement to ", "de": "Ersatz bitte an ", "fr": "Envoyez le remplacement au "}[
            lang
        ]
    ]
    parts += [
        ("STREET_ADDRESS", fake.street_address()),
        ".\n",
        {"en": "Thanks, ", "de": "Danke, ", "fr": "Merci, "}[lang],
    ]
    parts += [("PERSON", fake.first_name() + " " + fake.last_name()), "\n"]
    return parts  # fmt: skip


# ------------------------------------------------------------------------------------------ final
# Written on 2026-12-05, after every change to the detector, and run once: a rental application, a
# forwarded e-mail thread and a deployment manifest, with labels and layouts none of the sets above use.


def rental_application(fake: Any, locale: str, rng: random.Random) -> list[Part]:
    lang = locale[:2]
    labels = {
        "en": (
            "RENTAL APPLICATION",
            "Applicant",
            "Co-applicant",
            "Current address",
            "Employer",
            "Reference (previous landlord)",
            "Bank account for the deposit refund",
            "Signed",
        ),
        "de": (
            "MIETERSELBSTAUSKUNFT",
            "Mietinteressent",
            "Mitmieter",
            "Derzeitige Anschrift",
            "Arbeitgeber",
            "Vorvermieter",
            "Konto für die Kautionsrückzahlung",
            "Unterschrift",
        ),
        "fr": (
            "DOSSIER DE LOCATION",
            "Candidat",
            "Cocandidat",
            "Adresse actuelle",
            "Employeur",
            "Référence (ancien bailleur)",
            "Compte pour la restitution du dépôt",
            "Signé",
        ),
    }[lang]
    parts: list[Part] = [
        f"{labels[0]}\n\n{labels[1]}: ",
        ("PERSON", fake.name()),
        "\n",
        *dob(fake, locale, rng),
        "\n",
    ]
    if rng.random() < 0.6:
        parts += [f"{labels[2]}: ", ("PERSON", f"{fake.first_name()} {fake.last_name()}"), "\n"]
    parts += [
        f"{labels[3]}: ",
        ("STREET_ADDRESS", fake.street_address()),
        f", {fake.postcode()} {fake.city()}\n",
    ]
    parts += [f"{labels[4]}: ", ("COMPANY", fake.company()), "\n"]
    parts += [f"{labels[5]}: ", ("PERSON", fake.name()), ", ", ("PHONE", fake.phone_number()), "\n"]
    parts += [f"{labels[6]}: ", ("IBAN", fake.iban()), "\n", f"{labels[7]} ", ("TIME", fake.date()), "\n"]
    return parts  # fmt: skip


def forwarded_thread(fake: Any, locale: str, rng: random.Random) -> list[Part]:
    lang = locale[:2]
    fwd = {
        "en": "---------- Forwarded message ---------",
        "de": "---------- Weitergeleitete Nachricht ---------",
        "fr": "---------- Message transféré ---------",
    }[lang]
    sender, first = fake.name(), fake.first_name()
    parts: list[Part] = [
        {"en": "Hi ", "de": "Hallo ", "fr": "Bonjour "}[lang], first, ",\n",
        {"en": "see below, can you sort this out with ", "de": "siehe unten, kannst du das mit ",
         "fr": "voir ci-dessous, peux-tu régler ça avec "}[lang],
        ("PERSON", fake.name()),
        {"en": "?\n\n", "de": " klären?\n\n", "fr": " ?\n\n"}[lang],
        f"{fwd}\n", {"en": "From: ", "de": "Von: ", "fr": "De : "}[lang], ("PERSON", sender), " <", ("EMAIL", fake.email()), ">\n",
        {"en": "Date: ", "de": "Datum: ", "fr": "Date : "}[lang], ("TIME", fake.date()), "\n\n",
        {"en": "The new starter's details for payroll: ", "de": "Die Daten der neuen Kollegin für die Lohnabrechnung: ",
         "fr": "Les informations de la nouvelle recrue pour la paie : "}[lang],
        ("PERSON", fake.name()), ", ", *dob(fake, locale, rng), ", ",
    ]  # fmt: skip
    if locale == "en_US":
        parts += ["SSN ", ("US_SSN", fake.ssn()), ".\n"]
    else:
        parts += [{"en": "account ", "de": "Konto ", "fr": "compte "}[lang], ("IBAN", fake.iban()), ".\n"]
    parts += [
        {"en": "She lives at ", "de": "Sie wohnt in der ", "fr": "Elle habite au "}[lang],
        ("STREET_ADDRESS", fake.street_address()), ".\n\n", "-- \n", ("PERSON", sender), "\n",
        f"{fake.job()}\n", {"en": "Direct line ", "de": "Durchwahl ", "fr": "Ligne directe "}[lang],
        ("PHONE", fake.phone_number()), "\n",
    ]  # fmt: skip
    return parts


def deployment_manifest(fake: Any, locale: str, rng: random.Random) -> list[Part]:
    owner = fake.name()
    parts: list[Part] = [
        "# deploy/values-prod.yaml\n", "# owner: ", ("PERSON", owner), " (", ("EMAIL", fake.email()), ")\n",
        "image:\n  tag: ", ("VERSION", f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"), "\n",
        "ingress:\n  host: ", fake.domain_name(), "\n  allowlist:\n    - ", ("IP_ADDRESS", fake.ipv4_public()), "/32\n",
        "env:\n",
    ]  # fmt: skip
    for _ in range(rng.randint(2, 3)):
        kind = rng.choice(["aws", "db", "stripe", "slack", "gcp"])
        if kind == "aws":
            parts += [
                "  AWS_ACCESS_KEY_ID: ",
                ("API_KEY", "AKIA" + _r(rng, 16, string.ascii_uppercase + string.digits)),
                "\n",
            ]
            parts += [
                "  AWS_SECRET_ACCESS_KEY: ",
                ("API_KEY", _r(rng, 40, string.ascii_letters + string.digits + "+/")),
                "\n",
            ]
        elif kind == "db":
            user = fake.user_name()
            parts += [
                f"  DATABASE_URL: postgres://{user}:",
                ("API_KEY", password(fake, rng)),
                f"@{fake.domain_name()}:5432/app\n",
            ]
        elif kind == "stripe":
            parts += ["  STRIPE_SECRET_KEY: ", ("API_KEY", "sk_live_" + _r(rng, 24)), "\n"]
        elif kind == "slack":
            parts += [
                "  SLACK_BOT_TOKEN: ",
                (
                    "API_KEY",
                    f"xoxb-{rng.randint(10**10, 10**11)}-{rng.randint(10**10, 10**11)}-{_r(rng, 24)}",
                ),
                "\n",
            ]
        else:
            parts += [
                '  GOOGLE_API_KEY: "',
                ("API_KEY", "AIza" + _r(rng, 35, string.ascii_letters + string.digits + "-_")),
                '"\n',
            ]
    parts += [
        "  TIMEOUT_SECONDS: ", ("AMOUNT", str(rng.randint(10, 120))), "\n",
        "# on-call: ", ("PERSON", fake.name()), ", ", ("PHONE", fake.phone_number()), "\n",
    ]  # fmt: skip
    return parts


FINAL: list[Callable[[Any, str, random.Random], list[Part]]] = [
    rental_application,
    forwarded_thread,
    deployment_manifest,
]

DEVELOPMENT: list[Callable[[Any, str, random.Random], list[Part]]] = [
    medical_note,
    credentials_file,
    hr_letter,
]
HELD_OUT: list[Callable[[Any, str, random.Random], list[Part]]] = [invoice, chat_log, support_ticket]


def make_documents(
    n: int, seed: int, held_out: bool | str, locales: tuple[str, ...], decoys: set[str]
) -> list[dict[str, Any]]:
    """``n`` documents round-robin over ``locales`` with their gold spans (``held_out``: the held-out
    kinds, ``"final"``: the final set, false: the development set)."""
    from faker import Faker

    rng = random.Random(seed)
    fakers = {locale: Faker(locale) for locale in locales}
    for i, fake in enumerate(fakers.values()):
        fake.seed_instance(seed + 100 + i)
    kinds = FINAL if held_out == "final" else HELD_OUT if held_out else DEVELOPMENT
    corpus = []
    for i in range(n):
        locale = locales[i % len(locales)]
        text, spans = "", []
        for part in rng.choice(kinds)(fakers[locale], locale, rng):
            if isinstance(part, str):
                text += part
                continue
            kind, value = part
            spans.append(
                {"start": len(text), "end": len(text) + len(value), "type": kind, "decoy": kind in decoys}
            )
            text += value
        corpus.append({"locale": locale, "text": text, "spans": spans})
    return corpus
