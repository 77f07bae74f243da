"""Deterministic synthetic population: the people behind the fake RENAPO and Registro Civil.

``generate(n, seed)`` streams ``Person`` records in birth-date order from a seeded
``random.Random``, with no data files: the name, surname and municipality lists below are
modest, embedded, and invented combinations of common words, so no record describes a real
person (a generated CURP can still coincide with a real one by chance; treat them as test data).

What makes the stream useful for testing the gateway:

* families: a child's parents were emitted earlier in the stream, mother ``M``, father ``H``,
  18–45 years older; the child carries the father's first surname and the mother's first
  surname (or both of the mother's when there is no registered father);
* RENAPO quirks: homonyms get a different homoclave (position 17) and status ``AH``; some names
  hit the inconvenient-word rule; a few people are non-binary (``X``), born abroad (``NE``),
  foreign nationals, without a second surname, or deregistered (``BD`` and other bajas);
* every CURP is unique and passes ``gateway.kernel.curp.validate``.

Memory is bounded: uniqueness only has to be tracked for the current birth date (the date is
part of the CURP and the stream never goes back in time), and the pools of potential parents
keep a capped sample per birth year. The population depends on ``n`` as well as ``seed``:
``generate(1000)`` is not a prefix of ``generate(2000)``.
"""

from __future__ import annotations

import bisect
import random
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar

from gateway.kernel.curp import INCONVENIENT_WORDS, STATES, build_curp, name_initials
from trusted_sources import dataset
from trusted_sources.records import AS_OF, DocumentoProbatorio, Municipio, Person

__all__ = ["MUNICIPIOS", "generate", "seeded_dataset", "seeded_options", "synthetic"]

_FIRST_YEAR = 1925

# A handful of municipalities per entity, with their INEGI codes (Marco Geoestadístico).
_MUNICIPIO_ROWS: dict[str, str] = {
    "AS": "001 Aguascalientes|002 Asientos|003 Calvillo|005 Jesús María"
    "|011 San Francisco de los Romo",
    "BC": "001 Ensenada|002 Mexicali|003 Tecate|004 Tijuana|005 Playas de Rosarito",
    "BS": "001 Comondú|002 Mulegé|003 La Paz|008 Los Cabos|009 Loreto",
    "CC": "001 Calkiní|002 Campeche|003 Carmen|004 Champotón|009 Escárcega",
    "CL": "002 Acuña|018 Monclova|025 Piedras Negras|030 Saltillo|035 Torreón",
    "CM": "002 Colima|007 Manzanillo|009 Tecomán|010 Villa de Álvarez",
    "CS": "019 Comitán de Domínguez|065 Palenque|078 San Cristóbal de las Casas"
    "|089 Tapachula|101 Tuxtla Gutiérrez",
    "CH": "017 Cuauhtémoc|019 Chihuahua|021 Delicias|032 Hidalgo del Parral|037 Juárez",
    "DF": "003 Coyoacán|005 Gustavo A. Madero|007 Iztapalapa|010 Álvaro Obregón|012 Tlalpan"
    "|015 Cuauhtémoc",
    "DG": "005 Durango|007 Gómez Palacio|012 Lerdo|032 Santiago Papasquiaro",
    "GT": "003 San Miguel de Allende|007 Celaya|015 Guanajuato|017 Irapuato|020 León|027 Salamanca",
    "GR": "001 Acapulco de Juárez|029 Chilpancingo de los Bravo|035 Iguala de la Independencia"
    "|038 Zihuatanejo de Azueta|055 Taxco de Alarcón",
    "HG": "030 Ixmiquilpan|048 Pachuca de Soto|051 Mineral de la Reforma|076 Tula de Allende"
    "|077 Tulancingo de Bravo",
    "JC": "039 Guadalajara|067 Puerto Vallarta|097 Tlajomulco de Zúñiga"
    "|098 San Pedro Tlaquepaque|101 Tonalá|120 Zapopan",
    "MC": "033 Ecatepec de Morelos|057 Naucalpan de Juárez|058 Nezahualcóyotl"
    "|104 Tlalnepantla de Baz|106 Toluca|121 Cuautitlán Izcalli",
    "MN": "006 Apatzingán|052 Lázaro Cárdenas|053 Morelia|102 Uruapan|108 Zamora",
    "MS": "006 Cuautla|007 Cuernavaca|011 Jiutepec|018 Temixco",
    "NT": "004 Compostela|015 Santiago Ixcuintla|017 Tepic|020 Bahía de Banderas",
    "NL": "006 Apodaca|019 San Pedro Garza García|021 General Escobedo|026 Guadalupe"
    "|039 Monterrey|046 San Nicolás de los Garza",
    "OC": "043 Juchitán de Zaragoza|067 Oaxaca de Juárez|079 Salina Cruz"
    "|184 San Juan Bautista Tuxtepec|385 Santa Cruz Xoxocotlán",
    "PL": "019 Atlixco|114 Puebla|132 San Martín Texmelucan|140 San Pedro Cholula|156 Tehuacán",
    "QT": "006 Corregidora|011 El Marqués|014 Querétaro|016 San Juan del Río",
    "QR": "001 Cozumel|004 Othón P. Blanco|005 Benito Juárez|008 Solidaridad",
    "SP": "013 Ciudad Valles|020 Matehuala|028 San Luis Potosí|035 Soledad de Graciano Sánchez",
    "SL": "001 Ahome|006 Culiacán|011 Guasave|012 Mazatlán|018 Navolato",
    "SR": "018 Cajeme|029 Guaymas|030 Hermosillo|042 Navojoa|043 Nogales|055 San Luis Río Colorado",
    "TC": "002 Cárdenas|004 Centro|005 Comalcalco|008 Huimanguillo|012 Macuspana",
    "TS": "022 Matamoros|027 Nuevo Laredo|032 Reynosa|038 Tampico|041 Victoria",
    "TL": "005 Apizaco|010 Chiautempan|013 Huamantla|033 Tlaxcala",
    "VZ": "039 Coatzacoalcos|044 Córdoba|087 Xalapa|118 Orizaba|131 Poza Rica de Hidalgo"
    "|193 Veracruz",
    "YN": "041 Kanasín|050 Mérida|059 Progreso|096 Tizimín|102 Valladolid",
    "ZS": "010 Fresnillo|017 Guadalupe|020 Jerez|056 Zacatecas",
}

