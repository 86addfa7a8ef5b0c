"""`goodsflow alerts ...`: the task forces' subscriptions, and alerts at a terminal."""

from __future__ import annotations

import getpass
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from goodsflow.settings import load_settings
from graph.cli import WHEN
from schemas import (
    VIETNAM_TZ,
    Alert,
    AlertStatus,
    CaseAction,
    CaseConflict,
    CaseOutcome,
    CaseStep,
    Registry,
    Rule,
    load_registry,
)
from streams.delivery.subscriptions import SubscriptionStore
from streams.readers import Record

RULES = click.Choice([r.value for r in Rule])


def _store() -> SubscriptionStore:
    return SubscriptionStore(load_settings().delivery.subscriptions, load_registry())


@click.group("alerts")
def alerts_group() -> None:
    """Alerts for the localities' task forces: subscriptions, delivery, the terminal tail,
    and the case workflow (ack, transfer, close, show, outcomes)."""


@alerts_group.command("subscribe")
@click.option("--name", required=True, help="the task force, e.g. 'Đội QLTT Lạng Sơn'")
@click.option("--locality", required=True, help="a locality code (goodsflow reference)")
@click.option("--rule", "rules", multiple=True, type=RULES, help="repeat; default every rule")
@click.option("--min-severity", default=0, show_default=True, type=click.IntRange(0, 100))
@click.option("--webhook", "webhook_url", required=True, help="http(s) URL to POST alerts to")
@click.option(
    "--queue-only",
    is_flag=True,
    help="only alerts whose shipment is in the locality's risk queue (needs Neo4j)",
)
def subscribe(
    name: str,
    locality: str,
    rules: tuple[str, ...],
    min_severity: int,
    webhook_url: str,
    queue_only: bool,
) -> None:
    """Subscribe a task force's webhook; prints the secret its receiver verifies with."""
    sub = _store().add(name, locality, webhook_url, list(rules), min_severity, queue_only)
    which = ", ".join(r.value for r in sub.rules) or "all"
    only = ", risk queue only" if queue_only else ""
    click.echo(
        f"subscribed {sub.id}: {name}, {locality}, severity >= {min_severity}, "
        f"rules {which}{only} -> {webhook_url}"
    )
    click.echo(f"signing secret (give it to the receiver; shown once here): {sub.secret}")


@alerts_group.command("unsubscribe")
@click.argument("subscription_id")
def unsubscribe(subscription_id: str) -> None:
    """Remove a subscription."""
    _store().remove(subscription_id)
    click.echo(f"removed {subscription_id}")


@alerts_group.command("subscriptions")
@click.option("--json", "as_json", is_flag=True, help="print JSON (without the secrets)")
def subscriptions(as_json: bool) -> None:
    """List the subscriptions."""
    subs = _store().all()
    if as_json:
        rows = [s.model_dump(mode="json", exclude={"secret"}) for s in subs]
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not subs:
        click.echo("no subscriptions")
    for s in subs:
        rules = ", ".join(r.value for r in s.rules) or "all rules"
        only = " (risk queue only)" if s.queue_only else ""
        click.echo(
            f"{s.id}  {s.locality}  >= {s.min_severity:<3} {rules}{only}  {s.webhook_url}  "
            f"({s.name})"
        )


def render(alert: Alert, registry: Registry, lang: str) -> str:
    """An alert as a person at a terminal reads it (Vietnam time, names in ``lang``)."""
    when = alert.raised_at.astimezone(VIETNAM_TZ).strftime("%d/%m/%Y %H:%M")
    names = [
        registry.locality(c).name if lang == "vi" else registry.locality(c).name_ascii
        for c in alert.localities
    ]
    withdrawn = alert.status == AlertStatus.WITHDRAWN
    status = ("RÚT LẠI" if lang == "vi" else "WITHDRAWN") if withdrawn else ""
    text = alert.explanation_vi if lang == "vi" else alert.explanation_en
    head = f"[{alert.severity:>3}] {when} (UTC+7) {alert.rule.value} {status}".rstrip()
    ids = f"{alert.shipment_id} ({alert.alert_id} r{alert.revision})"
    lines = [f"{head} | {', '.join(names)} | {ids}", f"      {text}"]
    for ev in alert.evidence[:5]:
        cp = registry.checkpoint(ev.checkpoint_id)
        place = cp.name if lang == "vi" else cp.name_ascii
        late = (" (muộn)" if lang == "vi" else " (late)") if ev.late else ""
        detail = (ev.detail_vi or ev.detail) if lang == "vi" else ev.detail
        lines.append(f"      - {ev.event_id} {place}{late} {detail}".rstrip())
    return "\n".join(lines)


