"""CURP (Clave Única de Registro de Población): validation, parsing and construction.

This module owns everything the gateway knows about the *shape* of a CURP: the 18-position
structure, the check digit, the birth-entity tables (CURP letters ↔ names ↔ INEGI numbers), the
inconvenient-word rule, and ``build_curp`` which derives the first 16 characters from a
person's data the way the RENAPO Instructivo does. It never says whether a CURP was *issued*;
only RENAPO knows that.

It is pure: no I/O, no clock. Sex ``X`` (no binario, issued since 2023) is valid, which is why the
gateway does not use ``python-stdnum`` (it rejects it). Error messages name the failing rule and
quote only the offending fragment, never the whole CURP, so they are safe to log.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from types import MappingProxyType
from typing import Literal

from gateway.kernel.errors import CodedError

__all__ = [
    "CURP_ALPHABET",
    "INCONVENIENT_WORDS",
    "STATES",
    "STATES_BY_INEGI",
    "Curp",
    "Failure",
    "InvalidCurp",
    "State",
    "build_curp",
    "check_digit",
    "explain",
    "name_initials",
    "validate",
]

Sex = Literal["H", "M", "X"]

# Value of each character in the check-digit sum is its index here ('Ñ' = 24).
CURP_ALPHABET = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"
_VALUE = {c: i for i, c in enumerate(CURP_ALPHABET)}

# Anexo 2 of the Instructivo Normativo as embedded in python-stdnum (domain.md A.2).
INCONVENIENT_WORDS: frozenset[str] = frozenset((
    "BACA", "BAKA", "BUEI", "BUEY", "CACA", "CACO", "CAGA", "CAGO", "CAKA", "CAKO", "COGE",
    "COGI", "COJA", "COJE", "COJI", "COJO", "COLA", "CULO", "FALO", "FETO", "GETA", "GUEI",
    "GUEY", "JETA", "JOTO", "KACA", "KACO", "KAGA", "KAGO", "KAKA", "KAKO", "KOGE", "KOGI",
    "KOJA", "KOJE", "KOJI", "KOJO", "KOLA", "KULO", "LILO", "LOCA", "LOCO", "LOKA", "LOKO",
    "MAME", "MAMO", "MEAR", "MEAS", "MEON", "MIAR", "MION", "MOCO", "MOKO", "MULA", "MULO",
    "NACA", "NACO", "PEDA", "PEDO", "PENE", "PIPI", "PITO", "POPO", "PUTA", "PUTO", "QULO",
    "RATA", "ROBA", "ROBE", "ROBO", "RUIN", "SENO", "TETA", "VACA", "VAGA", "VAGO", "VAKA",
    "VUEI", "VUEY", "WUEI", "WUEY",
))  # fmt: skip


@dataclass(frozen=True, slots=True)
class State:
    """A birth entity: CURP two-letter code, name and INEGI number (None for born abroad)."""

    code: str
    name: str
    inegi: str | None


_STATE_ROWS = (
    ("AS", "Aguascalientes", "01"),
    ("BC", "Baja California", "02"),
    ("BS", "Baja California Sur", "03"),
    ("CC", "Campeche", "04"),
    ("CL", "Coahuila", "05"),
    ("CM", "Colima", "06"),
    ("CS", "Chiapas", "07"),
    ("CH", "Chihuahua", "08"),
    ("DF", "Ciudad de México", "09"),  # the CURP code is still DF
    ("DG", "Durango", "10"),
    ("GT", "Guanajuato", "11"),
    ("GR", "Guerrero", "12"),
    ("HG", "Hidalgo", "13"),
    ("JC", "Jalisco", "14"),
    ("MC", "Estado de México", "15"),
    ("MN", "Michoacán", "16"),
    ("MS", "Morelos", "17"),
    ("NT", "Nayarit", "18"),
    ("NL", "Nuevo León", "19"),
    ("OC", "Oaxaca", "20"),
    ("PL", "Puebla", "21"),
    ("QT", "Querétaro", "22"),
    ("QR", "Quintana Roo", "23"),
    ("SP", "San Luis Potosí", "24"),
    ("SL", "Sinaloa", "25"),
    ("SR", "Sonora", "26"),
    ("TC", "Tabasco", "27"),
    ("TS", "Tamaulipas", "28"),
    ("TL", "Tlaxcala", "29"),
    ("VZ", "Veracruz", "30"),
    ("YN", "Yucatán", "31"),
    ("ZS", "Zacatecas", "32"),
    ("NE", "Nacido en el extranjero", None),
)

#: CURP birth-entity code → State, the 32 states plus ``NE`` (born abroad).
STATES: MappingProxyType[str, State] = MappingProxyType(
    {code: State(code, name, inegi) for code, name, inegi in _STATE_ROWS}
)
#: INEGI two-digit entity number ("01".."32") → State.
STATES_BY_INEGI: MappingProxyType[str, State] = MappingProxyType(
    {s.inegi: s for s in STATES.values() if s.inegi is not None}
)

_VOWELS = frozenset("AEIOU")
_CONSONANTS = frozenset("BCDFGHJKLMNPQRSTVWXYZ")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_HOMOCLAVE = _LETTERS | _DIGITS

_PARTICLES = frozenset(
    {"DA", "DAS", "DE", "DEL", "DER", "DI", "DIE", "DD", "EL", "LA", "LOS", "LAS", "LE", "LES",
     "MAC", "MC", "VAN", "VON", "Y"}
)  # fmt: skip
_SKIPPED_GIVEN_NAMES = frozenset({"MARIA", "MA.", "MA", "JOSE", "J.", "J"})


@dataclass(frozen=True, slots=True)
class Curp:
    """A CURP that passed every structural rule, split into its parts."""

    value: str
    initials: str
    birth_date: date
    sex: Sex
    state: str
    born_abroad: bool
    consonants: str
    homoclave: str
    check_digit: str

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed rule: a stable code (``curp.*``) and a human explanation."""

    code: str
    message: str


