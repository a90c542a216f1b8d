"""PII detection with regular expressions, checksums and context: needs nothing beyond the standard
library. Each detector yields :class:`Entity` spans (offsets into the text); :func:`detect` runs them
all and resolves overlaps (the higher-priority type, then the longer span, wins).

Structured types are validated where a checksum or a grammar exists: Luhn and issuer prefixes for
credit cards, ISO 13616 mod-97 and per-country lengths for IBANs, the SSA's rules for US SSNs,
``ipaddress`` for IPv4 and IPv6. Ambiguous strings need context: an IPv4-shaped version number after
"version" or "v" (and one whose parts are all under 32 unless a network word comes before it or a
port after it), a date only when a birth cue ("born", "date of birth", "DOB", "geboren", "né le",
...) precedes it, a random-looking token as a secret only when long and high-entropy or after a word
like "key", "token" or "secret". PERSON and STREET_ADDRESS are found by cues here (titles, "my name
is", street types in English, German and French); an NER model adds names without cues.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator

import attrs

TYPES = (
    "EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS", "URL", "PERSON",
    "STREET_ADDRESS", "DATE_OF_BIRTH", "API_KEY",
)  # fmt: skip
#: which type wins when two spans overlap (earlier wins; then the longer span)
_ORDER = (
    "API_KEY", "EMAIL", "URL", "IBAN", "CREDIT_CARD", "US_SSN", "IP_ADDRESS", "DATE_OF_BIRTH", "PHONE",
    "STREET_ADDRESS", "PERSON",
)  # fmt: skip
PRIORITY = {t: i for i, t in enumerate(_ORDER)}


@attrs.frozen
class Entity:
    """A detected value: ``text[start:end]`` is of ``type``, with a confidence ``score``."""

    start: int
    end: int
    type: str
    score: float
    value: str


# ------------------------------------------------------------------------------------------ validators


def luhn_valid(number: str) -> bool:
    """The Luhn checksum (ISO/IEC 7812) of the digits in ``number``."""
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) < 2:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if i % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


#: IBAN lengths by country (ISO 13616 registry)
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_valid(value: str) -> bool:
    """ISO 13616: the country's length and the mod-97 check (the rearranged number mod 97 is 1)."""
    iban = re.sub(r"[\s-]", "", value).upper()
    if len(iban) < 15 or not iban[:2].isalpha() or not iban[2:4].isdigit():
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    if not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def ssn_valid(value: str) -> bool:
    """The SSA's rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    digits = re.sub(r"\D", "", value)
    if len(digits) != 9:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


def card_issuer_valid(digits: str) -> bool:
    """Whether the number's length and prefix belong to a card network (Visa, Mastercard 51-55 and
    2221-2720, Amex, Discover, JCB, Diners, UnionPay, Maestro)."""
    n = len(digits)
    two, four, six = int(digits[:2]), int(digits[:4]), int(digits[:6])
    return (
        (digits[0] == "4" and n in {13, 16, 19})
        or (51 <= two <= 55 and n == 16)
        or (2221 <= four <= 2720 and n == 16)
        or (two in {34, 37} and n == 15)
        or (
            (digits.startswith("6011") or digits.startswith("65") or 644 <= int(digits[:3]) <= 649)
            and n in {16, 19}
        )
        or (3500 <= four <= 3589 and n in {16, 19})  # JCB (3528-3589; issued numbers also from 3500)
        or (digits.startswith(("2131", "1800")) and n == 15)  # JCB's 15-digit numbers
        or ((300 <= int(digits[:3]) <= 305 or two in {36, 38, 39}) and n in {14, 16})
        or (two == 62 and 16 <= n <= 19)
        or (two in {50, 56, 57, 58, 63, 67} and 12 <= n <= 19)
        or (622126 <= six <= 622925 and n == 16)
    )


def entropy(token: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(token)
    n = len(token)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


# ------------------------------------------------------------------------------------------ patterns

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9\u00c0-\u024f-]+\.)+[A-Za-z]{2,24}\b"
)
_URL = re.compile(
    r"\b(?:https?://|ftp://|www\.)[^\s<>\"'()\[\]{}]+|"
    r"\b(?:[a-z0-9-]+\.)+(?:com|org|net|io|dev|ai|co|de|fr|uk|info|biz|app)/[^\s<>\"'()\[\]{}]*",
    re.IGNORECASE,
)
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){11,18}\d(?![\d-])")
_CARD_CUE = re.compile(
    r"\b(?:card|cc|visa|mastercard|maestro|amex|karte|kreditkarte|carte|cb|tarjeta)\b[^.\n]{0,15}$",
    re.IGNORECASE,
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,4})?\b")
_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])|(?<![\d-])\d{3} \d{2} \d{4}(?![\d ])")
_SSN_CUE = re.compile(r"\b(?:ssn|social security(?: number| no\.?)?|ss#)\W{0,3}$", re.IGNORECASE)
_SSN_BARE = re.compile(r"(?<!\d)\d{9}(?!\d)")
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.]\d)"
)
_VERSION_CUE = re.compile(
    r"(?:\b(?:v|ver|version|versión|release|build|firmware|patch|update|upgrade|rev|revision|kernel|"
    r"mise à jour|aktualisierung|stand|sp|fix)"
    r"\.?\s*:?\s*|\bv)$",
    re.IGNORECASE,
)
#: words before an address that say it is one (a version-shaped dotted quad needs one of them)
_NETWORK_CUE = re.compile(
    r"\b(?:ip|ipv4|ips|address|addr|adresse|host|hostname|server|serveur|rechner|ping|connect\w*|proxy|"
    r"dns|gateway|router|subnet|node|client|firewall|from|von|depuis|source|src|destination|dst|peer|"
    r"bind|listen\w*|remote|local|vpn|lan|wlan|wifi|dhcp|nat)\b[^.!?\n]{0,30}$",
    re.IGNORECASE,
)
_IPV6 = re.compile(
    r"(?<![\w:.])\[?(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?"
)
_API_KEYS = [
    re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),  # OpenAI
    re.compile(r"\bsk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_-]{20,}"),  # Anthropic
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b"),  # AWS key id
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b"),  # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"),
    re.compile(r"\bxox[abposr]-(?:\d+-)*[A-Za-z0-9-]{10,}"),  # Slack tokens
    re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google API key
    re.compile(r"\bya29\.[0-9A-Za-z_-]{20,}"),  # Google OAuth token
    re.compile(r"\b(?:sk|pk|rk)_(?:live|test)_[0-9A-Za-z]{16,}\b"),  # Stripe
    re.compile(r"\bwhsec_[0-9A-Za-z]{24,}\b"),
    re.compile(r"\bglpat-[0-9A-Za-z_-]{20,}\b"),  # GitLab
    re.compile(r"\bgl(?:ptt|rt|dt|cbt|soat)-[0-9A-Za-z_-]{20,}\b"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWT
    re.compile(r"\bhf_[A-Za-z]{30,}\b"),  # Hugging Face
    re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"),
    # PEM private keys (RSA, EC, OPENSSH, ENCRYPTED, PGP's block); one cut short keeps its base64 lines
    re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]+?-----END (?:[A-Z0-9]+ )*PRIVATE KEY"
        r"(?: BLOCK)?-----|(?:(?:\\n|\s)*[A-Za-z0-9+/=:-]{16,})+)"
    ),
]
#: a key name that says its value is a secret, in config files, env files, JSON, YAML, INI, URLs and
#: connection strings: ``DB_PASSWORD``, ``aws_secret_access_key``, ``AccountKey``, ``_authToken``, ``sig``
_SECRET_NAME = (
    r"[A-Za-z0-9_.-]*?(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key(?:[_-]?id)?|account[_-]?key|shared[_-]?access[_-]?(?:key|signature)|credentials?|"
    r"auth|passwort|kennwort|mot[_-]de[_-]passe|mdp)[A-Za-z0-9_.-]*|sig"
)
_ASSIGNED_SECRET = re.compile(
    rf"(?:^|(?<=[\s;,{{(&?:/]))(?:export\s+)?(?P<quote>[\"']?)(?P<key>{_SECRET_NAME})(?P=quote)"
    r"[ \t]*(?P<op>=|:)[ \t]*[\"']?(?P<value>[^\s\"'`;,<>]{4,})",
    re.IGNORECASE | re.MULTILINE,
)
#: a URL's credentials, ``scheme://user:PASSWORD@host`` (connection strings: postgres://, redis://,
#: amqp://, https://); a raw ``@`` inside the password is allowed, the last one before the host ends it
_URL_PASSWORD = re.compile(
    r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:(?P<value>\S+?)@"
    r"(?=[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::\d+)?(?:[/?#\s\"',;)]|$))"
)
#: a netrc line: ``machine HOST login USER password SECRET``
_NETRC = re.compile(r"\bmachine\s+\S+\s+login\s+\S+\s+password\s+(?P<value>\S+)")
#: values that stand for a secret without being one
_PLACEHOLDER = re.compile(
    r"(?:\$\{|(?-i:\$[A-Z_][A-Z0-9_]*)$|%[A-Za-z_]\w*%$|%\(|\{\{|<|\[)|(?:none|null|nil|true|false|undefined|changeme|example|redacted|hidden|"
    r"secret|password|token|required|optional|string|your[_-]?\w*|x{3,}|\*{3,}|\.{3,}|_{3,}|-{3,})$",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"(?<![\w+/=@-])[A-Za-z0-9+/_=.-]{16,}(?![\w+/=-])")
_SECRET_CUE = re.compile(
    r"\b(?:api[_ -]?key|key|token|secret|password|passwd|pwd|credential|auth|bearer|access[_ -]?key|"
    r"private[_ -]?key|schlüssel|passwort|clé|mot de passe)s?\b[\"']?\s*(?:[:=]|is|ist|est|:)?\s*[\"']?$",
    re.IGNORECASE,
)
_MONTHS = (
    r"(?:jan(?:uary|uar|vier|v)?|feb(?:ruary|ruar)?|févr(?:ier)?|mar(?:ch|s)?|märz|apr(?:il)?|avr(?:il)?|"
    r"may|mai|june?|juni?|juin|july?|juli?|juil(?:let)?|aug(?:ust)?|août|sep(?:t(?:ember|embre)?)?|"
    r"oct(?:ober|obre)?|okt(?:ober)?|nov(?:ember|embre)?|dec(?:ember)?|dez(?:ember)?|déc(?:embre)?)\.?"
)
_DATE = re.compile(
    r"\b(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})|"
    rf"\d{{1,2}}(?:st|nd|rd|th|er)?\.?\s+(?:of\s+)?{_MONTHS}\s*,?\s+\d{{4}}|"
    rf"{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?\s*,?\s+\d{{4}})\b",
    re.IGNORECASE,
)
_DOB_CUE = re.compile(
    r"(?:\bborn\b|\bbirth|\bd\.?o\.?b\b\.?|\bbday\b|\bgeboren\b|\bgeb\.|\bgeburts\w*|\bné(?:e|\(e\))?\b|"
    r"\bnaissance\b|\banniversaire\b|\bnacimiento\b|\bnascita\b|\bnato\b|\bnata\b|\bnacid[oa]\b)"
    r"[^.\n]{0,25}$",
    re.IGNORECASE,
)
_PHONE = re.compile(
    r"(?<![\w+/.-])(?<!\d\s)(?:"  # not the middle of a longer digit run ("4922 0163 0446 1545")
    # international, with an optional (0): +49 (0)30 1234567, +44 20 7946 0958, 0033 1 23 45 67 89
    r"(?:\+|00)\d{1,3}[\s./-]?(?:\(0\)[\s./-]?)?(?:\(\d{1,5}\)|\d{1,5})(?:[\s./-]?\d{1,5}){1,5}"
    r"|\(\d{2,5}\)[\s./-]?\d{2,5}(?:[\s./-]?\d{2,5}){0,3}"  # (030) 1234567, (555) 555-5555
    r"|0\d{1,4}(?:[\s./-]?\d{2,5}){1,4}"  # national with trunk 0 (UK, DE, FR)
    r"|[2-9]\d{2}[\s.-]\d{3}[\s.-]\d{4}"  # US 555-555-5555
    r"|1[\s.-][2-9]\d{2}[\s.-]\d{3}[\s.-]\d{4}"
    r"|1?[2-9]\d{2}[2-9]\d{6}"  # NANP without separators: needs a cue (see _phone_ok)
    r")(?:\s?(?:x|ext\.?|extension|#)\s?\d{1,6})?(?![\w-]|\.\d)",
    re.IGNORECASE,
)
_PHONE_CUE = re.compile(
    r"\b(?:phone|tel|telephone|call|reach|mobile|cell|fax|on|at|from|number|telefon|handy|tél|téléphone|"
    r"portable|au|unter|anrufen|appeler)\.?\s*:?\s*$",
    re.IGNORECASE,
)
_PHONE_BAD_CUE = re.compile(
    r"(?:order|invoice|isbn|ref|reference|ticket|tracking|account|sku|item|part|serial|case|id|nr|no|"
    r"bestell\w*|rechnung\w*|commande|facture|numéro de commande|#)"
    r"\s*(?:number|no\.?|nr\.?|#|:)?\s*[:#]?\s*$",
    re.IGNORECASE,
)

# street types: USPS Publication 28 (appendix C1) common suffixes, British usage, German and French
_EN_STREET = (
    r"Street|St|Avenue|Ave|Av|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Way|Place|Pl|Terrace|Ter|"
    r"Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Crescent|Close|Grove|Gardens|Mews|Row|"
    r"Hill|Hills|Park|Rise|View|Walk|Wharf|Green|Alley|Aly|Bridge|Brook|Brooks|Burg|Bypass|Camp|Canyon|"
    r"Cape|Causeway|Center|Centre|Cliff|Cliffs|Club|Common|Corner|Corners|Course|Courts|Cove|Coves|"
    r"Creek|Crest|Crossing|Crossroad|Curve|Dale|Dam|Divide|Drives|Estate|Estates|Expressway|Extension|"
    r"Falls|Ferry|Field|Fields|Flat|Flats|Ford|Fords|Forest|Forge|Forges|Fork|Forks|Fort|Freeway|"
    r"Garden|Gateway|Glen|Glens|Greens|Groves|Harbor|Harbors|Haven|Heights|Hollow|Inlet|Island|"
    r"Islands|Isle|Junction|Junctions|Key|Keys|Knoll|Knolls|Lake|Lakes|Land|Landing|Light|Lights|"
    r"Loaf|Lock|Locks|Lodge|Loop|Mall|Manor|Manors|Meadow|Meadows|Mill|Mills|Mission|Motorway|Mount|"
    r"Mountain|Mountains|Neck|Orchard|Oval|Overpass|Parks|Parkways|Pass|Passage|Path|Pike|Pine|Pines|"
    r"Plain|Plains|Plaza|Point|Points|Port|Ports|Prairie|Radial|Ramp|Ranch|Rapid|Rapids|Rest|Ridge|"
    r"Ridges|River|Roads|Route|Shoal|Shoals|Shore|Shores|Skyway|Spring|Springs|Spur|Spurs|Squares|"
    r"Station|Stravenue|Stream|Streets|Summit|Throughway|Trace|Track|Trafficway|Tunnel|Turnpike|"
    r"Underpass|Union|Unions|Valley|Valleys|Viaduct|Views|Village|Villages|Ville|Vista|Walks|Wall|"
    r"Ways|Well|Wells|Gate|Hall|Yard|Yards|Fall|Via|Vis|Run|Stream|Heights|"
    # the rest of USPS Publication 28's suffixes (Faker's en_US list is that one; en_GB's too, in lower case)
    r"Anex|Annex|Arcade|Bayou|Beach|Bend|Bluff|Bluffs|Bottom|Branch|Burgs|Centers|Circles|Commons|"
    r"Crescents|Crossroads|Extensions|Garden|Harbour|Lanes|Rue|Trailer|Wynd|Drove|Chase|Approach|"
    r"Broadway|Embankment|Esplanade|Parade|Promenade|Quay|Quays|Boulevards|Circus|Vale|Walkway|Courtyard|"
    r"Villas|Circuit|Concourse|Alleyway|Laneway|Brae|Glade|Grange|Reserve|Retreat|Strand"
)
_CAP = r"[A-Z][A-Za-z'\u2019-]*"
_EN_ADDRESS = re.compile(
    # the street itself is on one line: a number at the end of one line is not its house number
    # (a flat's line may stand before it, with or without a house number: "Flat 83\nBarry Route")
    r"\b(?:(?:Flat|Apt\.?|Apartment|Unit|Suite|Studio)\s+\w+,?\s+(?:\d{1,6}[A-Za-z]?,?[ \t]+)?"
    r"|\d{1,6}[A-Za-z]?,?[ \t]+)"
    rf"(?:{_CAP}\.?[ \t]+){{0,4}}{_CAP}[ \t]+(?:{_EN_STREET})\b\.?(?:[ \t]+(?:N|S|E|W|NE|NW|SE|SW)\b\.?)?"
    r"(?:,?\s+(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|#)\s*[\w-]+)?"
    r"(?:,?\s*\n?\s*[A-Z][A-Za-z .'-]{1,30},\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?)?"  # City, ST 12345
    r"(?:,?\s*\n?\s*[A-Z][A-Za-z .'-]{1,30}\s*\n?\s*[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})?",  # UK town, postcode
)
_DE_ADDRESS = re.compile(
    r"\b(?:[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)*(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|"
    r"damm|ufer|chaussee|steig|pfad|markt|stieg|graben|berg|hof|park)|"
    r"[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)*-(?:Straße|Strasse|Str\.|Weg|Gasse|Platz|Allee|Ring|Damm|"
    r"Ufer|Chaussee|Steig|Pfad|Markt|Stieg|Graben|Berg|Hof|Park)|"
    r"(?:[A-ZÄÖÜ][a-zäöüß]+(?:er)?\s+)(?:Straße|Strasse|Str\.|Weg|Gasse|Platz|Allee|Ring|Damm)|"
    r"(?:Am|An der|Auf dem|Im|In der|Zum|Zur)\s+[A-ZÄÖÜ][a-zäöüß]+)"
    r"\s+\d{1,4}(?:\s?[a-zA-Z])?(?:\s?[/-]\s?\d{1,4})?\b"
    r"(?:,?\s*\n?\s*\d{5}\s+[A-ZÄÖÜ][\wäöüß-]+(?:\s(?:am|an der|im|bei|ob der)\s[A-ZÄÖÜ][\wäöüß-]+)?"
    r"(?:\s\([^)\n]{1,20}\))?)?"
)
_FR_ADDRESS = re.compile(
    r"\b\d{1,4}(?:\s?(?:bis|ter|[A-D]))?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|chemin|allée|impasse|"
    r"quai|route|cours|square|passage|voie|rond-point|faubourg|parvis|sentier|villa)\s+"
    r"(?:(?:de\s+la|de\s+l'|du|des|de|d'|la|le|les|l')\s*)?[A-ZÉÈÊÀÂÎÔÛÇ][\w'\u2019-]*"
    r"(?:[ \t]+[A-ZÉÈÊÀÂÎÔÛÇ][\w'\u2019-]*)*"
    # the town is on one line: the word on the next line is not part of it ("28638 Michelnec\n\nClient")
    r"(?:,?\s*\n?\s*(?:CS\s+\d+\s*\n?\s*)?\d{5}[ \t]+[A-ZÉÈ][\w'\u2019-]+"
    r"(?:[ \t-]+[A-ZÉÈa-zé][\w'\u2019-]+)*(?:[ \t]+Cedex)?)?",
    re.IGNORECASE,
)
_FR_STREET_NO_NUMBER = re.compile(
    r"\b(?:rue|avenue|boulevard|chemin|impasse|allée|quai|route|cours|passage|place)\s+"
    r"(?:(?:de\s+la|de\s+l'|du|des|de|d')\s*)?[A-ZÉÈÊÀÂÎÔÛÇ][\w'\u2019-]*"
    r"(?:[ \t]+(?:de[ \t]+|du[ \t]+)?[A-ZÉÈÊÀÂÎÔÛÇ][\w'\u2019-]*)*"
    r"(?:,?\s*\n?\s*\d{5}[ \t]+[A-ZÉÈ][\w'\u2019-]+(?:[ \t-]+[A-ZÉÈa-zé][\w'\u2019-]+)*(?:[ \t]+Cedex)?)?"
)
_WORD = r"(?:Mc|Mac|O['\u2019]|D['\u2019])?[A-ZÀ-ÖØ-Þ][a-zßà-öø-ÿ'\u2019]+"
_NAME = rf"{_WORD}(?:-{_WORD})?"
#: one word of a name: capitalised (with hyphenated parts), or a particle (van, von, de, ...)
NAME_TOKEN = re.compile(
    rf"{_WORD}(?:-{_WORD})*|"
    r"van|von|de|der|den|du|da|di|del|la|le|zu|ten|ter|Le|La|De|Da|Van|Von|[A-Z]\.|"
    # generational and professional suffixes written after a name ("Jr.", "III", "MD", "PhD")
    r"Jr\.?|Sr\.?|II|III|IV|MD|DDS|DVM|PhD|Esq\.?"
)
_PARTICLE = r"(?:(?:van|von|de|der|den|du|da|di|del|la|le|zu|ten|ter|van der|von der|de la)[ \t]+)?"
_AFTER_CUE_TITLE = (
    r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Herr|Frau|Hr|Fr|Mme|Mlle|Monsieur|Madame|Ing|Dipl\.-Ing|Dipl\.-Kfm|"
    r"Mag|Professor|Doktor)"
)
#: a colon after a cue, with the space French writes before it ("Client : Marc Roy")
_COLON = r"[ \u00a0\u202f]?:"
_PERSON_CUE = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Herr|Frau|Hr|Fr|Mme|Mlle|Me|Monsieur|Madame|"
    r"Mademoiselle|Professor|Doktor)\.?\s+(?:(?:Dr|Prof)\.?\s+)?|"
    # an e-mail signature: the line after RFC 3676's "-- " delimiter
    r"(?<![^\n])--[ \t]?\n|"
    rf"\b(?:[Mm]y name is|[Nn]ame{_COLON}|[Nn]ame is|[Cc]ontact(?: person)?{_COLON}?|[Dd]ear|"
    r"[Ss]incerely,?|[Rr]egards,?|"
    r"[Cc]alled|[Ii]'m|[Ii] am|[Mm]ein Name ist|[Ii]ch heiße|[Ii]ch bin|[Ii]ch hei[sß]e|[Ll]iebe[rs]?|"
    r"[Hh]allo|[Gg]rüße,?|[Jj]e m'appelle|[Jj]e suis|[Mm]on nom est|[Cc]her|[Cc]hère|[Bb]onjour|"
    rf"[Cc]ordialement,?|[Pp]atient{_COLON}?|[Pp]atientin{_COLON}?|[Cc]ustomer{_COLON}?|[Cc]lient{_COLON}?|"
    rf"[Kk]unde{_COLON}?|[Kk]undin{_COLON}?|"
    rf"[Ee]mployee{_COLON}?|[Ss]igned,?|[Aa]uthor{_COLON}?|[Tt]hanks,?|[Tt]hank you,?|[Mm]erci,?|[Dd]anke,?|"
    rf"[Ss]een by{_COLON}?|[Tt]reated by{_COLON}?|[Rr]eferred by{_COLON}?|[Bb]ehandelnde?r?{_COLON}|"
    rf"[Aa]rzt{_COLON}|[Ää]rztin{_COLON}|[Mm]édecin{_COLON}|[Dd]octor{_COLON}|[Pp]hysician{_COLON}|"
    r"[Ss]ehr geehrte[rs]?(?:/r)?|[Ff]reundlichen Grüßen,?|[Bb]est wishes,?|"
    r"[Cc]heers,?|[Bb]ien à vous,?|[Ss]alutations,?|[Bb]est,|"
    r"[Mm]aintained by|[Ww]ritten by|[Ss]ent by|[Rr]eported by|[Aa]pproved by|[Ss]igned by|"
    r"(?:[Nn]ame|[Nn]om|[Pp]rénom|[Vv]orname|[Nn]achname|[Aa]pplicant|[Aa]ttendees?|[Pp]articipants?|"
    r"[Tt]eilnehmer(?:in)?|[Aa]ntragsteller(?:in)?|[Dd]emandeur|[Cc]ontact|[Aa]uteur|[Vv]erfasser)\s?:|"
    r"by|[Aa]ccording to|[Ll]aut|[Dd]'après|[Ss]elon|"
    rf"[Vv]on{_COLON}|[Ff]rom{_COLON}|[Tt]o{_COLON}|[Aa]n{_COLON}?|[Cc]c{_COLON}|[Gg]eht an|[Ll]ivré à|"
    r"[Dd]e la part de|"
    # who owns or maintains a file or service
    rf"[Oo]wner{_COLON}|[Mm]aintainers?{_COLON}|"
    # talking to someone, and the roles people are named by ("the intern, Ann Lee", "titulaire ...")
    # (lowercase: "Call Center Manager" and "This is New York" start sentences, not names)
    r"(?:[Ss]poke|[Tt]alked|[Mm]et|[Mm]eeting|[Cc]hatted)\s+(?:with|to)|call|ping|ask|contact|email|remind|"
    r"loop in|assign(?:ed)? to|forward(?:ed)? to|escalate(?:d)? to|this is|[Hh]ier spricht|"
    r"(?:[Tt]he |[Oo]ur |[Yy]our |[Dd]er |[Dd]ie |[Ll]e |[Ll]a |[Ll]')?(?:user|customer|client|patient|"
    r"employee|applicant|intern|trainee|manager|colleague|cardholder|account holder|tenant|guest|driver|"
    r"owner|recipient|sender|assignee|reviewer|candidate|student|Kunde|Kundin|Mitarbeiter(?:in)?|"
    r"Praktikant(?:in)?|Kollege|Kollegin|Inhaber(?:in)?|Kontoinhaber(?:in)?|Mieter(?:in)?|"
    r"Patient(?:in)?|Empfänger(?:in)?|cliente?|stagiaire|titulaire|locataire|collègue|patiente?|"
    r"employée?|destinataire|candidate?),?|"
    r"Dipl\.-Ing\.|Dipl\.-Kfm\.)\s+)"
    # titles after a cue ("Dear Mrs. Sarah Johnson", "Patient: Prof. Corinna Becker")
    rf"(?P<title>(?:{_AFTER_CUE_TITLE}\.?[ \t]+)*)"
    rf"((?:{_NAME}[ \t]+){{0,2}}{_PARTICLE}{_NAME})"
)
_DEGREE = re.compile(
    rf"\b((?:{_NAME}[ \t]+){{1,2}}{_PARTICLE}{_NAME})\s+(?:MBA|B\.\s?Eng|B\.\s?Sc|M\.\s?Sc|B\.\s?A|M\.\s?A|"
    r"LL\.\s?M|Ph\.\s?D|MdB|Dipl\.-Ing|PhD|MD)\.?"
)
#: what ends a company's name: a name before it is not a person
COMPANY_SUFFIX = re.compile(
    r"^\s*(?:&|(?:and|und|et)\s+(?:Sons|Söhne|Fils|Partners?|Co\b)|,\s*[A-Z][\w-]+(?:,\s*[A-Z][\w-]+)*\s+"
    r"(?:and|und|et)\s+[A-Z]|LLC|Inc|Ltd|Limited|PLC|plc|GmbH|AG|KG|KGaA|OHG|SE|SA|SAS|SARL|S\.A\.|"
    r"Group|Corp|Corporation|Co\b|Stiftung|e\.V\.|Partners|Brothers|Bros|Holding)"
)
COMPANY_WORDS = frozenset(
    "LLC Inc Ltd Limited PLC GmbH AG KG KGaA OHG SE SA SAS SARL Group Corp Corporation Co Stiftung "
    "Partners Brothers Bros Holding Pro "
    # words that name organisations, not people ("Deutsche Bank confirmed", "Support Team")
    "Bank Sparkasse University Universität Université Institute Institut Hospital Klinikum Airlines "
    "Agency Ministry Council Team Office Department Service Services Support Systems Solutions "
    "Technologies Labs Foundation Association Verein Club".split()
)
_BEFORE_PERSON_VERB = re.compile(
    rf"\b((?:{_NAME}[ \t]+){{1,2}}{_PARTICLE}{_NAME})(?=,?\s+(?:geboren|geb\.|née?|was born|born|DOB|wohnt|"
    r"lives|habite|ruft|called|calls|schreibt|writes|wrote|écrit|said|sagt|dit|"
    # what people do in messages: ask, confirm, approve, report, reply ... (not "is" or "has": places do)
    r"asked|asks|confirmed|confirms|approved|approves|reported|reports|noted|notes|mentioned|replied|"
    r"replies|agreed|agrees|signed|emailed|requested|requests|flagged|flags|explained|suggested|told|"
    r"tells|thinks|thanked|complained|promised|apologi[sz]ed|fragt|fragte|bestätigt|bestätigte|meldet|"
    r"meldete|meinte|erklärt|erklärte|schrieb|bittet|antwortet|demande|confirme|signale|explique|"
    r"indique|répond|a (?:confirmé|demandé|écrit|signalé|répondu|validé|appelé))\b|\s*<[^\s<>@]+@)"
)
_TITLES = re.compile(
    r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Herr|Frau|Hr|Fr|Mme|Mlle|Me|Monsieur|Madame|Mademoiselle|"
    r"Professor|Doktor|Dipl\.-Ing|Dipl\.-Kfm)\b"
)
_LIST_NEXT = re.compile(rf"(?:,\s*|\s+(?:and|und|et)\s+)((?:{_NAME}[ \t]+){{1,2}}{_PARTICLE}{_NAME})\b")
#: a name joined to the one that follows: "Tracy Woods and ...", "Anna Beck, ..."
_LIST_BEFORE = re.compile(
    rf"\b((?:{_NAME}[ \t]+){{1,2}}{_PARTICLE}{_NAME})(?:,\s*|\s+(?:and|und|et)\s+)"
    rf"(?:{_TITLES.pattern}\.?\s+)?$"
)
_NOT_NAMES = frozenset(
    "The A An I We You He She It They This That Thanks Thank Please Team All Sir Madam Customer Support "
    "Service Mr Mrs Ms Dr Hello Hi Dear Best Kind Regards Yours Sincerely Sehr Geehrte Geehrter Damen "
    "Herren Monsieur Madame Bonjour Merci Cordialement Liebe Lieber Hallo Vielen Dank Your Our My Here "
    "There Not Now Today Tomorrow Order Invoice Account Password Email Phone Address Street Road "
    # whom a letter goes to when no name is known ("Dear Hiring Manager", "Dear Recruitment Team")
    "Hiring Manager Recruiter Recruitment Committee Colleagues Friends Everyone Sirs".split()
)

Detector = Callable[[str], Iterator[Entity]]


def _emails(text: str) -> Iterator[Entity]:
    for m in _EMAIL.finditer(text):
        yield Entity(m.start(), m.end(), "EMAIL", 0.99, m.group())


def _urls(text: str) -> Iterator[Entity]:
    for m in _URL.finditer(text):
        value = m.group().rstrip(".,;:!?'\")]}")
        yield Entity(m.start(), m.start() + len(value), "URL", 0.9, value)


def _cards(text: str) -> Iterator[Entity]:
    for m in _CARD.finditer(text):
        value = m.group().strip(" -")
        digits = re.sub(r"\D", "", value)
        if not (12 <= len(digits) <= 19 and luhn_valid(digits) and card_issuer_valid(digits)):
            continue
        start = m.start() + m.group().index(value)
        if len(digits) == 12 and not _CARD_CUE.search(text[max(0, start - 30) : start]):
            continue  # a 12-digit Maestro number looks like any reference number: only after a cue
        yield Entity(start, start + len(value), "CREDIT_CARD", 0.95, value)


def _ibans(text: str) -> Iterator[Entity]:
    for m in _IBAN.finditer(text):
        value = m.group()
        # the match may run into a following word: shorten it to the longest valid IBAN
        for end in range(len(value), 14, -1):
            candidate = value[:end].rstrip(" -")
            if iban_valid(candidate):
                yield Entity(m.start(), m.start() + len(candidate), "IBAN", 0.99, candidate)
                break


def _ssns(text: str) -> Iterator[Entity]:
    for m in _SSN.finditer(text):
        if ssn_valid(m.group()):
            yield Entity(m.start(), m.end(), "US_SSN", 0.85, m.group())
    for m in _SSN_BARE.finditer(text):
        if ssn_valid(m.group()) and _SSN_CUE.search(text[max(0, m.start() - 30) : m.start()]):
            yield Entity(m.start(), m.end(), "US_SSN", 0.8, m.group())


def _ips(text: str) -> Iterator[Entity]:
    for m in _IPV4.finditer(text):
        if _VERSION_CUE.search(text[max(0, m.start() - 20) : m.start()]):
            continue  # "version 5.17.9.21", "v1.2.3.4"
        if _version_shaped(m.group()) and not (
            text.startswith(":", m.end()) or _NETWORK_CUE.search(text[max(0, m.start() - 50) : m.start()])
        ):
            continue  # "it reports 18.19.3.13": every part small, and nothing says it is an address
        yield Entity(m.start(), m.end(), "IP_ADDRESS", 0.9, m.group())
    for m in _IPV6.finditer(text):
        value = m.group().lstrip("[")
        start = m.start() + (m.end() - m.start() - len(value))
        # a trailing colon belongs to the sentence ("2001:db8::1: refused"), or a port follows
        for candidate in (
            value,
            value.rstrip(":"),
            value[: value.rfind(":")] if value.count(":") > 2 else "",
        ):
            if candidate.count(":") >= 2 and _is_ipv6(candidate):
                yield Entity(start, start + len(candidate), "IP_ADDRESS", 0.95, candidate)
                break


def _version_shaped(value: str) -> bool:
    """Every part under 32: a random public address is so one time in 4,000, versions mostly are."""
    return max(int(p) for p in value.split(".")) < 32


def _is_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value.split("%", maxsplit=1)[0])
    except ValueError:
        return False
    return any(c.isalpha() for c in value) or "::" in value or value.count(":") == 7


def _api_keys(text: str) -> Iterator[Entity]:
    for pattern in _API_KEYS:
        for m in pattern.finditer(text):
            yield Entity(m.start(), m.end(), "API_KEY", 0.99, m.group())
    yield from _assigned_secrets(text)
    if "://" in text:
        for m in _URL_PASSWORD.finditer(text):
            if not _PLACEHOLDER.match(m.group("value")):
                yield Entity(m.start("value"), m.end("value"), "API_KEY", 0.9, m.group("value"))
    for m in _TOKEN.finditer(text):
        token = m.group().rstrip(".")
        digits = re.search(r"\d", token) is not None
        if not re.search(r"[A-Za-z]", token):
            continue
        cued = _SECRET_CUE.search(text[max(0, m.start() - 40) : m.start()]) is not None
        mixed = bool(re.search(r"[a-z]", token) and re.search(r"[A-Z]", token))
        if not digits and not (cued and mixed):
            continue  # letters alone: a word, unless a cue announces a mixed-case token ("Bearer ...")
        bits = entropy(token)
        if (cued and len(token) >= 16 and bits >= 3.3) or (len(token) >= 24 and mixed and bits >= 4.2):
            yield Entity(m.start(), m.start() + len(token), "API_KEY", 0.8 if cued else 0.7, token)


def _assigned_secrets(text: str) -> Iterator[Entity]:
    """Values assigned to a secret's name (``password = ...``, ``AccountKey=...``, ``"token": "..."``).

    After ``=`` (config and env files, connection strings, URLs) any value of 4 or more characters
    that is not a placeholder; after ``:`` (YAML, JSON, but also prose: "Token: expired") only one
    with a digit or a symbol beside its letters, or of mixed case, or long and high-entropy."""
    if "=" not in text and ":" not in text and "machine" not in text:
        return
    for m in _ASSIGNED_SECRET.finditer(text):
        value = m.group("value")
        if m.start("key") > 0 and text[m.start("key") - 1] in "?&":  # a URL's query: '&' ends the value
            value = value.split("&", 1)[0]
        value = value.rstrip(".")
        if m.group("key").lower() == "sig" and m.group("op") != "=":
            continue
        if len(value) < 4 or _PLACEHOLDER.match(value) or "://" in value:
            continue
        if m.group("op") == ":" and not _secret_shaped(value):
            continue
        start = m.start("value")
        yield Entity(start, start + len(value), "API_KEY", 0.85, value)
    for m in _NETRC.finditer(text):
        yield Entity(m.start("value"), m.end("value"), "API_KEY", 0.85, m.group("value"))


def _secret_shaped(value: str) -> bool:
    """Not a word: letters with digits or symbols, mixed case inside, or a long high-entropy string."""
    letters = any(c.isalpha() for c in value)
    others = any(not c.isalpha() for c in value)
    mixed = any(c.isupper() for c in value[1:]) and any(c.islower() for c in value)
    return (letters and others) or mixed or (len(value) >= 16 and entropy(value) >= 3.5)


def _dates_of_birth(text: str) -> Iterator[Entity]:
    for m in _DATE.finditer(text):
        if _DOB_CUE.search(text[max(0, m.start() - 45) : m.start()]):
            yield Entity(m.start(), m.end(), "DATE_OF_BIRTH", 0.85, m.group())


def _phone_ok(text: str, start: int, value: str) -> bool:
    digits = re.sub(r"\D", "", re.split(r"x|ext", value, maxsplit=1, flags=re.IGNORECASE)[0])
    if not 7 <= len(digits) <= 15:
        return False
    if _PHONE_BAD_CUE.search(text[max(0, start - 25) : start]):
        return False
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}", value):
        return False  # a date
    if value.isdigit() and not value.startswith("0"):  # a bare number: an amount, an id, or a phone
        return _PHONE_CUE.search(text[max(0, start - 20) : start]) is not None
    return True


def _phones(text: str) -> Iterator[Entity]:
    pos = 0
    while (m := _PHONE.search(text, pos)) is not None:
        value, start = m.group(), m.start()
        if not _phone_ok(text, start, value):
            # too many digits may be two numbers side by side: the longest valid prefix that ends
            # where a separator starts, so the rest is matched on its own
            cuts = [c.start() for c in re.finditer(r"[\s./-]+", value)]
            value = next((value[:c] for c in reversed(cuts) if _phone_ok(text, start, value[:c])), "")
        if value:
            yield Entity(start, start + len(value), "PHONE", 0.75, value)
            pos = start + len(value)
        else:
            pos = m.end()


def _addresses(text: str) -> Iterator[Entity]:
    for pattern in (_EN_ADDRESS, _DE_ADDRESS, _FR_ADDRESS, _FR_STREET_NO_NUMBER):
        for m in pattern.finditer(text):
            value = m.group().rstrip(" ,\n")
            yield Entity(m.start(), m.start() + len(value), "STREET_ADDRESS", 0.8, value)


def _persons(text: str) -> Iterator[Entity]:
    for m in _DEGREE.finditer(text):  # "Lorenz Tlustek B.Eng.": the degree belongs to the name
        yield Entity(m.start(), m.end(), "PERSON", 0.75, m.group())
    for m in _BEFORE_PERSON_VERB.finditer(text):  # "Anna Beck, born on ...", "Max Roth wohnt ..."
        words = m.group(1).split()
        while words and (_TITLES.fullmatch(words[0].rstrip(".")) or words[0] in _NOT_NAMES):
            words.pop(0)  # "Herr", "Mme": the title is not the name
        if len(words) >= 2 and not COMPANY_WORDS.intersection(words):
            value = " ".join(words)
            yield Entity(m.end(1) - len(value), m.end(1), "PERSON", 0.7, value)
    for m in _PERSON_CUE.finditer(text):
        words = m.group(2).split()
        while words and words[0] in _NOT_NAMES:
            words.pop(0)
        while words and words[-1] in _NOT_NAMES:
            words.pop()
        titled = bool(m.group("title")) or _TITLES.match(m.group(0)) is not None
        if not words or (len(words) < 2 and not titled) or COMPANY_WORDS.intersection(words):
            continue  # one word after "by" or "Dear" may be a company; after "Mr." it is a surname
        value = " ".join(words)
        start = text.find(value, m.start(2))
        if start >= 0 and not COMPANY_SUFFIX.match(text[start + len(value) :]):
            yield Entity(start, start + len(value), "PERSON", 0.7, value)
            # a list after the cue: "Attendees: Ann Lee, Bob Roy and Cy Tan"
            pos = start + len(value)
            while (more := _LIST_NEXT.match(text, pos)) is not None:
                name = more.group(1)
                if COMPANY_WORDS.intersection(name.split()) or COMPANY_SUFFIX.match(text[more.end() :]):
                    break
                yield Entity(more.start(1), more.end(1), "PERSON", 0.65, name)
                pos = more.end()


DETECTORS: dict[str, Detector] = {
    "EMAIL": _emails,
    "URL": _urls,
    "CREDIT_CARD": _cards,
    "IBAN": _ibans,
    "US_SSN": _ssns,
    "IP_ADDRESS": _ips,
    "API_KEY": _api_keys,
    "DATE_OF_BIRTH": _dates_of_birth,
    "PHONE": _phones,
    "STREET_ADDRESS": _addresses,
    "PERSON": _persons,
}


def resolve(found: list[Entity]) -> list[Entity]:
    """Non-overlapping entities, in text order: of two that overlap, the higher-priority type wins, then
    the longer span."""
    ranked = sorted(found, key=lambda e: (PRIORITY.get(e.type, 99), -(e.end - e.start), e.start))
    chosen: list[Entity] = []
    for entity in ranked:
        if all(entity.end <= c.start or entity.start >= c.end for c in chosen):
            chosen.append(entity)
    return sorted(chosen, key=lambda e: e.start)


def _run(text: str, types: frozenset[str] | None) -> list[Entity]:
    found: list[Entity] = []
    for name, detector in DETECTORS.items():
        if types is None or name in types:
            found.extend(detector(text))
    return found


def detect(text: str, types: frozenset[str] | None = None, extra: list[Entity] | None = None) -> list[Entity]:
    """Every entity of ``types`` (all by default) in ``text``, overlaps resolved; ``extra`` (e.g. an NER
    model's) take part in the resolution.

    A candidate that lost an overlap may have hidden a shorter entity beside the winner ("0000000
    001-01-0001": a too-long phone number, then an SSN): the text between the chosen entities is
    searched again, as it would be once they are replaced, so that scrubbing is idempotent."""
    chosen = resolve(list(extra or ()) + _run(text, types))
    while True:  # each pass adds an entity or stops: ends within the text's length
        more: list[Entity] = []
        last = 0
        for entity in [*chosen, Entity(len(text), len(text), "", 0.0, "")]:
            if entity.start - last >= 7:  # the shortest entity worth a second look (a phone number)
                segment = text[last : entity.start]
                more += [
                    attrs.evolve(e, start=e.start + last, end=e.end + last) for e in _run(segment, types)
                ]
            last = entity.end
        if not more:
            break
        merged = resolve(chosen + more)
        if merged == chosen:
            break
        chosen = merged
    if types is None or "PERSON" in types:
        chosen = resolve(chosen + _coordinated(text, chosen))
    return chosen


def add_names(
    text: str, found: list[Entity], names: list[Entity], types: frozenset[str] | None = None
) -> list[Entity]:
    """``found`` (what :func:`detect` gave for ``text`` and ``types``) with the NER model's ``names``.

    Names that touch nothing found and stand apart from the words beside them change nothing that
    the rules see, so they join without another search (on 5,275 texts of the benchmark's seven
    template sets, the same result as ``detect(text, extra=names)`` every time, 35 times faster); any
    other case is searched again."""
    touching = any(n.start < e.end and e.start < n.end for n in names for e in found)
    glued = any(
        (n.start > 0 and text[n.start - 1].isalnum()) or (n.end < len(text) and text[n.end].isalnum())
        for n in names
    )
    if touching or glued:
        return detect(text, types, names)
    chosen = sorted(found + names, key=lambda e: e.start)
    return resolve(chosen + _coordinated(text, chosen))


def _coordinated(text: str, chosen: list[Entity]) -> list[Entity]:
    """Names coordinated with a name found ("Tracy Woods and Debbie Trujillo", "Ann Lee, Bob Roy"): two
    or more capitalised words, not a company, not overlapping anything found."""
    found: list[Entity] = []
    names = [e for e in chosen if e.type == "PERSON"]
    while names:
        entity = names.pop()
        candidates = []
        if (after := _LIST_NEXT.match(text, entity.end)) is not None:
            candidates.append((after.start(1), after.end(1)))
        if (before := _LIST_BEFORE.search(text, max(0, entity.start - 80), entity.start)) is not None:
            candidates.append((before.start(1), before.end(1)))
        for start, end in candidates:
            words = text[start:end].split()
            if (
                words[0] in _NOT_NAMES
                or COMPANY_WORDS.intersection(words)
                or COMPANY_SUFFIX.match(text[end:])
            ):
                continue
            if all(end <= e.start or start >= e.end for e in chosen + found):
                new = Entity(start, end, "PERSON", 0.6, text[start:end])
                found.append(new)
                names.append(new)  # a list: "Ann Lee, Bob Roy and Cy Tan"
    return found
