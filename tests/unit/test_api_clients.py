"""The client registry: the clients file, role defaults, sandbox clients."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapter_api.clients import (
    CITIZEN_FIELDS,
    ClientConfigError,
    Operation,
    Role,
    load_clients,
    make_client,
    sandbox_clients,
)


def test_sandbox_registers_the_three_parties(dev_keys: Path) -> None:
    """Sandbox mode registers province-app, ministry and integrator with their roles."""
    registry = sandbox_clients(dev_keys)
    roles = {client.client_id: client.role for client in registry}
    assert roles == {
        "province-app": Role.PROVINCE,
        "ministry": Role.MINISTRY,
        "integrator": Role.INTEGRATOR,
    }
    province = registry.get("province-app")
    assert province is not None
    assert province.certificate is not None
    assert province.may(Operation.CITIZENS_READ)
    assert province.sectors is None
    assert province.citizen_fields == frozenset(CITIZEN_FIELDS)


def test_ministry_defaults_deny_personal_data_and_limit_sectors(dev_keys: Path) -> None:
    """A ministry may read dossiers of its sectors only and may not look citizens up."""
    ministry = sandbox_clients(dev_keys).get("ministry")
    assert ministry is not None
    assert ministry.may(Operation.DOSSIERS_READ)
    assert not ministry.may(Operation.CITIZENS_READ)
    assert not ministry.may(Operation.DOSSIERS_WRITE)
    assert ministry.sees_sector("TP.HT")
    assert not ministry.sees_sector("YT.KCB")
    assert not ministry.sees_sector(None)


def test_integrator_may_verify_but_not_read_citizens(dev_keys: Path) -> None:
    """The integrator role can verify a citizen (yes/no) but gets no personal record."""
    integrator = sandbox_clients(dev_keys).get("integrator")
    assert integrator is not None
    assert integrator.may(Operation.CITIZENS_VERIFY)
    assert not integrator.may(Operation.CITIZENS_READ)


def test_toml_file_with_relative_certificate(dev_keys: Path) -> None:
    """A TOML clients file names certificates relative to itself and overrides defaults."""
    path = dev_keys / "clients.toml"
    path.write_text(
        '[[clients]]\nid = "province-app"\nrole = "province"\n'
        'certificate = "province-app/cert.pem"\n'
        'citizen_fields = ["citizen_id", "full_name"]\n'
        'organisation = "UBND tỉnh Hà Giang"\n',
        encoding="utf-8",
    )
    registry = load_clients(path)
    client = registry.get("province-app")
    assert client is not None
    assert client.citizen_fields == frozenset({"citizen_id", "full_name"})
    assert client.organisation == "UBND tỉnh Hà Giang"
    assert "ministry" not in registry


def test_json_file_with_public_key(dev_keys: Path, tmp_path: Path) -> None:
    """A JSON clients file may register a bare public key and an explicit allow-list."""
    from cryptography.hazmat.primitives import serialization

    from security.keys import load_certificate

    pem = (
        load_certificate(dev_keys / "integrator" / "cert.pem")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    path = tmp_path / "clients.json"
    entry = {
        "id": "integrator",
        "role": "integrator",
        "public_key_pem": pem,
        "operations": ["services.read"],
    }
    path.write_text(json.dumps({"clients": [entry]}))
    client = load_clients(path).get("integrator")
    assert client is not None
    assert client.public_key is not None
    assert client.operations == frozenset({Operation.SERVICES_READ})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"role": "province", "certificate": "x"}, "needs an 'id'"),
        ({"id": "a", "role": "king", "public_key_pem": "x"}, "unreadable public key"),
        ({"id": "a", "role": "king", "certificate": "province-app/cert.pem"}, "unknown role"),
        ({"id": "a", "role": "province"}, "certificate or a public key"),
        (
            {
                "id": "a",
                "role": "province",
                "certificate": "province-app/cert.pem",
                "operations": ["x"],
            },
            "unknown operation",
        ),
        (
            {
                "id": "a",
                "role": "province",
                "certificate": "province-app/cert.pem",
                "citizen_fields": ["salary"],
            },
            "unknown citizen fields",
        ),
    ],
)
def test_bad_entries_are_refused(dev_keys: Path, entry: dict[str, object], message: str) -> None:
    """A malformed client entry stops start-up with a message naming the problem."""
    path = dev_keys / "bad-clients.json"
    path.write_text(json.dumps([entry]))
    with pytest.raises(ClientConfigError, match=message):
        load_clients(path)


def test_duplicate_ids_are_refused(dev_keys: Path) -> None:
    """Two clients with one keyid would make authentication ambiguous: refused."""
    from security.keys import load_certificate

    cert = load_certificate(dev_keys / "ministry" / "cert.pem")
    from adapter_api.clients import ClientRegistry

    with pytest.raises(ClientConfigError, match="twice"):
        ClientRegistry(
            [
                make_client("m", "ministry", certificate=cert),
                make_client("m", "ministry", certificate=cert),
            ]
        )


def test_as_dict_has_no_key_material(dev_keys: Path) -> None:
    """The client's public view lists role, operations and sectors, not its certificate."""
    ministry = sandbox_clients(dev_keys).get("ministry")
    assert ministry is not None
    view = ministry.as_dict()
    assert view["role"] == "ministry"
    assert view["sectors"] == ["TP.CT", "TP.HT", "TP.LLTP"]
    assert "certificate" not in json.dumps(view)
