"""A broken catalog is refused with the file, the exact line and the key of the mistake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsr.catalog.loader import json_schema, load_catalog
from dsr.cli import main
from dsr.errors import CatalogError

BASE = """\
dsr_catalog: 1
controller: {name: Shop GmbH, address: "Weg 1, 04109 Leipzig", email: info@shop.example}
dpo: {name: Data protection officer, email: dpo@shop.example}
supervisory_authority: {name: Saxon Data Protection Commissioner}
categories:
  contact: Contact data
  usage: Usage data
purposes:
  service:
    title: Running the shop
    legal_basis: "6(1)(b)"
  security:
    title: Keeping the shop secure
    legal_basis: "6(1)(f)"
    legitimate_interest: Detecting attacks on accounts
retention:
  login_records:
    period: 7 days
    anchor: {column: ts}
    action: delete
    legal_reference: Art. 5(1)(e) GDPR
tables:
  accounts:
    title: Customer accounts
    primary_key: id
    purpose: service
    parties:
      holder:
        title: Account holder
        identities: {email: email}
    fields:
      email: {party: holder, category: contact, format: email}
      nickname: {party: holder, category: contact}
  logins:
    title: Sign-ins
    primary_key: id
    purpose: security
    retention: login_records
    links:
      account: {column: account_id, table: accounts}
    parties:
      holder:
        title: Account holder
        via: {link: account, party: holder}
    fields:
      ts: {party: holder, category: usage}
      ip: {party: holder, category: usage, format: ip}
