"""``dsr suppression check|lift``: erased people whom importers must not re-create."""

from __future__ import annotations

import click

from dsr.cli._common import AppContext, emit, identities_argument, json_option, pass_app

#: as "done, but something was withheld": here, the person must not be re-created
EXIT_SUPPRESSED = 3


@click.group("suppression", short_help="Erased people importers must not re-create.")
def suppression_group() -> None:
    """Every erasure records the person's identities (keyed pseudonyms, no values) so that
    importers, CRM syncs and sign-up flows can refuse to re-create them."""


@suppression_group.command("check", short_help="Whether identities belong to an erased person.")
@identities_argument
@json_option
@pass_app
def suppression_check(app: AppContext, identities: tuple[str, ...], as_json: bool) -> int:
    """Exit 0 if none of IDENTITY... is suppressed; 3 if one is (do not re-create the person),
    listing which. In front of an import: dsr suppression check EMAIL || skip."""
    found = app.toolkit().suppressed(identities)
    data = {"suppressed": [i.spec for i in found], "checked": len(identities)}

    def text(d: dict[str, object]) -> str:
        names = d["suppressed"]
        if not names:
            return "not suppressed"
        assert isinstance(names, list)
        return "suppressed (erased; do not re-create): " + ", ".join(str(n) for n in names)

    emit(data, as_json, text)
    return EXIT_SUPPRESSED if found else 0


@suppression_group.command("lift", short_help="The person came back by their own choice.")
@identities_argument
@click.option("--reason", required=True, help="How that is known (no personal data).")
@json_option
@pass_app
def suppression_lift(
    app: AppContext, identities: tuple[str, ...], reason: str, as_json: bool
) -> None:
    """Lift the suppression of IDENTITY... when the person signs up again of their own accord
    (audited with the reason)."""
    done = app.toolkit().ledger.lift_suppression(identities, reason)
    emit({"lifted": done}, as_json, lambda d: f"{d['lifted']} suppression(s) lifted")
