"""How ``sendpool simulate`` shows its reports: split, sticky map and waits, per policy."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta

from rich.markup import escape
from rich.table import Table

from sendpool.cli.common import console
from sendpool.core.servers import SendClass
from sendpool.services.operations.simulation import DomainLine, SimulationReport

BAR = 20
CLASS = {SendClass.LOW_VOLUME: "low-volume", SendClass.BURST: "burst"}


def as_json(reports: list[SimulationReport], forecast: str | None = None) -> str:
    """One object: what every policy shares, then each policy's split, map and waits."""

    def default(o: object) -> str:
        if isinstance(o, datetime):
            return o.isoformat()
        if isinstance(o, SendClass):
            return o.value
        raise TypeError(f"{type(o).__name__} is not JSON")

    first = reports[0]
    data = {
        "plan": first.plan,
        "messages": first.messages,
        "send_class": first.send_class,
        "chosen_by": first.chosen_by,
        "workers": first.workers,
        "batch_size": first.batch_size,
        "at": first.at,
        "mix": first.mix,
        "forecast": forecast,
        "policies": [
            {
                "policy": r.policy,
                "ready": r.ready,
                "waiting": r.waiting,
                "split": [dataclasses.asdict(s) for s in r.split],
                "sticky_map": [
                    {
                        "domain": d.domain,
                        "messages": d.messages,
                        "servers": [{"server": s, "messages": n} for s, n in d.servers],
                    }
                    for d in r.domains
                ],
                "skips": [dataclasses.asdict(k) for k in r.skips],
                "waits": [dataclasses.asdict(w) for w in r.waits],
            }
            for r in reports
        ],
    }
    return json.dumps(data, default=default, indent=2)


def render(reports: list[SimulationReport], top: int) -> None:
    r = reports[0]
    policies = ", ".join(x.policy for x in reports)
    console.print(
        f"[bold]plan {escape(r.plan)}[/]: {r.messages:,} {CLASS[r.send_class]} message(s) "
        f"({r.chosen_by}) to {len(r.domains):,} domain(s) from {escape(r.mix)}; "
        f"policy {escape(policies)}",
        soft_wrap=True,
    )
    if len(reports) == 1:
        _split(r)
    else:
        _side_by_side(reports)
    for x in reports:
        if len(reports) > 1:
            console.print(f"\n[bold]── {escape(x.policy)} ──[/]")
        _sticky_map(x, top)
        _skips_and_waits(x)


def _split(r: SimulationReport) -> None:
    table = Table()
    table.add_column("server")
    table.add_column("messages", justify="right")
    table.add_column("share", justify="right")
    table.add_column("", no_wrap=True)
    for s in r.split:
        table.add_row(escape(s.server), f"{s.messages:,}", f"{100 * s.share:.1f} %", _bar(s.share))
    console.print(table)
    _totals(r)


def _side_by_side(reports: list[SimulationReport]) -> None:
    table = Table(title="messages per server, by policy")
    table.add_column("server")
    servers = sorted({s.server for r in reports for s in r.split})
    by = {(r.policy, s.server): s for r in reports for s in r.split}
    for r in reports:
        table.add_column(escape(r.policy), justify="right")
    for name in servers:
        cells = []
        for r in reports:
            s = by.get((r.policy, name))
            cells.append(f"{s.messages:,} ({100 * s.share:.1f} %)" if s else "0")
        table.add_row(escape(name), *cells)
    table.add_row("[dim]would wait[/]", *(f"{r.waiting:,}" for r in reports))
    console.print(table)
    console.print(
        f"{reports[0].workers} worker(s), batches of {reports[0].batch_size:,}, "
        "each policy from the same usage; nothing was sent or written",
        soft_wrap=True,
    )


def _totals(r: SimulationReport) -> None:
    console.print(
        f"{r.ready:,} would be sent now, {r.waiting:,} would wait "
        f"({r.workers} worker(s), batches of {r.batch_size:,}); nothing was sent or written",
        soft_wrap=True,
    )


def _servers(d: DomainLine) -> str:
    if not d.servers:
        return "[dim](all wait)[/]"
    if len(d.servers) == 1 and d.servers[0][1] == d.messages:
        return escape(d.servers[0][0])
    return ", ".join(f"{escape(s)} {100 * n / d.messages:.0f} %" for s, n in d.servers)


def _sticky_map(r: SimulationReport, top: int) -> None:
    if not r.domains or top == 0:
        return
    shown = r.domains[:top]
    title = f"domains → servers (top {len(shown)} of {len(r.domains):,})"
    table = Table(title=title)
    # Server(s) before the count, so the rows never read as a split row.
    table.add_column("domain")
    table.add_column("server(s)")
    table.add_column("messages", justify="right")
    for d in shown:
        table.add_row(escape(d.domain), _servers(d), f"{d.messages:,}")
    console.print(table)
    one = sum(1 for d in r.domains if len(d.servers) == 1)
    console.print(
        f"{one:,} of {len(r.domains):,} domain(s) went to a single server", soft_wrap=True
    )


def _skips_and_waits(r: SimulationReport) -> None:
    if r.skips:
        console.print("\n[bold]Servers left out[/] (messages: reason)")
    for k in r.skips:
        console.print(
            f"  {escape(k.server)}: {k.messages:,} message(s): {escape(k.reason)}",
            soft_wrap=True,
            highlight=False,
        )
    if r.waits:
        console.print(
            "\n[bold]Messages that would wait[/] (until the earliest time a server may take them)"
        )
    for w in r.waits:
        when = f"until {w.until:%Y-%m-%d %H:%M:%S} UTC"
        if w.last is not None and w.last - w.until >= timedelta(seconds=1):
            when = f"from {w.until:%Y-%m-%d %H:%M:%S} to {w.last:%H:%M:%S} UTC, at its pace"
        console.print(
            f"  {w.messages:,} {when}: {escape(w.reason)}",
            soft_wrap=True,
            highlight=False,
        )


def _bar(share: float) -> str:
    full = round(BAR * share)
    return "█" * full + "·" * (BAR - full)
