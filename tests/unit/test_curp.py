"""CURP validation, parsing and construction (gateway/kernel/curp.py) against domain.md §A."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.kernel.curp import (
    CURP_ALPHABET,
    INCONVENIENT_WORDS,
    STATES,
    STATES_BY_INEGI,
    InvalidCurp,
    build_curp,
    check_digit,
    explain,
    name_initials,
    validate,
)

# domain.md A.5: (person data for build_curp, expected CURP). Invented people, test data only.
VECTORS = [
    (("RUIZ", "TAPIA", "Ana Sofía", date(2003, 7, 15), "M", "OC", "A"), "RUTA030715MOCZPNA2"),
    (("MENDOZA", "CRUZ", "Alex", date(2001, 3, 9), "X", "JC", "B"), "MECA010309XJCNRLB8"),
    (("PÉREZ", "DOMÍNGUEZ", "Octavio", date(1995, 12, 1), "H", "PL", "0"), "PXDO951201HPLRMC09"),
    (("PEÑA", "ORTEGA", "Luis Ernesto", date(1988, 11, 2), "H", "NL", "0"), "PEOL881102HNLXRS00"),
    (("SMITH", None, "Carlos", date(1979, 5, 20), "H", "NE", "0"), "SIXC790520HNEMXR07"),
]
VALID = "RUTA030715MOCZPNA2"


def with_check(first17: str) -> str:
    return first17 + check_digit(first17)


@pytest.mark.parametrize(("person", "curp"), VECTORS, ids=[c for _, c in VECTORS])
def test_verified_vectors_validate_and_build(person: tuple, curp: str) -> None:
    assert build_curp(*person) == curp
    parsed = validate(curp)
    assert parsed.value == curp
    assert parsed.birth_date == person[3]
    assert parsed.sex == person[4]
    assert parsed.state == person[5]
    assert parsed.homoclave == person[6]
    assert parsed.check_digit == curp[17]


def test_parsed_parts() -> None:
    parsed = validate("SIXC790520HNEMXR07")
    assert parsed.initials == "SIXC"
    assert parsed.born_abroad is True
    assert parsed.consonants == "MXR"
    assert str(parsed) == "SIXC790520HNEMXR07"
    assert validate(VALID).born_abroad is False


def test_check_digit_worked_example() -> None:
    # A.5 worked example: weighted sum 2628 → (10 − 8) mod 10 = 2.
    assert check_digit("RUTA030715MOCZPNA") == "2"
    # Equivalent form: the weighted sum of all 18 characters is ≡ 0 (mod 10).
    assert sum(CURP_ALPHABET.index(c) * (18 - i) for i, c in enumerate(VALID)) % 10 == 0


@pytest.mark.parametrize("bad", ["RUTA030715MOCZPN", "RUTA030715MOCZPNA2", "RUTA030715MOC-PNA"])
def test_check_digit_rejects_bad_input(bad: str) -> None:
    with pytest.raises(ValueError):
        check_digit(bad)


def test_normalises_case_and_surrounding_whitespace_only() -> None:
    assert validate("  ruta030715moczpna2\n").value == VALID
    with pytest.raises(InvalidCurp) as exc:
        validate("RUTA030715 MOCZPNA2")  # internal space: 19 characters
    assert exc.value.code == "curp.length"
    with pytest.raises(InvalidCurp) as exc:
        validate("RUTA030715 OCZPNA2")
    assert exc.value.code == "curp.charset"


@pytest.mark.parametrize(
    ("curp", "code"),
    [
        ("RUTA030715MOCZPNA", "curp.length"),
        ("", "curp.length"),
        ("RUTA-30715MOCZPNA2", "curp.charset"),
        ("RUTA03071ÉMOCZPNA2", "curp.charset"),
        (with_check("RBTA030715MOCZPNA"), "curp.initials"),  # position 2 must be a vowel or X
        (with_check("R1TA030715MOCZPNA"), "curp.initials"),
        (with_check("PEDO951201HPLRMC0"), "curp.inconvenient_word"),
        (with_check("RUTA990230MOCZPN0"), "curp.birth_date"),  # 30 February 1999
        (with_check("RUTA031315MOCZPNA"), "curp.birth_date"),  # month 13
        (with_check("RUTA0307A5MOCZPNA"), "curp.birth_date"),
        (with_check("RUTA030715QOCZPNA"), "curp.sex"),
        (with_check("RUTA030715MZZZPNA"), "curp.state"),
        (with_check("RUTA030715MOCAPNA"), "curp.consonants"),
        (with_check("RUTA030715MOCZPNÑ"), "curp.homoclave"),
        ("RUTA030715MOCZPNA3", "curp.check_digit"),
        ("RUTA030715MOCZPNAX", "curp.check_digit"),
    ],
)
def test_each_rule_has_a_stable_code(curp: str, code: str) -> None:
    with pytest.raises(InvalidCurp) as exc:
        validate(curp)
    assert exc.value.code == code
    assert exc.value.message == str(exc.value)
    assert [f.code for f in explain(curp)][0] == code


def test_check_digit_message_says_expected_and_given() -> None:
    with pytest.raises(InvalidCurp) as exc:
        validate("RUTA030715MOCZPNA3")
    assert "'3'" in exc.value.message and "'2'" in exc.value.message


def test_messages_do_not_echo_the_whole_curp() -> None:
    for failure in explain("PEDO951201QZZAEI0A"):
        assert "PEDO951201QZZAEI0A" not in failure.message


def test_century_comes_from_the_homoclave() -> None:
    # 29 February exists in 2000 (homoclave letter) but not in 1900 (homoclave digit).
    assert validate(with_check("RUTA000229MOCZPNA")).birth_date == date(2000, 2, 29)
    with pytest.raises(InvalidCurp) as exc:
        validate(with_check("RUTA000229MOCZPN0"))
    assert exc.value.code == "curp.birth_date"


def test_first_failing_rule_wins() -> None:
    with pytest.raises(InvalidCurp) as exc:
        validate(with_check("RUTA030715QZZZPNA"))  # sex and state both wrong
    assert exc.value.code == "curp.sex"


def test_explain_lists_every_failure_in_rule_order() -> None:
    assert explain(VALID) == []
    codes = [f.code for f in explain("PEDO991331QZZAEIÑ5")]
    assert codes == [
        "curp.inconvenient_word",
        "curp.birth_date",
        "curp.sex",
        "curp.state",
        "curp.consonants",
        "curp.homoclave",
        "curp.check_digit",
    ]
    # A character outside the alphabet makes the check digit uncomputable, not wrong.
    assert [f.code for f in explain("RUTA-30715MOCZPNA2")] == ["curp.charset", "curp.birth_date"]
    # Positional rules are meaningless on the wrong length.
    assert [f.code for f in explain("RUTA-3")] == ["curp.length", "curp.charset"]


def test_state_tables() -> None:
    assert len(STATES) == 33
    assert STATES["NE"].inegi is None
    assert STATES["DF"].inegi == "09"
    assert len(STATES_BY_INEGI) == 32
    # Pairs seen in public RENAPO payloads (domain.md A.3).
    assert STATES_BY_INEGI["24"].code == "SP"
    assert STATES_BY_INEGI["30"].code == "VZ"
    assert STATES_BY_INEGI["28"].code == "TS"
    assert sorted(STATES_BY_INEGI) == [f"{i:02d}" for i in range(1, 33)]
    with pytest.raises(TypeError):
        STATES["XX"] = STATES["NE"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("names", "initials"),
    [
        (("DE LA CRUZ", "DEL ÁNGEL", "José"), "CUAJ"),  # particles dropped; JOSÉ alone counts
        (("GARCÍA", "LÓPEZ", "María Guadalupe"), "GALG"),  # MARÍA skipped before a second name
        (("GARCÍA", "LÓPEZ", "Ma. Elena"), "GALE"),
        (("GARCÍA", "LÓPEZ", "J. Antonio"), "GALA"),
        (("GARCÍA", "LÓPEZ", "María de los Ángeles"), "GALA"),
        (("ÑÚÑEZ", "MUÑOZ", "Íñigo"), "XUMI"),  # Ñ → X, accents stripped
        (("O'BRIEN", None, "Sarah"), "OIXS"),  # apostrophe becomes X; no second surname → X
        (("NG", "  ", "Wei"), "NXXW"),  # no internal vowel → X; blank second surname → X
        (("VAN DER BERG", "Y", "Anna"), "BEYA"),  # a surname made only of particles keeps them
        (("BUENDÍA", "ESTRADA", "Yolanda"), "BUEY"),
    ],
)
def test_name_rules(names: tuple[str, str | None, str], initials: str) -> None:
    assert name_initials(*names) == initials


def test_internal_consonants_and_special_characters() -> None:
    curp = build_curp("O'BRIEN", None, "Sarah", date(1990, 1, 1), "M", "NE", "0")
    assert curp[13:16] == "XXR"  # O'BRIEN → OXBRIEN: first internal consonant is the X
    assert build_curp("PEÑA", "ORTEGA", "Luis", date(1988, 11, 2), "H", "NL", "0")[13] == "X"


def test_inconvenient_word_gets_x_in_position_two() -> None:
    curp = build_curp("BUENDÍA", "ESTRADA", "Yolanda", date(1970, 1, 1), "M", "DF", "0")
    assert curp[:4] == "BXEY"
    validate(curp)


@pytest.mark.parametrize(
    "args",
    [
        ("", "LÓPEZ", "ANA", date(1990, 1, 1), "M", "DF", "0"),
        ("GARCÍA", "LÓPEZ", " ", date(1990, 1, 1), "M", "DF", "0"),
        ("GARCÍA", "LÓPEZ", "ANA", date(1990, 1, 1), "F", "DF", "0"),
        ("GARCÍA", "LÓPEZ", "ANA", date(1990, 1, 1), "M", "XX", "0"),
        ("GARCÍA", "LÓPEZ", "ANA", date(1990, 1, 1), "M", "DF", "A"),  # letter before 2000
        ("GARCÍA", "LÓPEZ", "ANA", date(2005, 1, 1), "M", "DF", "0"),  # digit from 2000
        ("GARCÍA", "LÓPEZ", "ANA", date(1990, 1, 1), "M", "DF", "00"),
        ("GARCÍA", "LÓPEZ", "ANA", date(1899, 12, 31), "M", "DF", "0"),
    ],
)
def test_build_curp_rejects_data_that_cannot_make_a_curp(args: tuple) -> None:
    with pytest.raises(ValueError):
        build_curp(*args)


# --- properties ------------------------------------------------------------------------------

_NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZÁÉÍÓÚÜÑáéíóúñü '.-/"
_NAME_WORDS = ["DE", "LA", "DEL", "Y", "VAN", "MC", "MARÍA", "JOSÉ", "MA.", "J.", "PÉREZ", "ÑUÑO"]
names = st.one_of(
    st.text(alphabet=_NAME_CHARS, min_size=1, max_size=24),
    st.lists(st.sampled_from(_NAME_WORDS), min_size=1, max_size=4).map(" ".join),
).filter(str.strip)


@st.composite
def people(draw: st.DrawFn) -> tuple:
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)))
    homoclave = draw(
        st.sampled_from("0123456789" if born.year < 2000 else "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    )
    return (
        draw(names),
        draw(st.none() | names),
        draw(names),
        born,
        draw(st.sampled_from("HMX")),
        draw(st.sampled_from(sorted(STATES))),
        homoclave,
    )


@given(people())
def test_built_curps_always_validate(person: tuple) -> None:
    curp = build_curp(*person)
    parsed = validate(curp)
    assert parsed.birth_date == person[3]
    assert parsed.sex == person[4]
    assert parsed.state == person[5]
    assert parsed.homoclave == person[6]
    assert curp[:4] not in INCONVENIENT_WORDS


@given(people(), st.integers(min_value=0, max_value=17), st.sampled_from(CURP_ALPHABET))
def test_one_character_change_is_rejected_unless_the_check_digit_is_blind(
    person: tuple, position: int, replacement: str
) -> None:
    curp = build_curp(*person)
    if replacement == curp[position]:
        return
    mutated = curp[:position] + replacement + curp[position + 1 :]
    # The mod-10 check digit misses a change whose weighted difference is a multiple of 10:
    # any change at position 9 (weight 10), even differences at weights 5 and 15, differences
    # of 5 at even weights. Everything else must be caught by some rule.
    delta = CURP_ALPHABET.index(replacement) - CURP_ALPHABET.index(curp[position])
    blind = position < 17 and (18 - position) * delta % 10 == 0
    if not blind:
        with pytest.raises(InvalidCurp):
            validate(mutated)


def test_check_digit_blind_spot_is_real() -> None:
    # Day 15 → 25 changes position 9 (weight 10): a different CURP that still validates.
    # Callers must not treat "passes validate()" as "is the CURP the person typed".
    assert validate("RUTA030725MOCZPNA2").birth_date == date(2003, 7, 25)