#: CURP entity code → a few of its municipalities (no entry for ``NE``).
MUNICIPIOS: dict[str, tuple[Municipio, ...]] = {
    state: tuple(Municipio(*item.split(" ", 1)) for item in rows.split("|"))
    for state, rows in _MUNICIPIO_ROWS.items()
}

# Rough share of births per entity (people per state, in tens of thousands, rounded).
_STATE_WEIGHTS = {
    "AS": 14, "BC": 38, "BS": 8, "CC": 9, "CL": 31, "CM": 7, "CS": 55, "CH": 37, "DF": 92,
    "DG": 18, "GT": 62, "GR": 35, "HG": 31, "JC": 83, "MC": 170, "MN": 47, "MS": 20, "NT": 12,
    "NL": 58, "OC": 41, "PL": 66, "QT": 24, "QR": 19, "SP": 28, "SL": 30, "SR": 29, "TC": 24,
    "TS": 35, "TL": 13, "VZ": 81, "YN": 23, "ZS": 16,
}  # fmt: skip

# Frequency-ordered (most common first); weights fall off with rank. Accents and Ñ are kept
# as written on an acta so that build_curp's normalisation is exercised.
_SURNAMES = (
    "HERNÁNDEZ", "GARCÍA", "MARTÍNEZ", "LÓPEZ", "GONZÁLEZ", "PÉREZ", "RODRÍGUEZ", "SÁNCHEZ",
    "RAMÍREZ", "CRUZ", "FLORES", "GÓMEZ", "MORALES", "VÁZQUEZ", "JIMÉNEZ", "REYES", "DÍAZ",
    "TORRES", "GUTIÉRREZ", "RUIZ", "MENDOZA", "AGUILAR", "ORTIZ", "MORENO", "CASTILLO", "ROMERO",
    "ÁLVAREZ", "MÉNDEZ", "CHÁVEZ", "RIVERA", "JUÁREZ", "RAMOS", "DOMÍNGUEZ", "HERRERA", "MEDINA",
    "CASTRO", "VARGAS", "GUZMÁN", "VELÁZQUEZ", "MUÑOZ", "ROJAS", "CONTRERAS", "SALAZAR", "LUNA",
    "ORTEGA", "SANTIAGO", "GUERRERO", "ESTRADA", "BAUTISTA", "CORTÉS", "SOTO", "ALVARADO",
    "ESPINOZA", "LARA", "ÁVILA", "RÍOS", "CERVANTES", "SILVA", "DELGADO", "VEGA", "MÁRQUEZ",
    "SANDOVAL", "FERNÁNDEZ", "LEÓN", "CARRILLO", "MEJÍA", "SOLÍS", "NÚÑEZ", "ROSAS", "VALDEZ",
    "IBARRA", "CAMPOS", "SANTOS", "CAMACHO", "NAVARRO", "PEÑA", "MALDONADO", "ROSALES", "ACOSTA",
    "MIRANDA", "TREJO", "CABRERA", "VALENCIA", "NAVA", "ROBLES", "FUENTES", "ZAMORA", "MOLINA",
    "SERRANO", "OROZCO", "ESCOBAR", "PACHECO", "ZÚÑIGA", "BRAVO", "TAPIA", "OCHOA", "BECERRA",
    "BUENDÍA", "YÁÑEZ", "IBÁÑEZ", "DE LA CRUZ", "DE LOS SANTOS", "DEL ÁNGEL", "DE LEÓN",
    "DE LA ROSA", "MC GREGOR",
)  # fmt: skip

