"""`goodsflow alerts ...`: the task forces' subscriptions, and alerts at a terminal."""

from __future__ import annotations

import json
import time

import click

from goodsflow.settings import load_settings
from schemas import VIETNAM_TZ, Alert, AlertStatus, Registry, Rule, load_registry
from streams.delivery.subscriptions import SubscriptionStore

RULES = click.Choice([r.value for r in Rule])


def _store() -> SubscriptionStore:
    return SubscriptionStore(load_settings().delivery.subscriptions, load_registry())


@click.group("alerts")
def alerts_group() -> None:
    """Alerts for the localities' task forces: subscriptions and the terminal tail."""


@alerts_group.command("subscribe")
@click.option("--name", required=True, help="the task force, e.g. 'Đội QLTT Lạng Sơn'")
@click.option("--locality", required=True, help="a locality code (goodsflow reference)")
@click.option("--rule", "rules", multiple=True, type=RULES, help="repeat; default every rule")
@click.option("--min-severity", default=0, show_default=True, type=click.IntRange(0, 100))
@click.option("--webhook", "webhook_url", required=True, help="http(s) URL to POST alerts to")
def subscribe(
    name: str, locality: str, rules: tuple[str, ...], min_severity: int, webhook_url: str
) -> None:
    """Subscribe a task force's webhook; prints the secret its receiver verifies with."""
    sub = _store().add(name, locality, webhook_url, list(rules), min_severity)
    which = ", ".join(r.value for r in sub.rules) or "all"
    click.echo(
        f"subscribed {sub.id}: {name}, {locality}, severity >= {min_severity}, "
        f"rules {which} -> {webhook_url}"
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
        click.echo(
            f"{s.id}  {s.locality}  >= {s.min_severity:<3} {rules}  {s.webhook_url}  ({s.name})"
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
        lines.append(f"      - {ev.event_id} {place}{late} {ev.detail}".rstrip())
    return "\n".join(lines)


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
    """Print alerts as they arrive (until Ctrl-C, --count or --timeout)."""
    from streams.readers import TopicTail
    from streams.topics import ALERTS

    registry = load_registry()
    unknown = [c for c in localities if c not in registry.localities]
    if unknown:
        raise click.BadParameter(f"unknown locality {unknown[0]!r}", param_hint="--locality")
    settings = load_settings()
    shown = 0
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with TopicTail(settings.bootstrap_servers, ALERTS, from_beginning=from_beginning) as reader:
        since = "the oldest kept" if from_beginning else "now"
        click.echo(f"reading alerts from {since} (Ctrl-C to stop)", err=True)
        while deadline is None or time.monotonic() < deadline:
            for record in reader.poll(0.5):
                alert = Alert.model_validate_json(record.value)
                if localities and not set(localities) & set(alert.localities):
                    continue
                if rules and alert.rule.value not in rules:
                    continue
                if alert.status == AlertStatus.OPEN and alert.severity < min_severity:
                    continue
                click.echo(render(alert, registry, lang))
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