class InvalidCurp(CodedError, ValueError):
    """A CURP breaks a structural rule; ``code`` names the first rule that fails."""


def check_digit(first17: str) -> str:
    """The check digit (position 18) for the first 17 characters of a CURP."""
    if len(first17) != 17:
        raise ValueError(f"the check digit is computed over 17 characters, got {len(first17)}")
    try:
        total = sum(_VALUE[c] * (18 - i) for i, c in enumerate(first17))
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} is not in the CURP alphabet") from None
    return str((10 - total % 10) % 10)


def _century(homoclave: str) -> int:
    # Instructivo: the homoclave is a digit for births up to 1999 and a letter from 2000.
    return 1900 if homoclave in _DIGITS else 2000


def _birth_date(value: str) -> date | None:
    digits = value[4:10]
    if not (digits.isascii() and digits.isdigit()):
        return None
    try:
        return date(_century(value[16]) + int(digits[:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError:
        return None


# Each rule looks only at its own positions of an 18-character string, so explain() can run
# them all; validate() stops at the first.
def _rule_initials(value: str) -> Failure | None:
    if (
        value[0] in _LETTERS
        and (value[1] in _VOWELS or value[1] == "X")
        and value[2] in _LETTERS
        and value[3] in _LETTERS
    ):
        return None
    return Failure(
        "curp.initials",
        f"positions 1–4 must be a letter, a vowel or X, then two letters; got {value[:4]!r}",
    )


def _rule_inconvenient_word(value: str) -> Failure | None:
    word = value[:4]
    if word not in INCONVENIENT_WORDS:
        return None
    return Failure(
        "curp.inconvenient_word",
        f"positions 1–4 form the inconvenient word {word!r}; RENAPO issues it with X in "
        f"position 2 ({word[0] + 'X' + word[2:]!r})",
    )


def _rule_birth_date(value: str) -> Failure | None:
    if _birth_date(value) is not None:
        return None
    return Failure(
        "curp.birth_date",
        f"positions 5–10 must be a real date YYMMDD; {value[4:10]!r} is not "
        f"(century {_century(value[16])}s, from the homoclave)",
    )


def _rule_sex(value: str) -> Failure | None:
    if value[10] in ("H", "M", "X"):
        return None
    return Failure("curp.sex", f"position 11 (sex) must be H, M or X; got {value[10]!r}")


def _rule_state(value: str) -> Failure | None:
    if value[11:13] in STATES:
        return None
    return Failure(
        "curp.state",
        f"positions 12–13 must be a birth-entity code (e.g. DF, JC, NE); got {value[11:13]!r}",
    )


def _rule_consonants(value: str) -> Failure | None:
    if all(c in _CONSONANTS for c in value[13:16]):
        return None
    return Failure(
        "curp.consonants",
        f"positions 14–16 must be consonants (X when there is none); got {value[13:16]!r}",
    )


def _rule_homoclave(value: str) -> Failure | None:
    if value[16] in _HOMOCLAVE:
        return None
    return Failure(
        "curp.homoclave", f"position 17 (homoclave) must be 0–9 or A–Z; got {value[16]!r}"
    )


def _rule_check_digit(value: str) -> Failure | None:
    if any(c not in _VALUE for c in value[:17]):
        return None  # not computable; the charset rule already reports why
    expected = check_digit(value[:17])
    if value[17] == expected:
        return None
    return Failure(
        "curp.check_digit",
        f"check digit (position 18) is {value[17]!r} but the expected value is {expected!r}",
    )


_POSITIONAL_RULES = (
    _rule_initials,
    _rule_inconvenient_word,
    _rule_birth_date,
    _rule_sex,
    _rule_state,
    _rule_consonants,
    _rule_homoclave,
    _rule_check_digit,
)


def _normalise(curp: str) -> str:
    if not isinstance(curp, str):
        raise TypeError(f"a CURP must be a str, not {type(curp).__name__}")
    return curp.strip().upper()


def _shape_failures(value: str) -> list[Failure]:
    failures = []
    if len(value) != 18:
        failures.append(Failure("curp.length", f"a CURP has 18 characters, got {len(value)}"))
    bad = next(((i, c) for i, c in enumerate(value, 1) if c not in _VALUE), None)
    if bad is not None:
        failures.append(
            Failure(
                "curp.charset",
                f"character {bad[1]!r} at position {bad[0]} is not allowed (only A–Z, Ñ and 0–9)",
            )
        )
    return failures


def explain(curp: str) -> list[Failure]:
    """Every rule the CURP breaks, in rule order; empty when it is valid."""
    value = _normalise(curp)
    failures = _shape_failures(value)
    if len(value) != 18:
        return failures  # positional rules mean nothing on a string of the wrong length
    failures.extend(f for rule in _POSITIONAL_RULES if (f := rule(value)) is not None)
    return failures


@lru_cache(maxsize=4096)  # every exchange names one; a ``Curp`` is frozen, errors not kept
def validate(curp: str) -> Curp:
    """Parse a CURP, raising ``InvalidCurp`` for the first rule it breaks.

    Only surrounding whitespace is removed and letters are upper-cased; internal spaces or
    dashes are an error, not something to repair.
    """
    value = _normalise(curp)
    shape = _shape_failures(value)
    if shape:
        raise InvalidCurp(shape[0].code, shape[0].message)
    for rule in _POSITIONAL_RULES:
        failure = rule(value)
        if failure is not None:
            raise InvalidCurp(failure.code, failure.message)
    birth_date = _birth_date(value)
    assert birth_date is not None  # the birth-date rule passed
    sex: Sex = "H" if value[10] == "H" else "M" if value[10] == "M" else "X"
    return Curp(
        value=value,
        initials=value[:4],
        birth_date=birth_date,
        sex=sex,
        state=value[11:13],
        born_abroad=value[11:13] == "NE",
        consonants=value[13:16],
        homoclave=value[16],
        check_digit=value[17],
    )


# --- construction ---------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")


def _words(text: str) -> list[str]:
    # Ñ→X must happen before NFD, which would otherwise split Ñ into N + tilde.
    upper = text.upper().replace("Ñ", "X")
    stripped = "".join(
        c for c in unicodedata.normalize("NFD", upper) if unicodedata.category(c) != "Mn"
    )
    return [w for w in _SPACES.split(stripped) if w]


def _significant(words: list[str]) -> list[str]:
    kept = [w for w in words if w not in _PARTICLES]
    return kept or words  # a name made only of particles keeps them


def _letters(word: str) -> str:
    # Instructivo: special characters (/ - . ' …) are written as X.
    return "".join(c if c in _LETTERS else "X" for c in word)


def _first_internal(word: str, allowed: frozenset[str]) -> str:
    return next((c for c in word[1:] if c in allowed), "X")


@lru_cache(maxsize=4096)
def _surname_key(surname: str) -> tuple[str, str, str] | None:
    """(initial, first internal vowel, first internal consonant), None when blank."""
    words = _words(surname)
    if not words:
        return None
    word = _letters(_significant(words)[0])
    return word[0], _first_internal(word, _VOWELS), _first_internal(word, _CONSONANTS)


@lru_cache(maxsize=4096)
def _given_name_key(names: str) -> tuple[str, str] | None:
    """(initial, first internal consonant) of the given name that counts, None when blank."""
    words = _significant(_words(names))
    if not words:
        return None
    # MARÍA / JOSÉ (and abbreviations) only count when they are the sole given name.
    word = words[1] if len(words) > 1 and words[0] in _SKIPPED_GIVEN_NAMES else words[0]
    word = _letters(word)
    return word[0], _first_internal(word, _CONSONANTS)


def _keys(
    primer_apellido: str, segundo_apellido: str | None, nombres: str
) -> tuple[tuple[str, str, str], tuple[str, str, str] | None, tuple[str, str]]:
    first = _surname_key(primer_apellido)
    if first is None:
        raise ValueError("primer_apellido is empty")
    given = _given_name_key(nombres)
    if given is None:
        raise ValueError("nombres is empty")
    second = _surname_key(segundo_apellido) if segundo_apellido is not None else None
    return first, second, given


def _raw_initials(
    first: tuple[str, str, str], second: tuple[str, str, str] | None, given: tuple[str, str]
) -> str:
    return first[0] + first[1] + (second[0] if second else "X") + given[0]


def name_initials(primer_apellido: str, segundo_apellido: str | None, nombres: str) -> str:
    """Positions 1–4 as derived from the names, *before* the inconvenient-word rule.

    A blank ``segundo_apellido`` counts as missing (X).
    """
    return _raw_initials(*_keys(primer_apellido, segundo_apellido, nombres))


def build_curp(
    primer_apellido: str,
    segundo_apellido: str | None,
    nombres: str,
    fecha_nacimiento: date,
    sexo: str,
    entidad: str,
    homoclave: str,
) -> str:
    """Construct a CURP from a person's data (Instructivo rules summarised in domain.md A.1/A.2).

    ``homoclave`` is RENAPO's differentiator: a digit for births before 2000, a letter from
    2000 on. Raises ``ValueError`` for data that cannot make a valid CURP.
    """
    first, second, given = _keys(primer_apellido, segundo_apellido, nombres)
    if sexo not in ("H", "M", "X"):
        raise ValueError(f"sexo must be H, M or X, got {sexo!r}")
    if entidad not in STATES:
        raise ValueError(f"unknown birth entity {entidad!r}")
    if not 1900 <= fecha_nacimiento.year <= 2099:
        raise ValueError("a CURP can only encode birth years 1900–2099")
    if len(homoclave) != 1 or homoclave not in _HOMOCLAVE:
        raise ValueError(f"homoclave must be one character 0–9 or A–Z, got {homoclave!r}")
    if _century(homoclave) != fecha_nacimiento.year // 100 * 100:
        raise ValueError("homoclave must be a digit before 2000 and a letter from 2000 on")
    initials = _raw_initials(first, second, given)
    if initials in INCONVENIENT_WORDS:
        initials = initials[0] + "X" + initials[2:]
    first17 = (
        f"{initials}{fecha_nacimiento:%y%m%d}{sexo}{entidad}"
        f"{first[2]}{second[2] if second else 'X'}{given[1]}{homoclave}"
    )
    return first17 + check_digit(first17)


#: RENAPO ``statusCurp`` codes (domain.md A.6); the first five are active, the rest bajas.
STATUS_DESCRIPTIONS: dict[str, str] = {
    "AN": "Alta normal",
    "AH": "Alta con homonimia",
    "CRA": "CURP reactivada",
    "RCN": "Registro de cambio no afectando a CURP",
    "RCC": "Registro de cambio afectando a CURP",
    "BAP": "Baja por documento apócrifo",
    "BSU": "Baja sin uso",
    "BD": "Baja por defunción",
    "BDA": "Baja por duplicidad",
    "BCC": "Baja por cambio en CURP",
    "BCN": "Baja no afectando a CURP",
    "BDM": "Baja administrativa",
    "BDP": "Baja por adopción",
    "BJD": "Baja judicial",
}
_ACTIVE = frozenset({"AN", "AH", "CRA", "RCN", "RCC"})


def is_active(status: str) -> bool:
    """True for the alta / registro-de-cambio statuses, False for every baja."""
    if status not in STATUS_DESCRIPTIONS:
        raise ValueError(f"unknown CURP status {status!r}")
    return status in _ACTIVE


@lru_cache(maxsize=4096)  # state and municipality names, on every RENAPO answer
def catalogue_text(text: str) -> str:
    """Capitals without accents, Ñ kept: how RENAPO spells catalogue names and compares names."""
    # RENAPO payloads spell catalogue names in capitals without accents ("NUEVO LEON").
    upper = text.upper().replace("Ñ", "\0")
    plain = "".join(
        c for c in unicodedata.normalize("NFD", upper) if unicodedata.category(c) != "Mn"
    )
    return plain.replace("\0", "Ñ")


def name_key(text: str) -> str:
    """A name as lookups compare it: capitals, no accents (Ñ kept), single spaces."""
    return " ".join(catalogue_text(text).split())