_MALE_NAMES = (
    "JOSÉ", "JUAN", "LUIS", "CARLOS", "JORGE", "MIGUEL", "FRANCISCO", "ALEJANDRO", "JESÚS",
    "ANTONIO", "PEDRO", "MANUEL", "RICARDO", "FERNANDO", "JAVIER", "RAÚL", "ROBERTO", "DAVID",
    "DANIEL", "EDUARDO", "SERGIO", "ARTURO", "MARIO", "ENRIQUE", "VÍCTOR", "ÓSCAR", "RAFAEL",
    "ALBERTO", "HÉCTOR", "GERARDO", "ANDRÉS", "DIEGO", "ÁNGEL", "EMILIANO", "SANTIAGO", "MATEO",
    "SEBASTIÁN", "LEONARDO", "GAEL", "IKER", "OMAR", "IVÁN", "HUGO", "ARMANDO", "GUILLERMO",
    "RUBÉN", "JULIO", "ERNESTO", "SALVADOR", "RAMÓN", "ÍÑIGO", "OCTAVIO", "NOÉ", "ABRAHAM",
    "ISMAEL", "BRUNO", "TOMÁS", "PATRICIO", "YAHIR", "ULISES", "URIEL", "ELÍAS", "AARÓN",
    "JOSÉ LUIS", "JUAN CARLOS", "MIGUEL ÁNGEL", "JOSÉ ANTONIO", "J. JESÚS",
)  # fmt: skip

_FEMALE_NAMES = (
    "MARÍA", "GUADALUPE", "ANA", "ROSA", "JUANA", "PATRICIA", "ELIZABETH", "VERÓNICA", "LAURA",
    "ALEJANDRA", "GABRIELA", "ADRIANA", "LETICIA", "MARTHA", "SOFÍA", "XIMENA", "VALENTINA",
    "REGINA", "CAMILA", "FERNANDA", "DANIELA", "ANDREA", "MARIANA", "LUCÍA", "ISABEL", "CLAUDIA",
    "SILVIA", "TERESA", "CARMEN", "YOLANDA", "NORMA", "BEATRIZ", "ALICIA", "IRMA", "OLGA",
    "ESTHER", "GLORIA", "ANGÉLICA", "MÓNICA", "KARLA", "BRENDA", "ITZEL", "ABIGAIL", "RENATA",
    "PAULINA", "NOEMÍ", "MIREYA", "ESMERALDA", "ALMA", "EDITH", "MAGDALENA", "BEGOÑA", "NAYELI",
    "NATALIA", "ZOE", "ROCÍO", "INÉS", "AMÉRICA", "MARÍA GUADALUPE", "MARÍA FERNANDA",
    "MARÍA JOSÉ", "MARÍA DE LOS ÁNGELES", "MARÍA DEL CARMEN", "MA. ELENA", "ANA SOFÍA",
)  # fmt: skip