def render_handover(step: CaseStep, registry: Registry, lang: str) -> str:
    """A transfer, as the receiving task force reads it at a terminal: who handed what to
    whom, the note, then the alert."""
    assert step.alert is not None
    vi = lang == "vi"
    when = step.at.astimezone(VIETNAM_TZ).strftime("%d/%m/%Y %H:%M")
    to = registry.locality(step.to_locality or "")
    origin = registry.locality(step.from_locality) if step.from_locality else None
    if vi:
        source = origin.name if origin else ", ".join(step.alert.localities)
        head = f"==> {when} (UTC+7) CHUYỂN GIAO {source} -> {to.name}: {step.actor}"
    else:
        source = origin.name_ascii if origin else ", ".join(step.alert.localities)
        head = f"==> {when} (UTC+7) HANDOVER {source} -> {to.name_ascii}: {step.actor}"
    return "\n".join([head, f"    {step.note}", render(step.alert, registry, lang)])


def _readable(
    record: Record, localities: tuple[str, ...], rules: tuple[str, ...], min_severity: int,
    registry: Registry, lang: str, alert_cases: str,
) -> str | None:  # fmt: skip
    """What the tail prints of a record (an alert, or a handover), or None to skip it."""
    if record.topic == alert_cases:
        try:
            step = CaseStep.model_validate_json(record.value)
        except ValueError:
            return None  # unreadable: the worker dead-letters it
        if step.alert is None or (localities and step.to_locality not in localities):
            return None
        if rules and step.alert.rule.value not in rules:
            return None
        return render_handover(step, registry, lang)
    try:
        alert = Alert.model_validate_json(record.value)
    except ValueError:
        return None  # not an alert: the delivery process dead-letters it
    if localities and not set(localities) & set(alert.localities):
        return None
    if rules and alert.rule.value not in rules:
        return None
    if alert.status == AlertStatus.OPEN and alert.severity < min_severity:
        return None
    return render(alert, registry, lang)


@alerts_group.command("tail")
@click.option("--locality", "localities", multiple=True, help="repeat; default every locality")
@click.option("--rule", "rules", multiple=True, type=RULES, help="repeat; default every rule")
@click.option("--min-severity", default=0, show_default=True, type=click.IntRange(0, 100))
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
@click.option("--from-beginning", is_flag=True, help="from the oldest alert kept, not from now")
@click.option("--count", type=click.IntRange(1), help="stop after this many alerts")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0), help="stop after this long (s)")
def tail(
    localities: tuple[str, ...], rules: tuple[str, ...], min_severity: int, lang: str,
    from_beginning: bool, count: int | None, timeout_s: float | None,
) -> None:  # fmt: skip
    """Print alerts as they arrive, and alerts handed over to --locality (until Ctrl-C,
    --count or --timeout)."""
    from streams.readers import TopicTail

    registry = load_registry()
    unknown = [c for c in localities if c not in registry.localities]
    if unknown:
        raise click.BadParameter(f"unknown locality {unknown[0]!r}", param_hint="--locality")
    settings = load_settings()
    shown = 0
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    topics = settings.topics
    names = [topics.alerts, topics.alert_cases]
    with TopicTail(settings.bootstrap_servers, names, from_beginning=from_beginning) as reader:
        since = "the oldest kept" if from_beginning else "now"
        click.echo(f"reading alerts and handovers from {since} (Ctrl-C to stop)", err=True)
        while deadline is None or time.monotonic() < deadline:
            for record in reader.poll(0.5):
                text = _readable(
                    record, localities, rules, min_severity, registry, lang, topics.alert_cases
                )
                if text is None:
                    continue
                click.echo(text)
                shown += 1
                if count is not None and shown >= count:
                    return


@alerts_group.command("deliver")
def deliver() -> None:
    """POST alerts to the subscribed webhooks, signed (until Ctrl-C or SIGTERM)."""
    import logging

    from streams.delivery.process import main

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    main(load_settings())


