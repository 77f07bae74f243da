import pytest

from gateway.kernel import acl
from gateway.kernel.errors import EnlaceError

GRANTS = {
    ("MX/GOB/SEP/becas", "MX/GOB/RENAPO/curp/consulta-curp/v1"): acl.Grant(
        "MX/GOB/SEP/becas",
        "MX/GOB/RENAPO/curp/consulta-curp/v1",
        frozenset({"becas-inscripcion", "becas-renovacion"}),
        frozenset({"LGE-art-8"}),
    )
}
SERVICE = "MX/GOB/RENAPO/curp/consulta-curp/v1"


def test_granted_exchange_is_allowed():
    grant = acl.decide(GRANTS, "MX/GOB/SEP/becas", SERVICE, "becas-renovacion", "LGE-art-8")
    assert grant.client == "MX/GOB/SEP/becas"


@pytest.mark.parametrize(
    ("client", "service", "purpose", "basis", "code"),
    [
        ("MX/GOB/SRE/pasaportes", SERVICE, "becas-inscripcion", "LGE-art-8", "Client.AccessDenied"),
        (
            "MX/GOB/SEP/becas",
            SERVICE + "x",
            "becas-inscripcion",
            "LGE-art-8",
            "Client.AccessDenied",
        ),
        ("MX/GOB/SEP/becas", SERVICE, "mercadotecnia", "LGE-art-8", "Client.PurposeNotGranted"),
        ("MX/GOB/SEP/becas", SERVICE, "BECAS-INSCRIPCION", "LGE-art-8", "Client.PurposeNotGranted"),
        (
            "MX/GOB/SEP/becas",
            SERVICE,
            "becas-inscripcion",
            "LGE-art-9",
            "Client.LegalBasisNotGranted",
        ),
    ],
)
def test_everything_else_is_denied(client, service, purpose, basis, code):
    with pytest.raises(EnlaceError) as caught:
        acl.decide(GRANTS, client, service, purpose, basis)
    assert caught.value.code == code
    assert caught.value.status == 403


def test_codes_are_strict():
    assert acl.check_code("purpose", "LGE-art-8") == "LGE-art-8"
    for bad in ["", "-x", "a b", "ñ", "x" * 129, "a/b"]:
        with pytest.raises(EnlaceError):
            acl.check_code("purpose", bad)