# People born abroad with a non-Hispanic nationality get these and a single surname.
_FOREIGN_SURNAMES = (
    "SMITH", "JOHNSON", "MILLER", "MÜLLER", "SCHMIDT", "ROSSI", "KIM", "NGUYEN", "DUBOIS", "WONG",
    "O'BRIEN", "VAN DER BERG", "MAC DONALD",
)  # fmt: skip
_FOREIGN_MALE_NAMES = ("JOHN", "MICHAEL", "DAVID", "LUCAS", "PIERRE", "WEI")
_FOREIGN_FEMALE_NAMES = ("EMILY", "SARAH", "ANNA", "SOPHIE", "YUKI", "CHLOÉ")
_HISPANIC_NATIONALITIES = ("GTM", "HND", "SLV", "COL", "VEN", "CUB", "ESP", "ARG")
_OTHER_NATIONALITIES = ("USA", "CAN", "CHN", "KOR", "FRA", "DEU", "ITA", "BRA")

# Founders with these names hit the inconvenient-word rule (PEDO, BUEY, CACA, …).
_INCONVENIENT_FOUNDERS = (
    ("PÉREZ", "DOMÍNGUEZ", "OCTAVIO", "H"),
    ("BUENDÍA", "ESTRADA", "YOLANDA", "M"),
    ("CASTRO", "CASTILLO", "ANA", "M"),
    ("LÓPEZ", "CORTÉS", "OSCAR", "H"),
    ("MARTÍNEZ", "MÁRQUEZ", "OMAR", "H"),
    ("VALDEZ", "CASTRO", "ALMA", "M"),
    ("RAMÍREZ", "TAPIA", "ANDREA", "M"),
    ("MUÑOZ", "LARA", "ALICIA", "M"),
    ("CORTÉS", "JIMÉNEZ", "OLGA", "M"),
    ("ROMERO", "BRAVO", "OMAR", "H"),
)

_DIGITS_AND_LETTERS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_HOMOCLAVE_1900S = "0123456789"
_HOMOCLAVE_2000S = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# Shares, chosen so that a 5,000-person sample contains every case.
_P_NON_BINARY = 0.004
_P_BORN_ABROAD = 0.025
_P_ABROAD_MEXICAN = 0.55  # of those born abroad
_P_NO_MOTHER = 0.03
_P_NO_FATHER = 0.07
_P_KEEP_PARTNER = 0.85
_P_FOUNDER_NO_SECOND_SURNAME = 0.03
_P_FOUNDER_INCONVENIENT = 0.01
_P_CHILD_INCONVENIENT = 0.1  # when the surnames allow it
_P_COMPOUND_NAME = 0.25
_P_OTHER_STATE_REGISTRATION = 0.08
_POOL_CAP = 400  # potential parents kept per birth year and sex
_MIN_GAP, _MAX_GAP = 19, 44  # parent birth year is child year minus this (whole years)


@lru_cache(maxsize=1024)
def _ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in plain if c.isascii() and c.isalnum())


class _Weighted:
    """Fast weighted choice: bisect on cumulative weights with one random() call."""

    __slots__ = ("items", "cumulative", "total")

    def __init__(self, items: Sequence[str], weights: Sequence[float]) -> None:
        self.items = tuple(items)
        self.cumulative: list[float] = []
        total = 0.0
        for w in weights:
            total += w
            self.cumulative.append(total)
        self.total = total

    def pick(self, rng: random.Random) -> str:
        i = bisect.bisect_right(self.cumulative, rng.random() * self.total)
        return self.items[min(i, len(self.items) - 1)]  # guard against float round-up


def _zipf(items: Sequence[str], exponent: float = 0.9) -> _Weighted:
    return _Weighted(items, [1 / (rank**exponent) for rank in range(1, len(items) + 1)])


_SURNAME_PICKER = _zipf(_SURNAMES)
_MALE_PICKER = _zipf(_MALE_NAMES, 0.7)
_FEMALE_PICKER = _zipf(_FEMALE_NAMES, 0.7)
_STATE_PICKER = _Weighted(list(_STATE_WEIGHTS), list(_STATE_WEIGHTS.values()))