# -- the case workflow ------------------------------------------------------------------------
STATUS_VI = {
    "new": "mới",
    "acknowledged": "đã tiếp nhận",
    "transferred": "đã chuyển giao",
    "closed": "đã đóng",
}
OUTCOME_VI = {"confirmed": "xác nhận vi phạm", "false_alarm": "báo động giả"}
ACTION_VI = {"acknowledge": "tiếp nhận", "transfer": "chuyển giao", "close": "đóng"}


def _act(alert_id: str, action: CaseAction, as_json: bool, **fields: Any) -> None:
    from graph.cases import CaseDesk, kafka_publisher
    from graph.cli import open_queries

    settings = load_settings()
    via = f"cli:{getpass.getuser()}"
    with open_queries() as queries:
        desk = CaseDesk(
            queries,
            kafka_publisher(settings.bootstrap_servers, settings.topics.alert_cases),
            load_registry(),
        )
        try:
            receipt = desk.act(alert_id, action, via=via, **fields)
        except CaseConflict as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(receipt.model_dump_json(indent=2))
        return
    step = receipt.step
    click.echo(f"{action.value} {alert_id}: recorded as {step.step_id}")
    if receipt.alert is None:
        click.echo("not in the graph yet (is the worker running?); it will show once it is")
    else:
        where = f", with {receipt.alert.assigned_to}" if receipt.alert.assigned_to else ""
        click.echo(f"case: {receipt.alert.case_status}{where}")


BY = click.option("--by", "actor", required=True, help="who acts: the person, as recorded")
NOTE = click.option("--note", default="", help="a note kept with the step")
JSON_OUT = click.option("--json", "as_json", is_flag=True, help="print JSON")


@alerts_group.command("ack")
@click.argument("alert_id")
@BY
@NOTE
@JSON_OUT
def acknowledge(alert_id: str, actor: str, note: str, as_json: bool) -> None:
    """Acknowledge an alert: your task force has it in hand."""
    _act(alert_id, CaseAction.ACKNOWLEDGE, as_json, actor=actor, note=note)


@alerts_group.command("transfer")
@click.argument("alert_id")
@click.option("--to", "to_locality", required=True, help="the receiving locality's code")
@click.option("--note", required=True, help="what the receiving task force should know")
@BY
@JSON_OUT
def transfer(alert_id: str, to_locality: str, note: str, actor: str, as_json: bool) -> None:
    """Hand an alert to another locality's task force, with a note."""
    fields = {"actor": actor, "note": note, "to_locality": to_locality}
    _act(alert_id, CaseAction.TRANSFER, as_json, **fields)


@alerts_group.command("close")
@click.argument("alert_id")
@click.option(
    "--outcome", required=True, type=click.Choice([o.value for o in CaseOutcome]),
    help="confirmed: the suspicion held; false_alarm: it did not",
)  # fmt: skip
@BY
@NOTE
@JSON_OUT
def close(alert_id: str, outcome: str, actor: str, note: str, as_json: bool) -> None:
    """Close an alert's case with its outcome."""
    fields = {"actor": actor, "note": note, "outcome": CaseOutcome(outcome)}
    _act(alert_id, CaseAction.CLOSE, as_json, **fields)


@alerts_group.command("show")
@click.argument("alert_id")
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
@JSON_OUT
def show(alert_id: str, lang: str, as_json: bool) -> None:
    """One alert from the graph: its explanation, evidence and case history."""
    from graph.cli import open_queries

    with open_queries() as queries:
        alert = queries.alert(alert_id)
    if as_json:
        click.echo(alert.model_dump_json(indent=2))
        return
    vi = lang == "vi"

    def when(t: datetime) -> str:
        return t.astimezone(VIETNAM_TZ).strftime("%d/%m/%Y %H:%M")

    click.echo(
        f"[{alert.severity:>3}] {alert.rule} {alert.alert_id} r{alert.revision} | "
        f"{alert.shipment_id} | {', '.join(alert.localities)} | {when(alert.raised_at)} (UTC+7)"
    )
    click.echo(f"      {alert.explanation_vi if vi else alert.explanation_en}")
    registry = load_registry()
    for fact in alert.evidence:
        cp = registry.checkpoint(fact.checkpoint_id)
        place = cp.name if vi else cp.name_ascii
        other = f" [{fact.shipment_id}]" if fact.shipment_id != alert.shipment_id else ""
        detail = (fact.detail_vi or fact.detail) if vi else fact.detail
        click.echo(f"      - {when(fact.occurred_at)} {place}{other} {detail}".rstrip())
    status = STATUS_VI[alert.case_status] if vi else alert.case_status
    outcome = alert.case_outcome or ""
    outcome = OUTCOME_VI.get(outcome, outcome) if vi else outcome
    with_whom = f" -> {alert.assigned_to}" if alert.assigned_to else ""
    label = "Hồ sơ" if vi else "Case"
    click.echo(f"{label}: {status}{with_whom} {outcome}".rstrip())
    for s in alert.case_steps:
        action = ACTION_VI[s.action] if vi else s.action
        extra = f" -> {s.to_locality}" if s.to_locality else ""
        if s.outcome:
            extra += f" ({OUTCOME_VI[s.outcome] if vi else s.outcome})"
        click.echo(f"  {when(s.at)}  {action}{extra}  {s.actor} [{s.via}]")
        if s.note:
            click.echo(f"      {s.note}")


