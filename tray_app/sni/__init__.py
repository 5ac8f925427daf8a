"""Our own StatusNotifierItem tray backend (KDE, XFCE, LXQt, waybar/sway, GNOME's AppIndicator extension).

The door is :func:`icon_class`: pystray's ``Icon`` surface served on the session bus, so the app uses
it exactly like pystray's own backends. pystray is imported with its inert ``dummy`` backend for its
menu classes, so nothing here loads GTK, PyGObject or an X display.

    icon.py        SniIcon: the pystray Icon on an asyncio loop; registers with the watcher, again
                   whenever the watcher gets a new owner (a panel restart)
    interfaces.py  org.kde.StatusNotifierItem and com.canonical.dbusmenu (dbus-fast)
    menu.py        pystray menu -> dbusmenu tree, and what changed between two (pure)
    pixmaps.py     the icon as ARGB32 pixmaps, 16 to 64 px (pure)
"""

from __future__ import annotations

BACKEND_NAME = "sni"


def icon_class() -> type:
    """The SNI ``Icon`` class (imports dbus-fast; pystray must already be imported)."""
    from tray_app.sni.icon import SniIcon

    return SniIcon
