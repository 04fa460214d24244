"""The sending-server form: its fields (the type's own come from the registry) and their parsing.

An input is named by the key the services use for it ("port",
"warmup.start_daily", "bounce_handler.host"), so a FieldError from a service
lands next to the input it names with no mapping in between. Parsing only
turns text into numbers, booleans and None; the services judge the values.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic.fields import FieldInfo

from sendpool.services.servers.fields import (
    COMMON_BY_NAME,
    MAILBOX,
    MAILBOX_SECRET,
    STATUS_ALIAS,
    WARMUP,
    FieldDef,
    bare,
    status_of,
)
from sendpool.services.servers.mailboxes import HANDLERS, MailboxHandler
from sendpool.transports.registry import server_type
from sendpool.web.views.servers import ServerPage

Kind = Literal["text", "email", "number", "decimal", "select", "checkbox", "password", "date"]

LABELS = {
    "host": "Host",
    "port": "Port",
    "encryption": "Encryption",
    "username": "User",
    "password": "Password",
    "verify_tls": "Verify TLS certificate",
    "ca_file": "CA file",
    "helo_name": "HELO name",
    "region": "Region",
    "endpoint_url": "Endpoint URL",
    "access_key_id": "Access key ID",
    "secret_access_key": "Secret access key",
    "api_key": "API key",
    "server_token": "Server token",
    "base_url": "Base URL",
    "message_stream": "Message stream",
    "configuration_set": "Configuration set",
}


@dataclass(frozen=True, slots=True)
class FormField:
    name: str  # the input's name and the service's key for it
    label: str
    kind: Kind
    required: bool = False
    options: tuple[str, ...] = ()
    help: str = ""

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("_", "-")

    @property
    def secret(self) -> bool:
        return self.kind == "password"


@dataclass(slots=True)
class ParsedForm:
    values: dict[str, Any] = field(default_factory=dict)  # by input name, for the services
    raw: dict[str, str] = field(default_factory=dict)  # as typed, to show again (no secrets)
    errors: dict[str, str] = field(default_factory=dict)


def _kind_of(annotation: Any) -> tuple[Kind, tuple[str, ...], bool]:
    """(kind, options, optional) for a pydantic field's annotation."""
    optional = False
    annotation = bare(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else str
    if typing.get_origin(annotation) is Literal:
        return "select", tuple(str(a) for a in typing.get_args(annotation)), optional
    if annotation is bool:
        return "checkbox", (), optional
    if annotation is int:
        return "number", (), optional
    if annotation is float:
        return "decimal", (), optional
    return "text", (), optional


def _label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


def connection_fields(type_name: str) -> list[FormField]:
    """The type's settings then its secrets, in the order the type declares them."""
    st = server_type(type_name)
    out = []
    info: FieldInfo
    for name, info in st.settings_model.model_fields.items():
        kind, options, _ = _kind_of(info.annotation)
        out.append(FormField(name, _label(name), kind, info.is_required(), options))
    out += [FormField(name, _label(name), "password") for name in st.secret_fields]
    return out


def _from_def(d: FieldDef, name: str = "", *, required: bool | None = None) -> FormField:
    """An input for one field of the definition: its kind from the type, its help from the words."""
    kind, options, _ = _kind_of(d.type)
    if d.name.endswith("_email"):
        kind = "email"
    needed = not d.nullable if required is None else required
    return FormField(name or d.name, d.label, kind, needed, options, d.description)


# The common keys the configuration section shows, in the order an operator reads them;
# the status is the pool file's checkbox spelling of it. Plans are attached apart.
_CONFIG = (
    "name",
    "default_from_email",
    "bounce_domain",
    "sending_limit",
    "hourly_limit",
    "rate_per_second",
    "rebalance_ceiling",
    "max_connections",
    "max_messages_per_connection",
    "timezone",
)
CONFIG_FIELDS = [
    *(_from_def(COMMON_BY_NAME[n]) for n in _CONFIG),
    FormField(STATUS_ALIAS, "Enabled", "checkbox", help=COMMON_BY_NAME["status"].description),
]
# Blank warm-up inputs are the services' to judge: required only while warming.
WARMUP_FIELDS = [
    FormField("warmup.on", "Warm up this server", "checkbox"),
    *(_from_def(d, f"warmup.{d.name}", required=False) for d in WARMUP),
]


def handler_fields(handler: str) -> list[FormField]:
    fields = [_from_def(d, f"{handler}.{d.name}", required=False) for d in MAILBOX]
    # The password sits with the credentials, after the user name.
    at = [d.name for d in MAILBOX].index("username") + 1
    fields.insert(at, FormField(f"{handler}.{MAILBOX_SECRET}", "Password", "password"))
    return fields


def _convert(f: FormField, text: str) -> tuple[Any, str | None]:
    """(value, error) for one input's text; blank is None."""
    if f.kind == "password":
        return (text or None), None
    text = text.strip()
    if not text:
        return None, ("required" if f.required else None)
    if f.kind == "number":
        try:
            return int(text), None
        except ValueError:
            return None, "must be a whole number"
    if f.kind == "decimal":
        try:
            return float(text), None
        except ValueError:
            return None, "must be a number"
    return text, None


def parse(form: Mapping[str, Any], fields: list[FormField]) -> ParsedForm:
    out = ParsedForm()
    for f in fields:
        text = form.get(f.name)
        text = text if isinstance(text, str) else ""
        if f.kind == "checkbox":
            out.values[f.name] = bool(text)
            out.raw[f.name] = "on" if text else ""
            continue
        if not f.secret:
            out.raw[f.name] = text
        value, error = _convert(f, text)
        if error:
            out.errors[f.name] = error
        elif f.secret:
            if value is not None:
                out.values[f.name] = value
            elif form.get("clear:" + f.name):
                out.values[f.name] = None
        else:
            out.values[f.name] = value
    return out


_HANDLER_DEFAULTS = MailboxHandler().model_dump()


@dataclass(slots=True)
class ServerForm:
    """A parsed server form, split the way the services take it."""

    fields: dict[str, Any]
    handlers: dict[str, dict[str, Any]]
    raw: dict[str, str]
    errors: dict[str, str]


def parse_server(form: Mapping[str, Any], type_name: str, *, creating: bool) -> ServerForm:
    conn = connection_fields(type_name)
    handlers = [f for h in HANDLERS for f in handler_fields(h)]
    p = parse(form, [*conn, *CONFIG_FIELDS, *WARMUP_FIELDS, *handlers])
    v = p.values
    fields: dict[str, Any] = {"type": type_name} if creating else {}
    for f in conn:
        if f.name in v and not (creating and v[f.name] is None):
            fields[f.name] = v[f.name]
    for f in CONFIG_FIELDS[:-1]:
        if v.get(f.name) is not None or not (creating or f.required):
            fields[f.name] = v.get(f.name)
    fields["status"] = status_of(v[STATUS_ALIAS])
    if v["warmup.on"]:
        keys = [f.name for f in WARMUP_FIELDS[1:]]
        fields["warmup"] = {k.split(".")[1]: v[k] for k in keys if v.get(k) is not None}
    elif not creating:
        fields["warmup"] = None
    out: dict[str, dict[str, Any]] = {}
    for h in HANDLERS:
        given = {k.split(".")[1]: val for k, val in v.items() if k.startswith(h + ".")}
        # Blank keeps what is stored where a key cannot be empty (protocol, mailbox ...).
        out[h] = {
            k: val
            for k, val in given.items()
            if val is not None or k == "password" or _HANDLER_DEFAULTS.get(k) is None
        }
    return ServerForm(fields, out, p.raw, p.errors)


def server_values(page: ServerPage) -> dict[str, str]:
    """What the form shows for a stored server (secrets never: only whether they are set)."""
    d = page.detail

    def text(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "on" if value else ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    values = {k: text(v) for k, v in d.settings.items()}
    for f in CONFIG_FIELDS[:-1]:
        values[f.name] = text(getattr(d, f.name))
    values[STATUS_ALIAS] = text(d.status != status_of(False))  # paused is still enabled
    values["warmup.on"] = text(bool(d.warmup))
    for k, val in (d.warmup or {}).items():
        values[f"warmup.{k}"] = text(val)
    for h, view in page.handlers.items():
        for k, val in view.settings.items():
            values[f"{h}.{k}"] = text(val)
    return values


def new_server_values(type_name: str) -> dict[str, str]:
    """Defaults for a server not made yet: the type's own, an active server, UTC windows."""
    st = server_type(type_name)
    values: dict[str, str] = {}
    for name, info in st.settings_model.model_fields.items():
        if info.is_required():
            continue  # no default: the input starts blank (never pydantic's "undefined" marker)
        default = info.get_default(call_default_factory=True)
        if isinstance(default, bool):
            values[name] = "on" if default else ""
        elif default is not None:
            values[name] = str(default)
    for f in CONFIG_FIELDS[:-1]:
        default = COMMON_BY_NAME[f.name].default
        if isinstance(default, int | float | str) and not isinstance(default, bool):
            values[f.name] = str(default)
    values[STATUS_ALIAS] = "on" if COMMON_BY_NAME["status"].default == status_of(True) else ""
    for h in HANDLERS:
        defaults = _HANDLER_DEFAULTS.items()
        values.update({f"{h}.{k}": str(v) for k, v in defaults if v is not None})
        values[f"{h}.enabled"] = ""
    return values
