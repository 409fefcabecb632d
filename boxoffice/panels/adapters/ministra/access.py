"""How a customer reaches a Ministra / Stalker account: the portal URL, and the box's MAC.

A MAG or Formuler box registered by its MAC signs in with the MAC alone: the customer types
the portal URL and nothing else (the account's login and password are asked for only where the
portal runs in login mode). An account without a MAC (an app, a Smart TV portal client) signs
in with the login and password.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from boxoffice.panels.adapters.base import (
    AccessItem,
    AccessSection,
    LineAccess,
    LineFacts,
    PanelConfig,
)

DEFAULT_PORTAL_PATH = "/stalker_portal/c/"

MAG_STEPS = (
    _(
        'MAG box: Settings > Servers > Portals, set "Portal 1 URL" to the portal URL above, save '
        "and restart the box. It signs in with its MAC address: there is no username or password "
        "to type."
    ),
    _(
        'Formuler (MyTVOnline): Edit service > enter a name and the portal URL above as "Portal '
        'URL", then connect. The box must be the one with the MAC address above.'
    ),
)
LOGIN_STEPS = (
    _(
        "In a Stalker/Ministra portal player (Smart STB, STB Emulator), enter the portal URL "
        "above, then the login and password when the portal asks for them."
    ),
)
MAG_HINT = _(
    "On your box, enter the portal URL under Settings → Servers → Portals; the box signs in "
    "with its MAC address, no username or password needed."
)
LOGIN_HINT = _("Enter the portal URL in your portal player, then your login and password.")


def portal_url(config: PanelConfig) -> str:
    path = "/" + (config.settings.get("portal_path") or DEFAULT_PORTAL_PATH).strip("/") + "/"
    return f"{config.public_url.rstrip('/')}{path}"


def ministra_line_access(config: PanelConfig, facts: LineFacts) -> LineAccess:
    portal = portal_url(config)
    if facts.mac:
        section = AccessSection(
            title=_("MAG / Formuler box"),
            intro=_(
                "Your box signs in with its MAC address: enter this portal address on the "
                "box, nothing else."
            ),
            items=(
                AccessItem("mag_portal_url", _("Portal URL"), portal),
                AccessItem("mac_address", _("MAC address"), facts.mac),
            ),
        )
        # The box signs in by its MAC: no login to type (the account has one all the same).
        return LineAccess(sections=(section,), steps=MAG_STEPS, hint=MAG_HINT, asks_login=False)
    section = AccessSection(
        title=_("Ministra portal"),
        intro=_("Enter the portal address in your portal player; it asks for your login."),
        items=(
            AccessItem("portal_url", _("Portal URL"), portal),
            AccessItem("username", _("Login"), facts.username),
            AccessItem("password", _("Password"), facts.password, secret=True),
        ),
    )
    return LineAccess(
        sections=(section,),
        steps=LOGIN_STEPS,
        hint=LOGIN_HINT,
        extras=(AccessItem("mag_portal_url", _("Portal URL"), portal),),
    )
