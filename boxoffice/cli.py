"""`boxoffice` console script: Django's management commands plus our own, with friendlier names."""

from __future__ import annotations

import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.management import execute_from_command_line

from boxoffice.lib.keys import production_keys_lines

# CLI name -> management command name.
ALIASES = {
    "emulate-panel": "emulate_panel",
    "emulate-stripe": "emulate_stripe",
    "emulate-btcpay": "emulate_btcpay",
    "emulate-nowpayments": "emulate_nowpayments",
    "emulate-paypal": "emulate_paypal",
    "import-lines": "import_lines",
    "reassign-lines": "reassign_lines",
    "check": "boxoffice_check",
    "local-inbox": "local_inbox",
    "generate-keys": "generate_keys",
    "dkim-keygen": "dkim_keygen",
}


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if argv[1:] == ["generate-keys"]:
        # Before Django: in production the settings refuse to load without the very keys this
        # prints.
        print("\n".join(production_keys_lines()))
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "boxoffice.settings")
    if len(argv) > 1:
        argv[1] = ALIASES.get(argv[1], argv[1])
    try:
        execute_from_command_line(argv)
    except ImproperlyConfigured as exc:
        # A configuration the operator must fix: the sentence, not a traceback.
        sys.stderr.write(f"boxoffice: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
