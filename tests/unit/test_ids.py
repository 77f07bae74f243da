import pytest

from gateway.kernel.ids import ClientId, InvalidIdentifier, MemberId, ServiceId, parse_target


def test_round_trips():
    assert str(MemberId.parse("MX/GOB/RENAPO")) == "MX/GOB/RENAPO"
    client = ClientId.parse("MX/GOB/SEP/becas")
    assert (client.member.code, client.subsystem) == ("SEP", "becas")
    service = ServiceId.parse("MX/GOB/RENAPO/curp/consulta-curp/v1")
    assert (service.code, service.version, str(service.provider)) == (
        "consulta-curp",
        "v1",
        "MX/GOB/RENAPO/curp",
    )
    assert (
        str(ServiceId.parse("MX/GOB/RENAPO/curp/consulta-curp"))
        == "MX/GOB/RENAPO/curp/consulta-curp"
    )


@pytest.mark.parametrize(
    "text",
    [
        "MX/GOB",
        "MX/GOB/SEP/becas",  # a client where a member is expected
        "MX//SEP",
        "MX/GOB/S EP",
        "MX/GOB/..",
        "MX/GOB/-SEP",
        "MX/GOB/SEP%2F",
        "MX/GOB/SÉP",
        "MX/GOB/" + "A" * 65,
    ],
)
def test_bad_member_ids(text):
    with pytest.raises(InvalidIdentifier) as caught:
        MemberId.parse(text)
    assert caught.value.code == "Client.InvalidIdentifier"


@pytest.mark.parametrize(
    "text",
    ["MX/GOB/SEP", "MX/GOB/SEP/becas/x/y/z", "MX/GOB/SEP/becas/svc/1.0", "MX/GOB/SEP/becas/svc/v"],
)
def test_bad_service_ids(text):
    with pytest.raises(InvalidIdentifier):
        ServiceId.parse(text)


def test_target_split_version_and_subpath():
    target = parse_target("MX/GOB/RENAPO/curp/consulta-curp/v1/extra/path")
    assert str(target.service) == "MX/GOB/RENAPO/curp/consulta-curp/v1"
    assert target.subpath == "extra/path"
    unversioned = parse_target("MX/GOB/RENAPO/curp/consulta-curp/extra")
    assert unversioned.service.version is None and unversioned.subpath == "extra"
    with pytest.raises(InvalidIdentifier):
        parse_target("MX/GOB/RENAPO/curp/consulta-curp/v1/..")
    with pytest.raises(InvalidIdentifier):
        parse_target("MX/GOB/RENAPO")


def test_slugs_cannot_collide():
    with pytest.raises(InvalidIdentifier):
        MemberId.parse("MX/GOB/A__B")
    assert MemberId.parse("MX/GOB/A_B").slug != MemberId.parse("MX/GOB_A/B").slug


def test_metaservice_paths_are_told_from_service_paths():
    from gateway.kernel.ids import MetaTarget, parse_meta_target

    assert parse_meta_target("MX/listClients") == MetaTarget("listClients", "MX")
    listed = parse_meta_target("MX/GOB/RENAPO/curp/listMethods")
    assert listed is not None and listed.service == "MX/GOB/RENAPO/curp/listMethods"
    assert listed.provider == ClientId.parse("MX/GOB/RENAPO/curp")
    assert parse_meta_target("MX/GOB/RENAPO/curp/consulta-curp") is None
    assert parse_meta_target("MX/GOB/RENAPO/curp/listMethods/v1") is None
    with pytest.raises(InvalidIdentifier, match="reserved"):
        parse_target("MX/GOB/RENAPO/curp/listMethods/v1")
    with pytest.raises(InvalidIdentifier):
        parse_meta_target("M%58/listClients")
