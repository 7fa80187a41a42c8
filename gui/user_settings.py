"""Where LayerLoom keeps the user's settings: one :class:`QSettings` for the whole app.

The application object, the main window (recent files, window state) and autosave
(the recovery folder lies beside the settings file) all read these names.
"""

from __future__ import annotations

ORGANISATION = "LayerLoom"
APPLICATION = "LayerLoom"


def user_settings():
    """The user's :class:`QSettings` (organisation and application "LayerLoom").

    Built with explicit names so that it does not depend on the application
    object's names; tests redirect it with ``QSettings.setPath`` and
    ``QSettings.setDefaultFormat``.
    """
    from PySide6.QtCore import QSettings

    return QSettings(QSettings.defaultFormat(), QSettings.Scope.UserScope, ORGANISATION, APPLICATION)