def _names_completing(names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """For each 3-letter CURP prefix, the single given names that make it inconvenient."""
    by_initial: dict[str, list[str]] = {}
    for name in names:
        if " " not in name:
            by_initial.setdefault(name_initials("A", "A", name)[3], []).append(name)
    result: dict[str, tuple[str, ...]] = {}
    for word in sorted(INCONVENIENT_WORDS):
        if word[3] in by_initial:
            result[word[:3]] = result.get(word[:3], ()) + tuple(by_initial[word[3]])
    return result


_INCONVENIENT_MALE = _names_completing(_MALE_NAMES)
_INCONVENIENT_FEMALE = _names_completing(_FEMALE_NAMES)


def _year_cdf(years: Sequence[int]) -> list[float]:
    # Births per year rise to 1980 and stay flat: very old people mostly died before CURPs
    # existed (1996) and so are under-represented in RENAPO.
    weights = [0.25 + 0.75 * min(1.0, (y - _FIRST_YEAR) / 55) for y in years]
    total = sum(weights)
    cdf, acc = [], 0.0
    for w in weights:
        acc += w
        cdf.append(acc / total)
    return cdf


_YEARS = list(range(_FIRST_YEAR, AS_OF.year))
_YEAR_CDF = _year_cdf(_YEARS)
_YEAR_START = [0.0, *_YEAR_CDF[:-1]]
_YEAR_DAYS = [(date(y + 1, 1, 1) - date(y, 1, 1)).days for y in _YEARS]


def _date_at(u: float) -> date:
    """Inverse CDF of the birth-date distribution; monotone in u."""
    i = min(bisect.bisect_right(_YEAR_CDF, u), len(_YEARS) - 1)
    fraction = (u - _YEAR_START[i]) / (_YEAR_CDF[i] - _YEAR_START[i])
    days = _YEAR_DAYS[i]
    return date(_YEARS[i], 1, 1) + timedelta(days=min(int(fraction * days), days - 1))


@dataclass(slots=True)
class _Mother:
    curp: str
    primer_apellido: str
    segundo_apellido: str | None
    state: str
    partner: _Father | None = None


@dataclass(frozen=True, slots=True)
class _Father:
    curp: str
    primer_apellido: str
    year: int


_Entry = TypeVar("_Entry")


class _Pool(Generic[_Entry]):
    """Potential parents of one sex by birth year: a capped random sample of each year."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._by_year: dict[int, list[_Entry]] = {}
        self._seen: dict[int, int] = {}

    def add(self, year: int, entry: _Entry) -> None:
        # Reservoir sampling keeps later-born people eligible once a year's sample is full.
        sample = self._by_year.setdefault(year, [])
        seen = self._seen.get(year, 0) + 1
        self._seen[year] = seen
        if len(sample) < _POOL_CAP:
            sample.append(entry)
        else:
            slot = self._rng.randrange(seen)
            if slot < _POOL_CAP:
                sample[slot] = entry

    def forget_before(self, year: int) -> None:
        for old in [y for y in self._by_year if y < year]:
            del self._by_year[old]
            del self._seen[old]

    def pick(self, child_year: int, mode_gap: float) -> _Entry | None:
        rng = self._rng
        for _ in range(3):
            gap = round(rng.triangular(_MIN_GAP, _MAX_GAP, mode_gap))
            sample = self._by_year.get(child_year - gap)
            if sample:
                return sample[rng.randrange(len(sample))]
        return None


class _Generator:
    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.rng = random.Random(seed)
        self.mothers: _Pool[_Mother] = _Pool(self.rng)
        self.fathers: _Pool[_Father] = _Pool(self.rng)
        self.day: date | None = None
        self.used_today: dict[str, int] = {}
        self.pruned_year = _FIRST_YEAR

    def run(self) -> Iterator[Person]:
        rng = self.rng
        u = 0.0
        for index in range(self.n):
            # Ascending uniform order statistics, one at a time (Rényi's representation).
            u = 1.0 - (1.0 - u) * rng.random() ** (1.0 / (self.n - index))
            born = _date_at(u)
            if born != self.day:
                self.day = born
                self.used_today.clear()
                if born.year - _MAX_GAP > self.pruned_year:
                    self.pruned_year = born.year - _MAX_GAP
                    self.mothers.forget_before(self.pruned_year)
                    self.fathers.forget_before(self.pruned_year)
            person = self._person(index, born)
            year = born.year
            if person.sexo == "M":
                self.mothers.add(
                    year,
                    _Mother(
                        person.curp,
                        person.primer_apellido,
                        person.segundo_apellido,
                        person.entidad_nacimiento,
                    ),
                )
            elif person.sexo == "H":
                self.fathers.add(year, _Father(person.curp, person.primer_apellido, year))
            yield person

    def _given_name(self, sexo: str) -> str:
        rng = self.rng
        if sexo == "X":
            sexo = "H" if rng.random() < 0.5 else "M"
        picker = _MALE_PICKER if sexo == "H" else _FEMALE_PICKER
        first = picker.pick(rng)
        if " " not in first and rng.random() < _P_COMPOUND_NAME:
            second = picker.pick(rng)
            if second != first and " " not in second:
                return f"{first} {second}"
        return first

    def _person(self, index: int, born: date) -> Person:
        rng = self.rng
        sexo, abroad, nacionalidad = self._sex_and_nationality()
        madre: _Mother | None = None
        padre: _Father | None = None
        if nacionalidad == "MEX":
            madre, padre = self._parents(born.year)
        nombres = self._given_name(sexo)
        primer, segundo, nombres, sexo = self._family_names(
            sexo, nombres, nacionalidad, madre, padre
        )
        if (madre is not None or padre is not None) and rng.random() < _P_CHILD_INCONVENIENT:
            nombres = self._inconvenient_name(primer, segundo, sexo) or nombres
        entidad, municipio = self._birthplace(abroad, madre)

        while (built := self._unique_curp(primer, segundo, nombres, born, sexo, entidad)) is None:
            # Every homoclave is taken for this name and day (only at very large n): rename.
            nombres = self._given_name(sexo)
        curp, homonym = built
        documento = self._documento(born, entidad, municipio, nacionalidad)
        raw = name_initials(primer, segundo, nombres)
        # The RFC replaces the *last* letter of an inconvenient word (domain.md A.2).
        rfc_letters = raw[:3] + "X" if raw in INCONVENIENT_WORDS else raw
        rfc_homoclave = "".join(rng.choice(_DIGITS_AND_LETTERS) for _ in range(3))
        email_name = _ascii_slug(nombres.split()[0]) + "." + _ascii_slug(primer)
        return Person(
            curp=curp,
            nombres=nombres,
            primer_apellido=primer,
            segundo_apellido=segundo,
            sexo=sexo,
            fecha_nacimiento=born,
            entidad_nacimiento=entidad,
            municipio_nacimiento=municipio,
            nacionalidad=nacionalidad,
            estatus_curp=self._status(born, homonym),
            documento_probatorio=documento,
            madre_curp=madre.curp if madre else None,
            padre_curp=padre.curp if padre else None,
            rfc=f"{rfc_letters}{born:%y%m%d}{rfc_homoclave}",
            email=f"{email_name}.{index:x}@example.mx",
        )

    def _sex_and_nationality(self) -> tuple[str, bool, str]:
        """Sex, born abroad or not, and nationality: a foreigner only if born abroad."""
        rng = self.rng
        r = rng.random()
        sexo = "X" if r < _P_NON_BINARY else "H" if r < (1 + _P_NON_BINARY) / 2 else "M"
        abroad = rng.random() < _P_BORN_ABROAD
        nacionalidad = "MEX"
        if abroad and rng.random() >= _P_ABROAD_MEXICAN:
            nacionalidad = rng.choice(_HISPANIC_NATIONALITIES + _OTHER_NATIONALITIES)
        return sexo, abroad, nacionalidad

    def _family_names(
        self,
        sexo: str,
        nombres: str,
        nacionalidad: str,
        madre: _Mother | None,
        padre: _Father | None,
    ) -> tuple[str, str | None, str, str]:
        """Surnames from the parents (father's first, then mother's), else new ones; a foreigner
        gets a foreign name and one surname. Returns surnames, given names and sex, which an
        inconvenient founder changes."""
        rng = self.rng
        if nacionalidad in _OTHER_NATIONALITIES:
            surname = rng.choice(_FOREIGN_SURNAMES)
            female = sexo == "M" or (sexo == "X" and rng.random() < 0.5)
            foreign = rng.choice(_FOREIGN_FEMALE_NAMES if female else _FOREIGN_MALE_NAMES)
            return surname, None, foreign, sexo
        if madre is not None and padre is not None:
            return padre.primer_apellido, madre.primer_apellido, nombres, sexo
        if madre is not None:
            return madre.primer_apellido, madre.segundo_apellido, nombres, sexo
        if padre is not None:
            return padre.primer_apellido, _SURNAME_PICKER.pick(rng), nombres, sexo
        return self._founder_names(sexo, nombres)

    def _founder_names(self, sexo: str, nombres: str) -> tuple[str, str | None, str, str]:
        """Someone without parents in the registry: new surnames, sometimes an inconvenient
        word on purpose (so the data set exercises the rule)."""
        rng = self.rng
        primer = _SURNAME_PICKER.pick(rng)
        segundo = None if rng.random() < _P_FOUNDER_NO_SECOND_SURNAME else _SURNAME_PICKER.pick(rng)
        if rng.random() < _P_FOUNDER_INCONVENIENT:
            primer, segundo, nombres, forced_sex = rng.choice(_INCONVENIENT_FOUNDERS)
            sexo = sexo if sexo == "X" else forced_sex
        return primer, segundo, nombres, sexo

    def _birthplace(self, abroad: bool, madre: _Mother | None) -> tuple[str, Municipio | None]:
        """State and municipality of birth: mostly the mother's state; ``NE`` abroad."""
        rng = self.rng
        if abroad:
            return "NE", None
        if madre is not None and rng.random() < 0.7:
            entidad = madre.state if madre.state != "NE" else _STATE_PICKER.pick(rng)
        else:
            entidad = _STATE_PICKER.pick(rng)
        return entidad, rng.choice(MUNICIPIOS[entidad])

    def _parents(self, year: int) -> tuple[_Mother | None, _Father | None]:
        rng = self.rng
        madre = self.mothers.pick(year, 26) if rng.random() >= _P_NO_MOTHER else None
        if rng.random() < _P_NO_FATHER:
            return madre, None
        # Siblings usually share a father: a mother keeps her partner while he is of age.
        if madre is not None:
            partner = madre.partner
            if (
                partner is not None
                and year - _MAX_GAP <= partner.year <= year - _MIN_GAP
                and rng.random() < _P_KEEP_PARTNER
            ):
                return madre, partner
        padre = self.fathers.pick(year, 29)
        if madre is not None and padre is not None:
            madre.partner = padre
        return madre, padre

    def _inconvenient_name(self, primer: str, segundo: str | None, sexo: str) -> str | None:
        prefix = name_initials(primer, segundo, "A")[:3]
        table = _INCONVENIENT_FEMALE if sexo == "M" else _INCONVENIENT_MALE
        names = table.get(prefix)
        return self.rng.choice(names) if names else None

    def _unique_curp(
        self,
        primer: str,
        segundo: str | None,
        nombres: str,
        born: date,
        sexo: str,
        entidad: str,
    ) -> tuple[str, bool] | None:
        """The CURP and whether it is a homonym, or None when the homoclaves are exhausted.

        Like RENAPO, a person whose first 16 characters are already taken gets the next
        homoclave; only the current birth date needs tracking, as the date is in those 16.
        """
        alphabet = _HOMOCLAVE_1900S if born.year < 2000 else _HOMOCLAVE_2000S
        curp = build_curp(primer, segundo, nombres, born, sexo, entidad, alphabet[0])
        taken = self.used_today.get(curp[:16], 0)
        if taken >= len(alphabet):
            return None
        self.used_today[curp[:16]] = taken + 1
        if taken:
            curp = build_curp(primer, segundo, nombres, born, sexo, entidad, alphabet[taken])
        return curp, taken > 0

    def _status(self, born: date, homonym: bool) -> str:
        rng = self.rng
        age = AS_OF.year - born.year
        if rng.random() < 0.002 + max(0, age - 50) / 50 * 0.6:
            return "BD"
        r = rng.random()
        for status, share in _OTHER_STATUS_SHARES:
            if r < share:
                return status
            r -= share
        return "AH" if homonym else "AN"

    def _documento(
        self, born: date, entidad: str, municipio: Municipio | None, nacionalidad: str
    ) -> DocumentoProbatorio:
        rng = self.rng
        last_year = AS_OF.year - 1
        if entidad == "NE":
            if nacionalidad != "MEX":
                tipo = rng.choice((3, 3, 3, 3, 5, 8))
                year = rng.randint(min(born.year + 1, last_year), last_year)
                return DocumentoProbatorio(
                    tipo, year, num_reg_extranjeros=f"{rng.randrange(10**8):08d}"
                )
            tipo = rng.choice((1, 1, 1, 4, 7))
            if tipo == 4:
                year = rng.randint(min(born.year + 18, last_year), last_year)
                return DocumentoProbatorio(4, year, folio_carta=f"{rng.randrange(10**6):06d}")
            if tipo == 7:
                year = rng.randint(min(born.year + 1, last_year), last_year)
                return DocumentoProbatorio(7, year)
            # Actas of Mexicans born abroad are inserted in a state's civil registry.
            reg_state = _STATE_PICKER.pick(rng)
            reg_municipio = rng.choice(MUNICIPIOS[reg_state])
        elif rng.random() < _P_OTHER_STATE_REGISTRATION:
            reg_state = _STATE_PICKER.pick(rng)
            reg_municipio = rng.choice(MUNICIPIOS[reg_state])
        else:
            reg_state = entidad
            assert municipio is not None
            reg_municipio = municipio if rng.random() < 0.9 else rng.choice(MUNICIPIOS[entidad])
        r = rng.random()
        delay = 0 if r < 0.7 else 1 if r < 0.85 else rng.randint(2, 15)
        year = min(born.year + delay, last_year)
        inegi = STATES[reg_state].inegi
        assert inegi is not None
        old = year < 1990  # older books also cite tomo and foja
        return DocumentoProbatorio(
            tipo=1,
            anio_registro=year,
            entidad_registro=inegi,
            municipio_registro=reg_municipio,
            num_acta=f"{rng.randint(1, 9999):05d}",
            libro=f"{rng.randint(1, 12):04d}",
            tomo=str(rng.randint(1, 30)) if old else None,
            foja=str(rng.randint(1, 400)) if old else None,
            # The CRIP exists on actas since 1982; only its first two digits (entity) have a
            # documented meaning, the rest is random here.
            crip=f"{inegi}{rng.randrange(10**13):013d}" if year >= 1982 else None,
        )


# Shares of the statuses other than AN/AH/BD, tried in this order.
_OTHER_STATUS_SHARES = (
    ("RCN", 0.03),
    ("RCC", 0.005),
    ("CRA", 0.003),
    ("BSU", 0.002),
    ("BDA", 0.002),
    ("BCC", 0.002),
    ("BCN", 0.001),
    ("BDM", 0.001),
    ("BAP", 0.0005),
    ("BDP", 0.0005),
    ("BJD", 0.0005),
)


def generate(n: int, seed: int = 0) -> Iterator[Person]:
    """Stream ``n`` synthetic people in birth-date order; equal (n, seed) give equal people."""
    if n < 0:
        raise ValueError("n must not be negative")
    return _Generator(n, seed).run()


@lru_cache(maxsize=4)
def synthetic(citizens: int, seed: int = 0) -> dataset.MemoryPopulation:
    """``generate(citizens, seed)`` in memory, shared by every caller that asks for it."""
    return dataset.MemoryPopulation(dataset.records(generate(citizens, seed=seed)))


def seeded_dataset(folder: Path, citizens: int, seed: int = 0) -> Path:
    """The dataset file of ``generate(citizens, seed)`` under ``folder``, written the first time."""
    path = folder / f"population-{citizens}-{seed}.sqlite"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"seed": str(seed), "as_of": AS_OF.isoformat()}
        dataset.write(path, generate(citizens, seed=seed), meta=meta)
    return path.resolve()


def seeded_options(options: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Adapter options with a synthetic population (``citizens``, ``seed``) replaced by the
    dataset file seeded from it, since the adapters themselves only read datasets."""
    if "citizens" not in options or options.get("dataset"):
        return options
    rest = {k: v for k, v in options.items() if k not in ("citizens", "seed")}
    path = seeded_dataset(folder, int(options["citizens"]), int(options.get("seed", 0)))
    return {**rest, "dataset": str(path)}