"""


def write(directory: Path, text: str, name: str = "catalog.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, line: str) -> int:
    """The 1-based number of the one line of ``text`` that equals ``line``."""
    numbers = [i for i, ln in enumerate(text.splitlines(), 1) if ln == line]
    assert len(numbers) == 1, f"{line!r} occurs {len(numbers)} times"
    return numbers[0]


def refused(path: Path) -> str:
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    return str(info.value)


def test_base_catalog_loads(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, BASE))
    assert list(catalog.tables) == ["accounts", "logins"]
    assert catalog.tables["logins"].parties["holder"].via_party == "holder"
    # 6(1)(b) data the person gave is portable by default; 6(1)(f) data is not (Art. 20(1)(a))
    assert catalog.tables["accounts"].fields["email"].portable is True
    assert catalog.tables["logins"].fields["ip"].portable is False


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "message"),
    [
        pytest.param(
            '    legal_basis: "6(1)(b)"',
            '    legal_basis: "6(1)(g)"',
            '    legal_basis: "6(1)(g)"',
            "purposes.service.legal_basis",
            "unknown legal basis '6(1)(g)'",
            id="unknown-legal-basis",
        ),
        pytest.param(
            "    title: Sign-ins",
            "    title: Sign-ins\n    colour: blue",
            "    colour: blue",
            "tables.logins.colour",
            "unknown key 'colour'",
            id="unknown-key",
        ),
        pytest.param(
            "      nickname: {party: holder, category: contact}",
            "      nickname: {party: holder, category: contact}\n"
            "      email: {party: holder, category: contact}",
            "      email: {party: holder, category: contact}",
            "tables.accounts.fields.email",
            "duplicate key",
            id="duplicate-key",
        ),
        pytest.param(
            "      nickname: {party: holder, category: contact}",
            "      nickname: {party: friend, category: contact}",
            "      nickname: {party: friend, category: contact}",
            "tables.accounts.fields.nickname.party",
            "unknown party 'friend' of table 'accounts'",
            id="unknown-party",
        ),
        pytest.param(
            "      nickname: {party: holder, category: contact}",
            "      nickname: {party: holder, category: hobbies}",
            "      nickname: {party: holder, category: hobbies}",
            "tables.accounts.fields.nickname.category",
            "unknown data category 'hobbies'",
            id="unknown-category",
        ),
        pytest.param(
            "    purpose: security",
            "    purpose: surveillance",
            "    purpose: surveillance",
            "tables.logins.purpose",
            "unknown purpose 'surveillance'",
            id="unknown-purpose",
        ),
        pytest.param(
            "    retention: login_records",
            "    retention: forever",
            "    retention: forever",
            "tables.logins.retention",
            "unknown retention rule 'forever'",
            id="unknown-retention-rule",
        ),
        pytest.param(
            "      nickname: {party: holder, category: contact}",
            "      nickname: {party: holder, category: contact, source: gossip}",
            "      nickname: {party: holder, category: contact, source: gossip}",
            "tables.accounts.fields.nickname.source",
            "unknown source 'gossip'",
            id="unknown-source",
        ),
        pytest.param(
            "        identities: {email: email}",
            "        identities: {fax: email}",
            "        identities: {fax: email}",
            "tables.accounts.parties.holder.identities.fax",
            "unknown identity type 'fax'",
            id="unknown-identity-type",
        ),
        pytest.param(
            "      account: {column: account_id, table: accounts}",
            "      account: {column: account_id, table: customers}",
            "      account: {column: account_id, table: customers}",
            "tables.logins.links.account.table",
            "link to 'customers', which is not catalogued",
            id="broken-link",
        ),
        pytest.param(
            "        via: {link: account, party: holder}",
            "        via: {link: account, party: owner}",
            "        via: {link: account, party: owner}",
            "tables.logins.parties.holder.via.party",
            "table 'accounts' has no party 'owner'",
            id="via-unknown-party",
        ),
        pytest.param(
            "        via: {link: account, party: holder}",
            "        via: {link: account, party: holder}\n        recipients: [ad_network]",
            "        recipients: [ad_network]",
            "tables.logins.parties.holder.recipients.0",
            "unknown recipient 'ad_network'",
            id="unknown-party-recipient",
        ),
        pytest.param(
            "      ip: {party: holder, category: usage, format: ip}",
            "      ip: {party: holder, category: usage, format: ip, portable: true}",
            "      ip: {party: holder, category: usage, format: ip, portable: true}",
            "tables.logins.fields.ip.portable",
            "Art. 20 covers only data processed on consent or contract",
            id="portable-on-legitimate-interest",
        ),
        pytest.param(
            "    action: delete",
            "    action: anonymise",
            "  login_records:",
            "retention.login_records",
            "an 'anonymise' rule must list the fields under 'anonymise'",
            id="anonymise-without-fields",
        ),
        pytest.param(
            "    action: delete",
            "    action: anonymise\n    anonymise: {ip_address: truncate_ip}",
            "    anonymise: {ip_address: truncate_ip}",
            "retention.login_records.anonymise.ip_address",
            "field 'ip_address' is not a catalogued field of table 'logins'",
            id="anonymise-unknown-field",
        ),
        pytest.param(
            "    period: 7 days",
            "    period: 7 dayz",
            "    period: 7 dayz",
            "retention.login_records.period",
            "'7 dayz' is not a period of the form",
            id="period-7-dayz",
        ),
        pytest.param(
            "    anchor: {column: ts}",
            "    anchor: {column: logged_at}",
            "    retention: login_records",
            "tables.logins.retention",
            "anchors on column 'logged_at', which is not a catalogued field of 'logins'",
            id="anchor-not-a-field",
        ),
        pytest.param(
            "        via: {link: account, party: holder}",
            "        pointed_by: [{table: logins, link: nowhere, party: holder}]",
            "        pointed_by: [{table: logins, link: nowhere, party: holder}]",
            "tables.logins.parties.holder.pointed_by.0.link",
            "unknown link 'nowhere' of table 'logins'",
            id="pointed-by-unknown-link",
        ),
        pytest.param(
            "        via: {link: account, party: holder}",
            "        via: [{link: account, party: holder}, {link: account, party: nobody}]",
            "        via: [{link: account, party: holder}, {link: account, party: nobody}]",
            "tables.logins.parties.holder.via.1.party",
            "table 'accounts' has no party 'nobody'",
            id="via-list-unknown-party",
        ),
    ],
)
def test_mistake_is_refused_with_file_line_and_key(
    tmp_path: Path, old: str, new: str, line: str, key: str, message: str
) -> None:
    assert BASE.count(old) == 1
    text = BASE.replace(old, new)
    path = write(tmp_path, text)
    error = refused(path)
    assert f"{path}:{line_of(text, line)}: {key}: " in error
    assert message in error


def test_malformed_yaml_names_the_line_of_the_bad_indentation(tmp_path: Path) -> None:
    text = BASE.replace('    legal_basis: "6(1)(b)"', '   legal_basis: "6(1)(b)"')
    path = write(tmp_path, text)
    error = refused(path)
    assert f"{path}:11: malformed YAML" in error


def test_malformed_yaml_names_the_line_of_a_tab(tmp_path: Path) -> None:
    text = BASE.replace("  usage: Usage data", "\tusage: Usage data")
    path = write(tmp_path, text)
    assert f"{path}:7: malformed YAML" in refused(path)


def test_unclosed_flow_mapping_names_where_it_started(tmp_path: Path) -> None:
    text = BASE.replace(
        "      nickname: {party: holder, category: contact}",
        "      nickname: {party: holder, category: contact\n      alias: {party: holder}",
    )
    path = write(tmp_path, text)
    error = refused(path)
    assert f"{path}:34: malformed YAML" in error
    assert "flow mapping at line 33" in error


def _split(text: str) -> tuple[str, str]:
    """The base catalog as two files: everything but the logins table, and that table."""
    head, logins = text.split("  logins:\n")
    return head, "tables:\n  logins:\n" + logins


def test_folder_of_two_files_is_merged(tmp_path: Path) -> None:
    head, tail = _split(BASE)
    write(tmp_path, head, "10-main.yaml")
    write(tmp_path, tail, "20-logins.yaml")
    catalog = load_catalog(tmp_path)
    assert list(catalog.tables) == ["accounts", "logins"]
    assert [Path(f).name for f in catalog.files] == ["10-main.yaml", "20-logins.yaml"]
    rule = catalog.retention["login_records"]
    assert rule.location is not None and rule.location.file.endswith("10-main.yaml")
    ip = catalog.tables["logins"].fields["ip"]
    assert ip.location is not None
    ip_line = line_of(tail, "      ip: {party: holder, category: usage, format: ip}")
    assert (Path(ip.location.file).name, ip.location.line) == ("20-logins.yaml", ip_line)


def test_key_defined_in_two_files_is_refused_naming_both(tmp_path: Path) -> None:
    head, tail = _split(BASE)
    accounts = "  accounts:\n" + head.split("  accounts:\n")[1]
    first = write(tmp_path, head, "10-main.yaml")
    second = write(tmp_path, tail + accounts, "20-logins.yaml")
    error = refused(tmp_path)
    second_text = second.read_text(encoding="utf-8")
    assert f"{second}:{line_of(second_text, '  accounts:')}: tables.accounts: " in error
    assert "defined in more than one catalog file" in error
    assert f"also at {first}:{line_of(head, '  accounts:')}" in error


def test_setting_given_differently_in_two_files_is_refused(tmp_path: Path) -> None:
    head, tail = _split(BASE)
    write(tmp_path, "timezone: Europe/Berlin\n" + head, "10-main.yaml")
    second = write(tmp_path, "timezone: Europe/Vienna\n" + tail, "20-logins.yaml")
    error = refused(tmp_path)
    assert f"{second}:1: timezone: defined differently" in error


def test_bundled_example_catalog_loads() -> None:
    catalog = load_catalog()
    assert set(catalog.tables) >= {"partner_contacts", "customers", "usage_log", "invoices"}
    customers = catalog.tables["customers"]
    assert set(customers.parties) == {"contact", "creator"}
    assert customers.parties["creator"].via_link == "creator"
    # the example corrects the seed policy: contact persons are not party to the contracts
    assert catalog.purposes["partner_program"].legal_basis == "6(1)(f)"
    assert catalog.purposes["bookkeeping"].legal_obligation
    assert catalog.retention["invoices"].statutory
    assert catalog.retention["partner_relationship"].anchor.link == "partner"
    loc = catalog.tables["usage_log"].location
    assert loc is not None and loc.file.endswith("comparex.yaml") and loc.line > 1


def test_cli_refuses_a_broken_catalog_with_its_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = BASE.replace("    period: 7 days", "    period: 7 dayz")
    path = write(tmp_path, text)
    code = main(
        ["--catalog", str(path), "--database-url", f"sqlite:///{tmp_path}/x.db", "catalog", "check"]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert f"{path}:{line_of(text, '    period: 7 dayz')}: retention.login_records.period" in err


def test_cli_prints_the_published_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema()


def test_a_validated_catalog_is_not_validated_again_in_the_next_process(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    path = write(tmp_path, BASE)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    code = (
        "import sys; from dsr.catalog.loader import load_catalog; "
        f"load_catalog({str(path)!r}); print('jsonschema' in sys.modules)"
    )

    def run() -> str:
        return subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()

    assert run() == "True"  # first load: validated, and remembered
    assert (tmp_path / "cache" / "dsr" / "validated-catalogs").exists()
    assert run() == "False"  # the same contents again: jsonschema not even imported
    write(tmp_path, BASE.replace("Running the shop", "Running the web shop"))
    assert run() == "True"  # other contents are validated again


def test_a_broken_catalog_is_refused_every_time_whatever_the_cache_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "cache" / "dsr").mkdir(parents=True)
    (tmp_path / "cache" / "dsr" / "validated-catalogs").write_bytes(b"\xff\xfe junk\n")
    path = write(tmp_path, BASE.replace('    legal_basis: "6(1)(b)"', '    legal_basis: "6(1)(g)"'))
    for _ in range(2):
        assert "purposes.service.legal_basis" in refused(path)
    assert load_catalog(write(tmp_path, BASE, "good.yaml")).tables  # junk in the cache is ignored