@alerts_group.command("outcomes")
@click.option("--since", type=WHEN, help="closed at or after (ISO; Vietnam time without offset)")
@click.option("--until", type=WHEN, help="closed before")
@click.option("--locality", help="only alerts involving it or transferred to it")
@JSON_OUT
def outcomes(
    since: datetime | None, until: datetime | None, locality: str | None, as_json: bool
) -> None:
    """Per rule: alerts closed as confirmed and as false alarms, and the precision."""
    from graph.cli import open_queries

    with open_queries() as queries:
        rows = queries.outcomes(since=since, until=until, locality=locality)
    if as_json:
        click.echo(json.dumps([r.model_dump() for r in rows], indent=2))
        return
    click.echo(f"{'rule':<30} {'confirmed':>9} {'false alarm':>11} {'precision':>9}")
    for r in rows:
        precision = "-" if r.precision is None else f"{r.precision:.3f}"
        click.echo(f"{r.rule:<30} {r.confirmed:>9} {r.false_alarm:>11} {precision:>9}")


@alerts_group.command("queue")
@click.option("--locality", required=True, help="a locality code, e.g. LS")
@click.option(
    "--day", type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD, Vietnam time; default today"
)
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="detection thresholds (TOML) with the [queue] section; default "
    "GOODSFLOW_DETECTION__CONFIG, or the shipped",
)
@JSON_OUT
def queue(
    locality: str, day: datetime | None, lang: str, config: Path | None, as_json: bool
) -> None:
    """A locality's risk queue for a day: the shipments to work, riskiest first, then the
    day's random sample of shipments with no alert."""
    from graph.cli import open_queries
    from graph.risk_queue import day_queue
    from streams.config import load_detection_config

    registry = load_registry()
    if locality not in registry.localities:
        known = ", ".join(sorted(registry.localities))
        raise click.BadParameter(
            f"unknown locality {locality!r}; one of {known}", param_hint="--locality"
        )
    when = day.date() if day else datetime.now(VIETNAM_TZ).date()
    cfg = load_detection_config(config or load_settings().detection.config).queue
    with open_queries() as queries:
        entries = day_queue(queries, locality, when, cfg).entries()
    if as_json:
        click.echo(
            json.dumps([e.model_dump(mode="json") for e in entries], ensure_ascii=False, indent=2)
        )
        return
    vi = lang == "vi"
    place = registry.locality(locality)
    name = place.name if vi else place.name_ascii
    flagged = sum(not e.sampled for e in entries)
    sampled = len(entries) - flagged
    if vi:
        click.echo(
            f"Hàng đợi rủi ro {name} ngày {when:%d/%m/%Y}: {flagged} lô có cảnh báo "
            f"(tối đa {cfg.capacity_per_day}), {sampled} lô chọn ngẫu nhiên"
        )
    else:
        click.echo(
            f"Risk queue of {name} on {when:%d/%m/%Y}: {flagged} shipments with alerts "
            f"(at most {cfg.capacity_per_day}), {sampled} sampled at random"
        )
    for e in entries:
        if e.sampled:
            label = "chọn ngẫu nhiên, không có cảnh báo" if vi else "random sample, no alert"
            click.echo(f"{e.rank:>3}. {e.shipment_id}  {label}")
            continue
        click.echo(f"{e.rank:>3}. {e.shipment_id}  {e.risk:.2f}  {', '.join(e.rules)}")
        for a in e.alerts:
            text = a.explanation_vi if vi else a.explanation_en
            click.echo(f"       [{a.severity:>3}] {a.alert_id} {text}")
