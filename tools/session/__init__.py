"""Recorded voice sessions, format v1 (../shared/session-format.md): reader, writer, redaction."""

from tools.session.format import (  # noqa: F401
    FORMAT,
    REDACTED,
    VERSION,
    Session,
    SessionError,
    read_session,
    redact_text,
    redact_value,
    write_session,
)
